"""``python -m grader feedback DIR NAME``: one learner's feedback, printed in the terminal.

The text is the Markdown page ``DIR/feedback/<stem>.md`` holds, built afresh from ``DIR/results.json``.
Most of it is the learner's (name, messages, prints, notes), so every line goes through
``safe_text.for_terminal``: no escape sequence, control character or bidi override reaches the terminal.
results.json itself is read with a bound, as any file a run left behind.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import TextIO

from grader.exits import EXIT_OK, EXIT_USAGE, UsageError
from grader.reports.feedback import feedback_markdown
from grader.reports.tables import RESULTS_FILE, read_submission_records
from grader.results import SubmissionResult
from grader.safe_text import MESSAGE_LIMIT, SHOWN_NAME_LIMIT, for_csv_cell, for_terminal

LINE_LIMIT = 4 * MESSAGE_LIMIT  # one printed line: a message, escaped for Markdown
SUGGESTIONS = 5
NAMES_LISTED = 10


def feedback_command(
    *, out: Path, name: str, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """``grader feedback``: print ``name``'s feedback from ``out``; a name not in it is a usage error that
    suggests the closest ones."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        result = find_result(read_records(Path(out)), name)
    except UsageError as error:
        print(f"grader feedback: {error}", file=stderr)
        return EXIT_USAGE
    stdout.write(terminal_lines(feedback_markdown(result)))
    stdout.flush()
    return EXIT_OK


def terminal_lines(text: str) -> str:
    """``text`` line by line as ``for_terminal`` makes a line (tabs first become spaces)."""
    lines = text.rstrip("\n").split("\n")
    return "".join(for_terminal(line.expandtabs(4), LINE_LIMIT) + "\n" for line in lines)


def read_records(out: Path) -> list[dict]:
    """The submissions' records in ``out/results.json`` (``grader.reports.tables``' bounded reader)."""
    return [record for record in read_submission_records(Path(out)) if isinstance(record, dict)]


def find_result(records: list[dict], name: str) -> SubmissionResult:
    """The record whose submission is ``name`` (as results.json or grades.csv shows it), else the one whose
    LMS id is ``name``; ``UsageError`` with the closest names if none is."""
    matches = [r for r in records if name in (_name(r), for_csv_cell(_name(r)))]
    matches = matches or [r for r in records if name and _identity(r) == name]
    shown = for_terminal(name, SHOWN_NAME_LIMIT, tag=True)
    if len(matches) > 1:
        which = ", ".join(for_terminal(_name(r), SHOWN_NAME_LIMIT, tag=True) for r in matches[:NAMES_LISTED])
        raise UsageError(
            f"{shown} is the LMS id of {len(matches)} submissions ({which}): give the submission"
        )
    if not matches:
        raise UsageError(f"no submission named {shown}; {_suggest(records, name)}")
    try:
        return SubmissionResult.from_json(matches[0])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"the record of {shown} in {RESULTS_FILE} cannot be read") from None


def _suggest(records: list[dict], name: str) -> str:
    names = list(dict.fromkeys([_name(r) for r in records] + [_identity(r) for r in records if _identity(r)]))
    close = difflib.get_close_matches(name, names, n=SUGGESTIONS, cutoff=0.6)
    if close:
        return "did you mean " + ", ".join(for_terminal(c, SHOWN_NAME_LIMIT, tag=True) for c in close) + "?"
    if not names:
        return "results.json holds no submissions"
    listed = ", ".join(for_terminal(n, SHOWN_NAME_LIMIT, tag=True) for n in names[:NAMES_LISTED])
    more = f" and {len(names) - NAMES_LISTED} more" if len(names) > NAMES_LISTED else ""
    return f"the submissions are: {listed}{more} (as in grades.csv's submission column)"


def _name(record: dict) -> str:
    return str(record.get("submission", ""))


def _identity(record: dict) -> str:
    identity = record.get("identity")
    return str(identity.get("id", "")) if isinstance(identity, dict) else ""
