"""What a grading run recorded for each learner, read back from ``DIR/results.json`` for an LMS import.

Every string in that file came from a learner: a name from the LMS export's file names, or what their
code made the sandbox report. Here each one is only checked for its type and kept as data; every writer
escapes it for its own format. The file itself is bounded before it is parsed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grader.exits import UsageError
from grader.reports.tables import RESULTS_FILE, read_submission_records
from grader.results import Identity
from grader.safe_text import for_terminal

LESSON_TITLE = "Lesson 13 — Attention"  # as the feedback pages title it
LMS_NAMES = {
    "moodle": "Moodle",
    "canvas": "Canvas",
    "github-classroom": "GitHub Classroom",
    "gradescope": "Gradescope",
    "nbgrader": "nbgrader",
}
ID_NAMES = {"moodle": "Moodle participant id", "canvas": "Canvas user id"}
NAMES_SHOWN = 10  # names listed in one message


@dataclass(frozen=True)
class ExercisePoints:
    """One exercise's points in a learner's result."""

    number: int
    module: str
    score: float
    max_score: float


@dataclass(frozen=True)
class Graded:
    """One learner's result as an LMS import needs it: the name it was graded under, the points, and
    who the LMS export said the learner is."""

    submission: str
    total: float
    max_score: float
    exercises: tuple[ExercisePoints, ...]
    identity: Identity


def read_graded(results_dir: Path) -> list[Graded]:
    """Every result in ``results_dir/results.json``; a ``UsageError`` naming the file and the problem."""
    if not results_dir.is_dir():
        raise UsageError(f"DIR {results_dir} is not a folder: expected the --out folder of a grading run")
    path = results_dir / RESULTS_FILE
    submissions = read_submission_records(results_dir)
    return [_graded(path, number, record) for number, record in enumerate(submissions, 1)]


def by_lms_id(graded: list[Graded], lms: str, results_dir: Path) -> tuple[dict[str, Graded], list[Graded]]:
    """The results of ``lms``'s learners keyed by their LMS id, and the results that have no such id.

    A ``UsageError`` when none has one (DIR was graded from another LMS's export, or a plain folder), or
    when two results share an id (nothing would say which grade is the learner's)."""
    ours = [result for result in graded if result.identity.lms == lms and result.identity.id.strip()]
    if not ours:
        raise UsageError(_holds_none(graded, lms, results_dir))
    counts = Counter(result.identity.id.strip() for result in ours)
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        shown = ", ".join(for_terminal(key) for key in repeated[:NAMES_SHOWN])
        raise UsageError(
            f"{results_dir / RESULTS_FILE} has more than one result for the same {ID_NAMES.get(lms, 'id')}: "
            f"{shown}{_more(repeated)}; each learner must have one result (grade the export again)"
        )
    others = [result for result in graded if not (result.identity.lms == lms and result.identity.id.strip())]
    return {result.identity.id.strip(): result for result in ours}, others


def _holds_none(graded: list[Graded], lms: str, results_dir: Path) -> str:
    wanted = LMS_NAMES.get(lms, lms)
    need = (
        f"`export {lms}` matches learners on their {ID_NAMES.get(lms, 'id')}, which a grading run records "
        f"only when PATH is {wanted}'s download of the submissions: grade that download, then export again"
    )
    if not graded:
        return f"DIR {results_dir} holds no graded submissions; {need}"
    kinds = Counter(result.identity.lms for result in graded)
    held = ", ".join(
        f"{count} from {_source(kind)}" for kind, count in sorted(kinds.items(), key=lambda item: -item[1])
    )
    return f"DIR {results_dir} holds results graded from another source than {wanted} ({held}); {need}"


def _source(lms: str) -> str:
    if not lms:
        return "a plain folder (no LMS identities)"
    return f"a {LMS_NAMES.get(lms, for_terminal(lms, 40))} export"


def _more(items: list) -> str:
    return f" and {len(items) - NAMES_SHOWN} more" if len(items) > NAMES_SHOWN else ""


def _graded(path: Path, number: int, record: object) -> Graded:
    where = f"{path}: submission {number}"
    if not isinstance(record, dict):
        raise UsageError(f"{where} is not an object; grade again to rewrite the file")
    name = record.get("submission")
    if not isinstance(name, str):
        raise UsageError(f"{where} has no 'submission' name; grade again to rewrite the file")
    where = f"{path}: submission {number} ({for_terminal(name, 80, tag=True)})"
    total, max_score = _points(record, "total", where), _points(record, "max_score", where)
    exercises = record.get("exercises")
    if not isinstance(exercises, list):
        raise UsageError(f"{where} has no 'exercises' list; grade again to rewrite the file")
    points = []
    for exercise in exercises:
        if not isinstance(exercise, dict) or not isinstance(exercise.get("module"), str):
            raise UsageError(f"{where} has an exercise without its module; grade again to rewrite the file")
        index = exercise.get("number")
        if not isinstance(index, int) or isinstance(index, bool):
            raise UsageError(f"{where} has an exercise without its number; grade again to rewrite the file")
        score, most = _points(exercise, "score", where), _points(exercise, "max_score", where)
        points.append(ExercisePoints(index, exercise["module"], score, most))
    identity = record.get("identity") or {}
    if not isinstance(identity, dict):
        raise UsageError(f"{where} has an 'identity' that is not an object; grade again to rewrite the file")
    fields = {key: identity.get(key, "") for key in Identity.__dataclass_fields__}
    if not all(isinstance(value, str) for value in fields.values()):
        raise UsageError(f"{where} has an identity field that is not text; grade again to rewrite the file")
    return Graded(name, total, max_score, tuple(points), Identity(**fields))


def _points(record: dict, key: str, where: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UsageError(f"{where}: '{key}' is not a number of points; grade again to rewrite the file")
    return float(value)
