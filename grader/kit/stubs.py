"""Generate the learner's stubs in ``exercises/`` from the reference in ``solutions/``.

``solutions/`` is the one source of truth. Each solution region is marked the way nbgrader marks
them, with a ``# TODO:`` line right above it that says what to implement::

        # TODO: subtract each slice's maximum before exp.
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

In the stub the region becomes ``raise NotImplementedError("softmax() is not implemented yet —
TODO: subtract ...")`` at the region's indentation; the TODO line, signatures, docstrings and imports
stay. Only the exercise modules (and ``__init__.py``) are generated: the visible tests and their
``conftest.py`` live in ``exercises/`` alone.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.exits import EXIT_FAILED_CHECK, EXIT_OK, EXIT_USAGE

BEGIN_MARK = "### BEGIN SOLUTION"
END_MARK = "### END SOLUTION"
TODO_PREFIX = "# TODO:"
NOT_IMPLEMENTED = "is not implemented yet"
FORMATTER_LINE_LENGTH = 110  # [tool.ruff] line-length in pyproject.toml


class StubError(ValueError):
    """A solution file whose regions cannot be turned into a stub; the message names file and line."""


@dataclass(frozen=True)
class SolutionRegion:
    """One ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region (1-based, inclusive line numbers)."""

    begin: int
    end: int
    indent: str
    function: str
    todo: str


def find_regions(source: str, filename: str) -> list[SolutionRegion]:
    """Every solution region of ``source``, checked for balance, a TODO line and an enclosing function."""
    lines = source.splitlines()
    functions = _enclosing_functions(source, filename)
    regions: list[SolutionRegion] = []
    begin: int | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == BEGIN_MARK:
            if begin is not None:
                raise StubError(
                    f"{filename} line {number}: {BEGIN_MARK} inside the region opened at line {begin}"
                )
            begin = number
        elif stripped == END_MARK:
            if begin is None:
                raise StubError(f"{filename} line {number}: {END_MARK} without a {BEGIN_MARK} above it")
            regions.append(_region(lines, begin, number, functions, filename))
            begin = None
        elif "BEGIN SOLUTION" in stripped or "END SOLUTION" in stripped:
            raise StubError(f"{filename} line {number}: a solution marker must stand alone on its line")
    if begin is not None:
        raise StubError(f"{filename} line {begin}: {BEGIN_MARK} is never closed by {END_MARK}")
    return regions


def make_stub(source: str, filename: str) -> str:
    """The learner's version of one solution file: every region replaced by a ``raise``."""
    lines = source.splitlines(keepends=True)
    for region in reversed(find_regions(source, filename)):
        message = f"{region.function}() {NOT_IMPLEMENTED} — TODO: {region.todo}"
        lines[region.begin - 1 : region.end] = _raise_lines(region.indent, message)
    return "".join(lines)


def generate(solutions: Path) -> dict[str, str]:
    """The stub text for every ``*.py`` of ``solutions`` (keyed by file name); writes nothing."""
    sources = sorted(path for path in solutions.glob("*.py") if path.is_file())
    if not sources:
        raise StubError(f"{solutions} holds no .py files: expected the reference solution modules")
    return {path.name: make_stub(path.read_text(encoding="utf-8"), str(path)) for path in sources}


def stale_files(solutions: Path, exercises: Path) -> list[str]:
    """Names of the stubs in ``exercises`` that are missing or differ from what ``solutions`` gives."""
    stale = []
    for name, text in generate(solutions).items():
        target = exercises / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_stubs(solutions: Path, exercises: Path) -> list[str]:
    """Regenerate the stubs in ``exercises``; returns the names of the files that changed."""
    changed = stale_files(solutions, exercises)
    exercises.mkdir(parents=True, exist_ok=True)
    for name, text in generate(solutions).items():
        if name in changed:
            (exercises / name).write_text(text, encoding="utf-8")
    return changed


def _region(lines: list[str], begin: int, end: int, functions: list[tuple[int, int, str]], filename: str):
    marker = lines[begin - 1]
    indent = marker[: len(marker) - len(marker.lstrip())]
    above = lines[begin - 2].strip() if begin >= 2 else ""
    if not above.startswith(TODO_PREFIX) or not above[len(TODO_PREFIX) :].strip():
        raise StubError(
            f"{filename} line {begin}: a solution region needs a '{TODO_PREFIX} ...' line right above it"
        )
    inside = [name for first, last, name in functions if first <= begin <= last]
    if not inside:
        raise StubError(f"{filename} line {begin}: a solution region must lie inside a function")
    todo = re.sub(r"\s+", " ", above[len(TODO_PREFIX) :]).strip()
    return SolutionRegion(begin, end, indent, inside[-1], todo)


def _enclosing_functions(source: str, filename: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, outermost first."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as error:
        raise StubError(f"{filename} line {error.lineno}: {error.msg}") from None
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((child.lineno, child.end_lineno or child.lineno, prefix + child.name))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return sorted(found, key=lambda item: (item[0], -item[1]))


def _raise_lines(indent: str, message: str) -> list[str]:
    """The ``raise`` laid out as the formatter would, so the stubs pass ``ruff format --check`` and E501.

    A message too long for one line is split at spaces into adjacent string literals, one per line.
    """
    one_line = f"{indent}raise NotImplementedError({_quote(message)})"
    if len(one_line) <= FORMATTER_LINE_LENGTH:
        return [one_line + "\n"]
    inner = indent + "    "
    room = FORMATTER_LINE_LENGTH - len(inner) - 2  # the two quotes
    chunks, current = [], ""
    for word in message.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and len(_quote(candidate + " ")) - 2 > room:
            chunks.append(current + " ")
            current = word
        else:
            current = candidate
    chunks.append(current)
    return [
        f"{indent}raise NotImplementedError(\n",
        *(f"{inner}{_quote(chunk)}\n" for chunk in chunks),
        f"{indent})\n",
    ]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stubs_command(*, solutions: Path, exercises: Path, check: bool) -> int:
    """Regenerate ``exercises`` from ``solutions`` (or with ``check``, only report stale stubs)."""
    try:
        stale = stale_files(solutions, exercises)
        if check:
            if stale:
                print(
                    f"{exercises} is out of date with {solutions}: {', '.join(stale)}; "
                    f"run `python -m grader stubs` to regenerate",
                    file=sys.stderr,
                )
                return EXIT_FAILED_CHECK
            print(f"{exercises} is in sync with {solutions}")
            return EXIT_OK
        write_stubs(solutions, exercises)
    except StubError as error:
        print(f"grader stubs: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"regenerated {len(stale)} stub(s) in {exercises}: {', '.join(stale) or 'none changed'}")
    return EXIT_OK
