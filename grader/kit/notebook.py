"""Generate the lesson's nbgrader source notebook from ``solutions/`` (``python -m grader notebook``).

``solutions/`` stays the one source of truth. The notebook tells the lesson section by section: each
module's docstring becomes the markdown of its exercise, its code becomes one autograded answer cell
(grade_id = the module name; the ``### BEGIN SOLUTION`` regions are nbgrader's own markers), and each of
the exercise's hidden checks becomes one test cell worth the check's points: a visible assert from
``nbgrader/visible_checks.py`` and a ``### BEGIN HIDDEN TESTS`` region that runs the grader's check
(``grader.kit.notebook_runtime.grade_check``). The notebook runs top to bottom in one namespace, so the
answer cells drop the modules' relative imports (``from .masking import masked_attention``); the
adapter (``grader.intake.nbgrader``) puts them back when it turns a notebook into modules again.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import re
import runpy
import sys
from pathlib import Path

from grader.contract import ASSIGNMENT, EXERCISES, TOTAL_POINTS, Exercise
from grader.exits import EXIT_FAILED_CHECK, EXIT_OK, EXIT_USAGE
from grader.kit.stubs import StubError, find_regions

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "nbgrader" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
VISIBLE_CHECKS = REPO / "nbgrader" / "visible_checks.py"
SETUP_ID = "setup"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

INTRODUCTION = """\
# Lesson 13 — Attention: focusing on what matters

RNNs and LSTMs read a sequence one step at a time, so a word far back reaches the present only through a long
chain of updates. **Attention** lets every position look at every other position directly, in one parallel
step, and decide how much each one matters: a query ("what am I looking for?") scores every key ("what do I
contain?"), softmax turns the scores into weights, and the output is the weighted average of the values. It is
the core of the Transformer (BERT, GPT).

In this notebook you build attention from the ground up, each exercise on top of the one before:

{exercises}

## How this notebook works and is graded

* Write your code where it says `# YOUR CODE HERE`, in place of `raise NotImplementedError()`. Keep the names
  and signatures: the checks call them. Run the cells from top to bottom (*Kernel → Restart & Run All*).
* After each exercise comes one cell per check, with its points in its first line. The asserts you see are \
small
  worked examples. At grading, each cell also runs the hidden check of the same name — the same check as the
  course's `python -m grader grade` — and earns its points when it runs without an error.
* Later exercises use your earlier ones (`MultiHeadAttention` calls your `masked_attention`). At grading, each
  exercise runs with the reference solution standing in for the exercises before it, so a mistake costs points
  once, where it is made.
* Conventions: a mask entry that is `True` (or nonzero) means "this query may attend to this key"; a query
  whose keys are all masked gets all-zero weights and output, never `nan`; functions accept any number of
  leading batch dimensions; results keep the input's dtype and device; inputs are never modified in place.
* PyTorch's built-in attention (`F.scaled_dot_product_attention`, `nn.MultiheadAttention`,
  `nn.TransformerEncoder(Layer)`) is off limits in your code: the checks compare you against it."""

SETUP = """\
# Run this cell first. Warnings print as ordinary output: nbgrader fails a check cell that writes to stderr.
import sys
import warnings


def _print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


warnings.showwarning = _print_warning"""

SUMMARY = """\
## Summary

You built attention from the ground up: a stable softmax, scaled dot-product attention, masks for padding
and causality (and the rows with nothing to see), self-attention, multi-head attention, the transformer
encoder, and a classifier whose answer does not depend on padding.

Next lesson: **the Transformer architecture** — combining these layers into a full model."""

CHECKS_INTRO = """\
### Checks for exercise {number} — {points} points

One cell per check. The asserts are worked examples you can read and rerun; at grading, each cell also runs
the hidden check named in its first line."""


def build_notebook(solutions: Path) -> dict:
    """The source notebook (nbformat 4.5, as a JSON-ready dict) for the modules in ``solutions``."""
    from grader.checks import checks_for  # the checks import PyTorch: only when a notebook is built

    visible = runpy.run_path(str(VISIBLE_CHECKS))
    lines = [f"{e.number}. `{e.filename}` — {_title(solutions, e)} ({e.points} points)" for e in EXERCISES]
    intro = INTRODUCTION.format(exercises="\n".join(lines)) + f"\n\nTotal: {TOTAL_POINTS} points."
    cells = [_markdown("introduction", intro), _code(SETUP_ID, SETUP, locked=True)]
    for exercise in EXERCISES:
        source = (solutions / exercise.filename).read_text(encoding="utf-8")
        find_regions(source, str(solutions / exercise.filename))  # balanced markers, each under a TODO line
        parts = split_module(source, exercise)
        cells.append(_markdown(f"{exercise.module}-lesson", docstring_markdown(parts["docstring"], exercise)))
        cells.append(_code(exercise.module, parts["code"], solution=True))
        if parts["hints"]:
            cells.append(_markdown(f"{exercise.module}-hints", hints_markdown(parts["hints"])))
        checks = checks_for(exercise.module, device_checks=False)  # no points, and a notebook has no sandbox
        cells.append(
            _markdown(
                f"{exercise.module}-checks",
                CHECKS_INTRO.format(number=exercise.number, points=exercise.points),
            )
        )
        if exercise.module in visible["HELPERS"]:
            cells.append(
                _code(f"helpers-{exercise.module}", visible["HELPERS"][exercise.module], locked=True)
            )
        for check in checks:
            first = len([c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]) == 0
            snippet = visible["VISIBLE"].get(exercise.module, {}).get(check.name)
            reason = visible["HIDDEN_ONLY"].get(
                (exercise.module, check.name), "checked by the hidden test only"
            )
            body = snippet if snippet else f"# ({reason})"
            text = check_cell_source(exercise, check, body, lint_note=first)
            cells.append(_code(check_cell_id(exercise.module, check.name), text, points=check.points))
    cells.append(_markdown("summary", SUMMARY))
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(notebook: dict) -> str:
    """The notebook as text, laid out as nbformat writes it (so saving it in Jupyter changes nothing)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_notebook(*, solutions: Path, out: Path, check: bool) -> int:
    """Regenerate the source notebook ``out`` from ``solutions`` (or with ``check``, only report whether it is
    stale)."""

    try:
        text = render(build_notebook(Path(solutions)))
    except (StubError, OSError, SyntaxError) as error:
        print(f"grader notebook: {error}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(out)
    current = out.read_text(encoding="utf-8") if out.is_file() else None
    if check:
        if current != text:
            print(
                f"{out} is out of date with {solutions}; run `python -m grader notebook` to regenerate",
                file=sys.stderr,
            )
            return EXIT_FAILED_CHECK
        print(f"{out} is in sync with {solutions}")
        return EXIT_OK
    if current != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    print(f"{'regenerated' if current != text else 'unchanged:'} {out}")
    return EXIT_OK


def check_cell_id(module: str, check: str) -> str:
    """The grade_id of a check's test cell: ``test_masking-causal_mask_values``."""
    return f"test_{module}-{check}"


def check_cell_source(exercise: Exercise, check, visible: str, lint_note: bool = False) -> str:
    """A test cell: the check's title and points, the hidden region that runs it, then its visible assert.

    The hidden region of the first test cell carries the notebook's one lint exemption, out of learners'
    sight.
    """
    # Each answer cell keeps its module's imports; ruff sees a second `import math` as a redefinition.
    exemption = "# ruff: noqa: F811 - each answer cell keeps its module's own imports\n" if lint_note else ""
    return (
        f"# {exercise.module}, {check.points:g} point{'s' if check.points != 1 else ''}: {check.title}\n"
        "### BEGIN HIDDEN TESTS\n"
        f"{exemption}"
        "from grader.kit.notebook_runtime import grade_check\n\n"
        f'grade_check("{exercise.module}", "{check.name}", globals())\n'
        "### END HIDDEN TESTS\n"
        f"{visible}"
    )


def split_module(source: str, exercise: Exercise) -> dict:
    """``{"docstring", "code", "hints", "imports"}``: the module's docstring, the answer cell's code,
    its ``HINTS`` and its relative imports (``[(module, [names])]``), which the notebook does not need."""
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree, clean=False) or ""
    lines = source.splitlines()
    drop: set[int] = set()  # 0-based line numbers left out of the cell
    imports, hints = [], ()
    for node in tree.body:
        span = range(node.lineno - 1, node.end_lineno)
        if isinstance(node, ast.Expr) and node is tree.body[0] and isinstance(node.value, ast.Constant):
            drop.update(span)
        elif isinstance(node, ast.ImportFrom) and node.level:
            imports.append((node.module, [alias.name for alias in node.names]))
            drop.update(span)
        elif isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["HINTS"]:
            hints = ast.literal_eval(node.value)
            first = node.lineno - 1
            while first > 0 and lines[first - 1].lstrip().startswith("#"):
                first -= 1  # the comment that introduces the hints goes with them
            drop.update(range(first, node.end_lineno))
    kept = "\n".join(line for number, line in enumerate(lines) if number not in drop)
    kept = re.sub(r"\n{4,}", "\n\n\n", kept).strip("\n")
    return {
        "docstring": docstring,
        "code": f"{cell_header(exercise, imports)}\n{kept}",
        "hints": hints,
        "imports": imports,
    }


def cell_header(exercise: Exercise, imports: list[tuple[str, list[str]]]) -> str:
    """The answer cell's first line: a comment, so the adapter can put restored imports on it (same line
    numbers)."""
    header = f"# Exercise {exercise.number}: {exercise.filename}"
    if imports:
        used = "; ".join(f"{', '.join(names)} from the {module} cell" for module, names in imports)
        header += f" (uses {used} above)"
    return header


def docstring_markdown(docstring: str, exercise: Exercise) -> str:
    """The module docstring as markdown: its first line a heading with the points, indented blocks as code."""
    lines = inspect.cleandoc(docstring).splitlines() or [exercise.module]
    out = [f"## {lines[0].rstrip('.')} ({exercise.points} points)"]
    block: list[str] = []

    def flush() -> None:
        while block and not block[-1].strip():
            block.pop()
        if block:
            language = "python" if any(line.lstrip().startswith(">>>") for line in block) else ""
            if out[-1]:
                out.append("")
            out.extend([f"```{language}", *inspect.cleandoc("\n".join(block)).splitlines(), "```"])
            block.clear()

    for line in lines[1:]:
        if line.startswith("    ") or (block and not line.strip()):
            block.append(line)
            continue
        flush()
        if out[-1] == "```" and line.strip():
            out.append("")
        text = re.sub(r"``([^`]+)``", r"`\1`", line)
        out.append(text[:-1] if text.endswith("::") else text)
    flush()
    return "\n".join(out).strip()


def hints_markdown(hints) -> str:
    items = "\n".join(f"{number}. {hint}" for number, hint in enumerate(hints, start=1))
    return f"<details><summary>Stuck? Hints, weakest first (click to open)</summary>\n\n{items}\n\n</details>"


def _title(solutions: Path, exercise: Exercise) -> str:
    docstring = (
        ast.get_docstring(ast.parse((solutions / exercise.filename).read_text(encoding="utf-8"))) or ""
    )
    first = docstring.splitlines()[0] if docstring else exercise.module
    return first.split("—", 1)[-1].strip().rstrip(".")


def _markdown(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": _cell_id(cell_id), "metadata": {}, "source": text}


def _cell_id(name: str) -> str:
    """nbformat 4.5 cell ids are at most 64 characters of ``[A-Za-z0-9_-]``."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return name if len(name) <= 64 else name[:55] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]


def _code(
    grade_id: str, text: str, *, solution: bool = False, locked: bool = False, points: float | None = None
) -> dict:
    """A code cell with nbgrader metadata: an answer (solution), a test (points) or a read-only cell
    (locked)."""
    grade = points is not None
    nbgrader = {
        "cell_type": "code",
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked or grade,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        nbgrader["points"] = points
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": _cell_id(grade_id),
        "metadata": {"nbgrader": nbgrader},
        "outputs": [],
        "source": text,
    }
