"""Watch mode: save a file in ``exercises/`` and its visible tests run again at once.

Each save runs the visible tests of the exercise that changed first (its result comes back in a
couple of seconds), then all of them, and prints only what a learner reads next: the first failure,
how many more there are, and the progress line. The visible tests run each exercise's most basic
checks first (shapes, then values, then edge cases, then argument checks: ``exercises/conftest.py``),
so the first failure is the one to fix first. The file watching is ``watchfiles`` (OS notifications,
no polling loop here).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from learner.kit import EXERCISES, Kit, UsageError, find_kit, run_visible_tests

SECTION = re.compile(r"^=+ (.+?) =+$")  # pytest's "===== FAILURES =====" lines
BLOCK = re.compile(r"^_{3,} (.+?) _{3,}$")  # "_____ test_name _____" inside FAILURES and ERRORS
LOCATION = re.compile(r"^\S+\.py:\d+: ")  # "exercises/masking.py:97: in masked_attention"
WIDTH = 100


def watch(
    *,
    exercises: Path | None = None,
    debounce_ms: int = 300,
    stop_event=None,
    write: Callable[[str], None] | None = None,
) -> int:
    """Run the visible tests now and again after every save under ``exercises``,
    until Ctrl-C (or ``stop_event``)."""
    write = write or _print
    kit = find_kit(exercises)
    try:
        from watchfiles import PythonFilter
        from watchfiles import watch as watch_changes
    except ImportError:
        raise UsageError("watch mode needs the watchfiles package: pip install watchfiles") from None
    write(f"Watching {kit.exercises} — save an exercise to run its visible tests again; Ctrl-C stops.")
    run_cycle(kit, [], write=write)
    changes = watch_changes(
        kit.exercises, watch_filter=PythonFilter(), debounce=debounce_ms, stop_event=stop_event
    )
    for batch in changes:
        run_cycle(kit, changed_exercises(path for _, path in batch), write=write)
    return 0


def changed_exercises(paths: Iterable[str | Path]) -> list[str]:
    """The exercises whose module or visible test is among ``paths``, in lesson order."""
    stems = {Path(path).stem.removeprefix("test_") for path in paths}
    return [module for module in EXERCISES if module in stems]


def run_cycle(kit: Kit, changed: list[str], *, write: Callable[[str], None]) -> None:
    """One round: the changed exercises' tests, then every visible test; print the first failure (the
    visible tests run each exercise's most basic checks first), how many more fail, and the progress."""
    saved = ", ".join(f"{module}.py" for module in changed) or "exercises/"
    write(_rule(f"{time.strftime('%H:%M:%S')}  {saved}"))
    shown = False
    for module in changed:
        output = run_visible_tests(kit, [module]).stdout
        write(f"{module}: {summary(output) or 'no result (see `pytest exercises`)'}")
        failure = first_failure(output)
        if failure:
            write(_indent(failure) + _more(output, f"pytest exercises/test_{module}.py"))
            shown = True
    if changed:
        write("… and now every exercise:")
    output = run_visible_tests(kit).stdout
    failure = None if shown else first_failure(output)
    if failure:
        write("First failure:\n" + _indent(failure) + _more(output, "pytest exercises"))
    write(progress(output) or summary(output) or output.strip()[-2000:])


def _more(output: str, command: str) -> str:
    """A line for how many more tests fail (after a newline), or "" when none: "… and 2 more failing tests:
    `pytest exercises` shows them all."."""
    more = failure_count(output) - 1
    if more <= 0:
        return ""
    return f"\n… and {more} more failing test{'s' if more > 1 else ''}: `{command}` shows them all."


def failure_count(output: str) -> int:
    """How many entries pytest's FAILURES and ERRORS sections hold."""
    in_section, count = False, 0
    for line in output.splitlines():
        section = SECTION.match(line)
        if section:
            in_section = section.group(1) in ("FAILURES", "ERRORS")
        elif in_section and BLOCK.match(line):
            count += 1
    return count


def first_failure(output: str) -> str | None:
    """The first entry of pytest's FAILURES or ERRORS section;
    a traceback shrinks to its place and its E lines."""
    in_section, block = False, None
    for line in output.splitlines():
        section = SECTION.match(line)
        if section:
            if block is not None:
                break
            in_section = section.group(1) in ("FAILURES", "ERRORS")
            continue
        header = BLOCK.match(line) if in_section else None
        if header:
            if block is not None:
                break
            block = [header.group(1)]
        elif block is not None:
            block.append(line)
    if block is None:
        return None
    title, body = block[0], block[1:]
    errors = [
        line[4:] if line.startswith("E   ") else line[1:].strip() for line in body if line.startswith("E ")
    ]
    if errors:
        places = [line.split(": in ")[0] for line in body if LOCATION.match(line)]
        body = [f"at {places[-1]}:" if places else "", *errors]
    lines = [title, *(line for line in body if line.strip())]
    return "\n".join(lines)


def progress(output: str) -> str | None:
    """The "Lesson 13 progress" section the conftest prints at the end of the run."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if SECTION.match(line) and "progress" in line), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if SECTION.match(lines[i])), len(lines))
    return "\n".join(lines[start:end])


def summary(output: str) -> str | None:
    """pytest's closing line without its rule: "7 failed, 33 skipped in 3.29s"."""
    for line in reversed(output.splitlines()):
        match = SECTION.match(line)
        if match and " in " in match.group(1):
            return match.group(1)
    return None


def _rule(title: str) -> str:
    return f"── {title} " + "─" * max(3, WIDTH - len(title) - 4)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _print(text: str) -> None:
    print(text, flush=True)
