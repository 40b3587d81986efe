"""The gradebook files: ``grades.csv`` (one row per learner, the SPEC's columns) and ``results.json``
(every submission, exercise and check, and the sandbox's protections they were graded under)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from grader.contract import EXERCISES, MODULES, TOTAL_POINTS
from grader.results import SubmissionResult, format_points
from grader.safe_text import NAME_LIMIT, for_csv_cell, for_json


def write_grades(results: list[SubmissionResult], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "total", "max", *MODULES])
        for result in results:
            scores = {exercise.module: exercise.score for exercise in result.exercises}
            writer.writerow(
                [
                    for_csv_cell(result.submission),
                    format_points(result.total),
                    format_points(result.max_score),
                    *(format_points(scores.get(m, 0)) for m in MODULES),
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
