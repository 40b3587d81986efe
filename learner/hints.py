"""Hints: questions of rising strength that point at the idea, one more each time you ask.

Each exercise module ends with its own ``HINTS = (...)``, weakest first, so the hints live beside the
code they are about. They are read from the source rather than imported: a half-edited file that
does not even parse still gives its hints. Which hint each exercise is at is kept in the kit's pytest
cache, where the progress line of ``pytest exercises`` reads it back.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

from learner.kit import (
    EXERCISES,
    HINTS_SHOWN_KEY,
    Kit,
    Progress,
    UsageError,
    find_kit,
    is_stale,
    last_progress,
    module_of,
)
from learner.kit import run_visible_tests as run_tests

COMMAND = "python -m learner hint"
PICTURES = {"masking": "masking", "multi_head": "multi_head"}  # exercises `python -m learner show` can draw
WIDTH = 100


def read_hints(path: Path) -> tuple[str, ...]:
    """The ``HINTS`` tuple at the top level of the module at ``path`` (``()`` when there is none)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return ()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # The learner's code does not parse yet; the HINTS block at the end usually still does.
        block = re.search(r"^HINTS\s*=\s*\(.*?^\)", source, re.MULTILINE | re.DOTALL)
        try:
            tree = ast.parse(block.group(0)) if block else ast.Module(body=[], type_ignores=[])
        except SyntaxError:
            return ()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "HINTS" for t in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return ()
            return tuple(str(text) for text in value) if isinstance(value, (tuple, list)) else ()
    return ()


def hint(
    *, exercise: str | None = None, exercises: Path | None = None, again: bool = False, reset: bool = False
) -> int:
    """Print the next hint for ``exercise`` (default: the first exercise that fails its visible checks)."""
    kit = find_kit(exercises)
    module = module_of(exercise) if exercise else None
    shown = _shown(kit)
    if reset:
        if module:
            shown.pop(module, None)
        else:
            shown.clear()
        kit.write(HINTS_SHOWN_KEY, shown)
        which = f"{module}.py" if module else "every exercise"
        print(f"Forgot the hints shown for {which}; `{COMMAND}` starts again at hint 1.")
        return 0
    if module is None:
        progress = _current_progress(kit)
        if progress.first_failing is None:
            print(
                f"All {len(EXERCISES)} exercises pass their visible checks: no hint needed. "
                f"To read an exercise's hints anyway: {COMMAND} masking"
            )
            return 0
        module = progress.first_failing
    hints = read_hints(kit.module_path(module))
    if not hints:
        raise UsageError(
            f"{module}.py has no HINTS = (...) at its end; the kit's original copy of the file has them"
        )
    count = min(int(shown.get(module, 0)), len(hints))
    index = max(count - 1, 0) if again else min(count, len(hints) - 1)
    shown[module] = max(count, index + 1)
    kit.write(HINTS_SHOWN_KEY, shown)
    print(_format(module, index, hints, chosen=exercise is not None))
    return 0


def _format(module: str, index: int, hints: tuple[str, ...], *, chosen: bool) -> str:
    number = EXERCISES.index(module) + 1
    why = "" if chosen else " (the first exercise that fails its visible checks)"
    lines = [f"Exercise {number}, {module}.py — hint {index + 1} of {len(hints)}{why}:", ""]
    lines += textwrap.wrap(hints[index], WIDTH, initial_indent="    ", subsequent_indent="    ")
    lines.append("")
    again = f"{COMMAND} {module}" if chosen else COMMAND
    if index + 1 < len(hints):
        lines.append(f"Still stuck after trying it? `{again}` shows hint {index + 2} of {len(hints)}.")
    else:
        picture = (
            f" `python -m learner show {PICTURES[module]}` draws your weights beside the expected ones."
            if module in PICTURES
            else ""
        )
        lines.append(
            f"That was the last hint for {module}.py; the module's docstring tells the idea in full.{picture}"
        )
    lines.append(f"(`{again} --again` repeats this one; `{COMMAND} --reset` starts over.)")
    return "\n".join(lines)


def _shown(kit: Kit) -> dict[str, int]:
    record = kit.read(HINTS_SHOWN_KEY)
    if not isinstance(record, dict):
        return {}
    return {m: n for m, n in record.items() if m in EXERCISES and isinstance(n, int) and n >= 0}


def _current_progress(kit: Kit) -> Progress:
    """The last run's progress, after running the visible tests again
    if there is none or it is out of date."""
    progress = last_progress(kit)
    if progress is None:
        reason = "No `pytest exercises` run recorded yet"
    elif is_stale(kit, progress):
        reason = "Files changed since the last `pytest exercises`"
    elif progress.first_failing is None and progress.not_run:
        reason = f"The last run left out {', '.join(progress.not_run)}"
    else:
        return progress
    print(
        f"{reason}: running the visible tests to find the first failing exercise ...",
        file=sys.stderr,
        flush=True,
    )
    before = progress.finished_at if progress else None
    result = run_tests(kit, extra=("-q",))
    progress = last_progress(kit)
    if progress is None or progress.finished_at == before:
        # E.g. a syntax error: pytest stops while collecting, before any exercise runs.
        last = (result.stdout.strip().splitlines() or result.stderr.strip().splitlines() or ["no output"])[
            -1
        ].strip("= ")
        raise UsageError(f"`pytest exercises` stopped before any exercise ran ({last}); run it to see why")
    return progress
