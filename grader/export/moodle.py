"""``python -m grader export moodle``: Moodle's offline grading worksheet in, the same worksheet out with
``Grade`` and ``Feedback comments`` filled for each learner who handed in.

What Moodle's upload reads (``mod/assign/feedback/offline``: ``importgradeslib.php`` and
``locallib.php``, ``process_import_grades``): the columns named ``Identifier`` (``Participant <id>``),
``Grade`` and ``Last modified (grade)``, and one column per feedback text field ("Feedback comments"),
found by their header; every other column is ignored. A grade is read with ``unformat_float`` and skipped
when it is empty, unchanged, below zero, above the assignment's maximum, locked in the gradebook
("Grade can be changed": No), or changed in Moodle after the worksheet was downloaded (unless the
teacher ticks "Allow updating records that have been modified more recently in Moodle than in the
spreadsheet"). A feedback cell that differs from the stored one replaces it, even when empty.

So every column and row is kept as it was, and only a matched learner's two cells are written: the total
scaled to the worksheet's ``Maximum Grade`` (Moodle would skip a grade above it), and a short comment.
A learner without a submission keeps an empty grade and their comment as it was.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grader.exits import EXIT_OK, EXIT_USAGE, UsageError
from grader.export.comments import feedback_comment
from grader.export.csv_files import CsvFile, cell, read_csv, write_csv
from grader.export.feedback_zip import write_feedback_zip
from grader.export.graded import NAMES_SHOWN, by_lms_id, read_graded
from grader.export.matching import Learner, Matching, pair
from grader.export.points import format_grade, parse_points, scaled
from grader.safe_text import SHOWN_NAME_LIMIT, for_csv_cell, for_terminal

LMS = "moodle"
IDENTIFIER, GRADE, MODIFIED = "Identifier", "Grade", "Last modified (grade)"
MAXIMUM = "maximum grade"  # "Maximum Grade" or "Maximum grade", depending on the Moodle version
COMMENTS, CAN_CHANGE, FULL_NAME = "Feedback comments", "Grade can be changed", "Full name"
REQUIRED = (IDENTIFIER, GRADE, MODIFIED)
PARTICIPANT = re.compile(r"\D*?(\d{1,18})")  # "Participant 123" (the prefix is translated)
COMMENT_LIMIT = 20_000
USAGE_ERROR_LIMIT = 1000


def moodle_command(*, results_dir: Path, worksheet: Path, out: Path, feedback_zip: Path | None = None) -> int:
    """``grader export moodle``: write the worksheet (and the zip), say what matched; an exit code."""
    try:
        matching, notes = export_moodle(
            results_dir=results_dir, worksheet=worksheet, out=out, feedback_zip=feedback_zip
        )
    except UsageError as error:
        print(f"grader export moodle: {for_terminal(error, USAGE_ERROR_LIMIT)}", file=sys.stderr)
        return EXIT_USAGE
    for note in notes:
        print(f"grader export moodle: {note}", file=sys.stderr)
    written = [out] + ([feedback_zip] if feedback_zip is not None else [])
    print(matching.summary("moodle", written), file=sys.stderr)
    return EXIT_OK


def export_moodle(
    *, results_dir: Path, worksheet: Path, out: Path, feedback_zip: Path | None = None
) -> tuple[Matching, list[str]]:
    """Write the filled worksheet at ``out`` (and the zip); returns what matched and notes for the
    instructor."""
    for path, option in ((out, "--out"), (feedback_zip, "--feedback-zip")):
        if path is not None and path.resolve() == worksheet.resolve():
            raise UsageError(f"{option} {path} is the --worksheet file itself: write to another file")
    if feedback_zip is not None and feedback_zip.resolve() == out.resolve():
        raise UsageError(f"--feedback-zip {feedback_zip} is the --out file too: give two files")
    for path, option in ((out, "--out"), (feedback_zip, "--feedback-zip")):
        if path is not None and path.is_dir():  # found before either file is written
            raise UsageError(f"{option} {path} is a folder: expected a file name")
    by_id, others = by_lms_id(read_graded(results_dir), LMS, results_dir)
    table = read_csv(worksheet, "--worksheet", REQUIRED)
    maximum = _maximum_column(table)
    width = len(table.header)
    rows = [row + [""] * (width - len(row)) for row in table.rows]
    matching = pair(
        _learners(table), by_id, others, lms=LMS, sheet="worksheet", where=f"--worksheet {worksheet}"
    )
    grade, comments = table.column(GRADE), _optional(table, COMMENTS)
    scales, locked, replaced, pages = set(), [], [], []
    for index, result in matching.matched:
        row = rows[index]
        theirs = parse_points(row[maximum])
        if theirs is None or theirs <= 0:
            raise UsageError(
                f"--worksheet {worksheet}, row {index + 2}: its {table.header[maximum]} is "
                f"{for_terminal(row[maximum], 40)!r}, not a number of points (is the assignment graded on "
                "a scale? only points can be imported)"
            )
        value = scaled(result.total, result.max_score, theirs)
        row[grade] = format_grade(value)
        label = _label(table, row)
        if comments is not None:
            comment = for_csv_cell(
                feedback_comment(result, value, theirs, attached=feedback_zip is not None), COMMENT_LIMIT
            )
            if row[comments].strip() and row[comments] != comment:
                replaced.append(label)
            row[comments] = comment
        if theirs != result.max_score:
            scales.add((result.max_score, theirs))
        if _is_no(table, row):
            locked.append(label)
        pages.append((result.identity.id.strip(), _full_name(table, row, result.identity.name), result))
    write_csv(out, table.header, rows, bom=table.bom, delimiter=table.delimiter)
    notes = _notes(scales, locked, replaced, comments is None)
    if feedback_zip is not None:
        left_out = write_feedback_zip(feedback_zip, pages, results_dir)
        if left_out:
            shown = "; ".join(for_terminal(line, SHOWN_NAME_LIMIT) for line in left_out[:NAMES_SHOWN])
            more = f"; and {len(left_out) - NAMES_SHOWN} more" if len(left_out) > NAMES_SHOWN else ""
            notes.append(f"{len(left_out)} learner(s) have no page in the feedback zip: {shown}{more}")
    return matching, notes


def _maximum_column(table: CsvFile) -> int:
    found = [i for i, name in enumerate(table.header) if name.strip().lower() == MAXIMUM]
    if found:
        return found[0]
    if "Scale" in table.header:
        raise UsageError(
            f"--worksheet {table.path} is for an assignment graded on a scale (it has a Scale column, no "
            "Maximum Grade): only an assignment graded in points can take the lesson's total"
        )
    raise UsageError(
        f"--worksheet {table.path} lacks the column 'Maximum Grade'; is it Moodle's offline grading "
        "worksheet (Assignment > View all submissions > Download grading worksheet), unchanged?"
    )


def _learners(table: CsvFile) -> list[Learner]:
    identifier = table.column(IDENTIFIER)
    learners = []
    for index, row in enumerate(table.rows):
        text = cell(row, identifier).strip()
        found = PARTICIPANT.fullmatch(text)
        if not found:
            raise UsageError(
                f"--worksheet {table.path}, row {index + 2}: its Identifier is {for_terminal(text, 40)!r}, "
                "not 'Participant <number>'"
            )
        learners.append(Learner(index, found.group(1), _label(table, row)))
    return learners


def _optional(table: CsvFile, name: str) -> int | None:
    return table.header.index(name) if name in table.header else None


def _label(table: CsvFile, row: list[str]) -> str:
    name = _optional(table, FULL_NAME)
    identifier = cell(row, table.column(IDENTIFIER)).strip()
    full = cell(row, name).strip() if name is not None else ""
    return f"{full} ({identifier})" if full else identifier


def _full_name(table: CsvFile, row: list[str], graded_name: str) -> str:
    name = _optional(table, FULL_NAME)
    return (cell(row, name).strip() if name is not None else "") or graded_name


def _is_no(table: CsvFile, row: list[str]) -> bool:
    column = _optional(table, CAN_CHANGE)
    return column is not None and cell(row, column).strip().lower() == "no"


def _notes(
    scales: set[tuple[float, float]], locked: list[str], replaced: list[str], no_comments: bool
) -> list[str]:
    notes = []
    for ours, theirs in sorted(scales):
        notes.append(
            f"the worksheet's Maximum Grade is {format_grade(theirs)}, the lesson's {format_grade(ours)}: "
            f"totals are scaled to it (a total of {format_grade(ours)} is a grade of {format_grade(theirs)})"
        )
    if locked:
        notes.append(
            f"{len(locked)} grade(s) cannot be changed in Moodle (locked or overridden in the gradebook; "
            f'"Grade can be changed": No), so its upload will skip them: {_listed(locked)}'
        )
    if replaced:
        notes.append(
            f"{len(replaced)} learner(s) already had Feedback comments in the worksheet, replaced by the "
            f"lesson's summary (Moodle keeps no copy): {_listed(replaced)}"
        )
    if no_comments:
        notes.append(
            "the worksheet has no 'Feedback comments' column (the assignment's feedback comments are off): "
            "only grades are filled"
        )
    return notes


def _listed(names: list[str]) -> str:
    shown = ", ".join(f'"{for_terminal(name, SHOWN_NAME_LIMIT)}"' for name in names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
