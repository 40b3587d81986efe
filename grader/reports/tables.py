"""The gradebook files: ``grades.csv`` (one row per learner, the SPEC's columns) and ``results.json``
(every submission, exercise and check, and the sandbox's protections they were graded under)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from grader.contract import EXERCISES, MODULES, TOTAL_POINTS
from grader.exits import UsageError
from grader.results import SubmissionResult, format_points
from grader.safe_text import NAME_LIMIT, SHOWN_NAME_LIMIT, for_csv_cell, for_json, for_terminal

RESULTS_FILE = "results.json"
MAX_RESULTS_BYTES = 256 << 20  # a class of thousands is a few tens of MB; anything larger is not ours

IDENTITY_COLUMNS = ("lms_id", "lms_name")


def write_grades(results: list[SubmissionResult], path: Path) -> Path:
    """A row per learner: the SPEC's columns, in order; then, for an LMS's export, who the learner is as
    that LMS knows them (``lms_id``, ``lms_name``: empty where the export does not say)."""
    from_lms = any(result.identity.lms for result in results)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "total", "max", *MODULES, *(IDENTITY_COLUMNS if from_lms else ())])
        for result in results:
            scores = {exercise.module: exercise.score for exercise in result.exercises}
            identity = [for_csv_cell(result.identity.id), for_csv_cell(result.identity.name)]
            writer.writerow(
                [
                    for_csv_cell(result.submission),
                    format_points(result.total),
                    format_points(result.max_score),
                    *(format_points(scores.get(m, 0)) for m in MODULES),
                    *(identity if from_lms else ()),
                ]
            )
    return path


def previous_protections(path: Path) -> dict:
    try:
        protections = json.loads(path.read_text(encoding="utf-8")).get("protections")
    except (OSError, ValueError, AttributeError):
        return {}
    return protections if isinstance(protections, dict) else {}


def write_results(results: list[SubmissionResult], path: Path, protections: dict | None = None) -> Path:
    """``results.json``: every submission, exercise and check, and the sandbox's protections they were
    graded under (``{}`` when unknown)."""
    document = {
        "max_score": TOTAL_POINTS,
        "exercises": [{"module": e.module, "number": e.number, "max_score": e.points} for e in EXERCISES],
        "protections": {str(name): str(status) for name, status in (protections or {}).items()},
        "submissions": [_bounded_record(result.to_json()) for result in results],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _bounded_record(record: dict) -> dict:
    """``SubmissionResult.to_json`` bounds the notes and messages but keeps the name exact (the
    gradebook finds records by it); here the name is bounded and made writable too."""
    record["submission"] = for_json(record["submission"], NAME_LIMIT, one_line=True, tag=True)
    return record


def read_submission_records(out: Path) -> list:
    """The ``submissions`` list of ``out/results.json``, read with a bound (its entries are checked by each
    reader); ``UsageError`` naming the file and the problem when there is none to read."""
    path = Path(out) / RESULTS_FILE
    shown = for_terminal(path, SHOWN_NAME_LIMIT)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RESULTS_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(
            f"{shown} does not exist: DIR is the --out folder of a grading run (python -m grader grade PATH "
            "--out DIR)"
        ) from None
    except OSError as error:
        raise UsageError(f"{shown} cannot be read: {for_terminal(error.strerror or error)}") from None
    if len(data) > MAX_RESULTS_BYTES:
        raise UsageError(f"{shown} is larger than {MAX_RESULTS_BYTES >> 20} MiB: not a results.json of ours")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise UsageError(
            f"{shown} is not valid JSON ({for_terminal(error)}); grade again to rewrite it"
        ) from None
    submissions = document.get("submissions") if isinstance(document, dict) else None
    if not isinstance(submissions, list):
        raise UsageError(f"{shown} has no 'submissions' list: it is not the results.json of a grading run")
    return submissions
