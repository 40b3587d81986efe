"""``python -m grader export canvas``: Canvas's gradebook export in, a gradebook import out, with one
assignment column holding each learner's total.

What Canvas's importer reads (canvas-lms ``app/models/gradebook_importer.rb``): a header whose first
cells are ``Student`` and ``ID``, then optionally ``SIS User ID``, ``SIS Login ID``, ``Integration ID``
and ``Root Account``, with ``Section`` ending the learner columns; every later column is an assignment,
found by the id in ``Title (id)``, else by its title, else created with that title. A row whose first
cell holds "Points Possible" gives each column's points (a new assignment gets them); a row of only
"Muted"/"Manual Posting" cells is skipped. A learner row is found by its ``ID`` (then SIS ids, then
name), and a cell equal to the grade Canvas holds (blank where there is none) changes nothing.

So the import keeps the export's learner columns, in its order, and every one of its rows: the Points
Possible row, the test student ("Student, Test"), learners without a submission with their cells as they
were. Only the total of a matched learner is ours; every other cell is the export's own, written back
as Canvas wrote it (Canvas's exporter already quotes names starting with "=").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grader.contract import TOTAL_POINTS
from grader.exits import EXIT_OK, EXIT_USAGE, UsageError
from grader.export.csv_files import CsvFile, cell, read_csv, write_csv
from grader.export.graded import LESSON_TITLE, by_lms_id, read_graded
from grader.export.matching import Learner, Matching, pair
from grader.export.points import format_grade, parse_points, scaled
from grader.safe_text import for_terminal

LMS = "canvas"
LEARNER_COLUMNS = (
    "Student",
    "ID",
    "SIS User ID",
    "SIS Login ID",
    "Integration ID",
    "Root Account",
    "Section",
)
REQUIRED = ("Student", "ID", "Section")
POINTS_POSSIBLE = "Points Possible"  # the exporter writes "    Points Possible"; the importer looks for it
TEST_STUDENT = frozenset({"Student, Test", "Test Student"})  # Student View's learner, sortable or not
READ_ONLY = re.compile(r"read\s+only", re.IGNORECASE)  # the Points Possible cell of a total's column
USAGE_ERROR_LIMIT = 1000


def canvas_command(*, results_dir: Path, roster: Path, out: Path, column: str = LESSON_TITLE) -> int:
    """``grader export canvas``: write the import, say what matched; an exit code."""
    try:
        matching, notes = export_canvas(results_dir=results_dir, roster=roster, out=out, column=column)
    except UsageError as error:
        print(f"grader export canvas: {for_terminal(error, USAGE_ERROR_LIMIT)}", file=sys.stderr)
        return EXIT_USAGE
    for note in notes:
        print(f"grader export canvas: {note}", file=sys.stderr)
    print(matching.summary("canvas", [out]), file=sys.stderr)
    return EXIT_OK


def export_canvas(
    *, results_dir: Path, roster: Path, out: Path, column: str = LESSON_TITLE
) -> tuple[Matching, list[str]]:
    """Write the Canvas import at ``out``; returns what matched and notes for the instructor."""
    if not column.strip():
        raise UsageError("--column is empty: give the assignment's name as Canvas shows it")
    if column in LEARNER_COLUMNS:
        raise UsageError(f"--column {column!r} is one of Canvas's learner columns, not an assignment")
    if out.resolve() == roster.resolve():
        raise UsageError(f"--out {out} is the --roster file itself: write the import to another file")
    by_id, others = by_lms_id(read_graded(results_dir), LMS, results_dir)
    table = read_csv(roster, "--roster", REQUIRED)
    keep = sorted(table.header.index(name) for name in LEARNER_COLUMNS if name in table.header)
    target = _assignment_column(table.header, column, keep)
    points_row = next(
        (index for index, row in enumerate(table.rows) if POINTS_POSSIBLE in cell(row, 0)), None
    )
    theirs = _points_possible(table, target, points_row)
    matching = pair(
        _learners(table, points_row),
        by_id,
        others,
        lms=LMS,
        sheet="gradebook",
        where=f"--roster {roster}",
    )
    ours = {result.max_score for _, result in matching.matched} or {float(TOTAL_POINTS)}
    totals = {
        row: format_grade(scaled(result.total, result.max_score, theirs or result.max_score))
        for row, result in matching.matched
    }
    rows = []
    for index, row in enumerate(table.rows):
        if index in totals:
            value = totals[index]
        elif index == points_row and target is None:
            value = format_grade(max(ours))
        else:
            value = cell(row, target) if target is not None else ""
        rows.append([cell(row, i) for i in keep] + [value])
    if points_row is None:  # Canvas always writes it; without it a new column would get no points
        first = ["    " + POINTS_POSSIBLE] + [""] * (len(keep) - 1)
        rows.insert(0, first + [format_grade(theirs or max(ours))])
    header = [table.header[i] for i in keep] + [table.header[target] if target is not None else column]
    write_csv(out, header, rows, bom=table.bom, delimiter=table.delimiter)
    return matching, _notes(header[-1], target, theirs, ours)


def _assignment_column(header: list[str], column: str, learner_columns: list[int]) -> int | None:
    """The export's column for the assignment: named ``column`` exactly, or ``column (<id>)`` as Canvas
    names assignments; ``None`` when the gradebook has none (Canvas then creates it on import)."""
    with_id = re.compile(re.escape(column) + r" \(\d+\)")
    candidates = [i for i, name in enumerate(header) if i not in learner_columns]
    exact = [i for i in candidates if header[i] == column]
    found = exact or [i for i in candidates if with_id.fullmatch(header[i])]
    if len(found) > 1:
        names = ", ".join(repr(header[i]) for i in found)
        raise UsageError(f"--column {column!r} matches several columns of the gradebook ({names}): give one")
    return found[0] if found else None


def _points_possible(table: CsvFile, target: int | None, points_row: int | None) -> float | None:
    """The points Canvas holds for the target column, ``None`` for a new column."""
    if target is None or points_row is None:
        return None
    text = cell(table.rows[points_row], target)
    if READ_ONLY.search(text):
        raise UsageError(
            f"--column {table.header[target]!r} is read-only in Canvas (a total or a score it computes): "
            "name an assignment, or a new column"
        )
    if not text.strip():
        return None
    points = parse_points(text)
    if points is None or points <= 0:
        raise UsageError(
            f"--roster {table.path}: the Points Possible of {table.header[target]!r} is "
            f"{for_terminal(text, 40)!r}, not a number of points above zero"
        )
    return points


def _learners(table: CsvFile, points_row: int | None) -> list[Learner]:
    """The rows that are learners: not the Points Possible row, a "Muted" row or Student View's learner."""
    student, user_id = table.column("Student"), table.column("ID")
    learners = []
    for index, row in enumerate(table.rows):
        name, key = cell(row, student).strip(), cell(row, user_id).strip()
        if index == points_row or name in TEST_STUDENT or not (name or key):
            continue
        learners.append(Learner(index, key, name or f"ID {key}"))
    return learners


def _notes(name: str, target: int | None, theirs: float | None, ours: set[float]) -> list[str]:
    shown = for_terminal(name, 80)
    if target is None:
        points = format_grade(max(ours))
        return [
            f"{shown!r} is not a column of the gradebook: Canvas creates it, worth {points} points, on import"
        ]
    if theirs is not None and ours != {theirs}:
        lesson = " or ".join(format_grade(value) for value in sorted(ours))
        return [
            f"{shown!r} is worth {format_grade(theirs)} points in Canvas, the lesson {lesson}: "
            "totals are scaled to it"
        ]
    return []
