"""What a grading run writes: ``grades.csv``, ``results.json`` and a feedback file per learner.

Learner-visible text is built only from check titles, failure messages and hints — never from the
grader's source or the reference's code — and a submission's own prints are cut to a small bound.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from grader.contract import EXERCISES, MODULES, TOTAL_POINTS
from grader.results import NOT_IMPLEMENTED, PASSED, SubmissionResult

FEEDBACK_DIR = "feedback"
PRINTED_OUTPUT_LIMIT = 1000  # characters of a submission's own prints shown in its feedback
STATUS_MARKS = {PASSED: "✓", "failed": "✗", "not_implemented": "·", "error": "✗", "timeout": "⏱", "skipped": "–"}


def write_reports(results: list[SubmissionResult], out: Path) -> dict[str, Path]:
    """Write every report for ``results`` under ``out``; returns what was written, by kind."""
    out.mkdir(parents=True, exist_ok=True)
    written = {"grades": write_grades(results, out / "grades.csv"), "results": write_results(results, out / "results.json")}
    feedback = out / FEEDBACK_DIR
    feedback.mkdir(exist_ok=True)
    for result in results:
        (feedback / feedback_filename(result.submission)).write_text(feedback_markdown(result), encoding="utf-8")
    written["feedback"] = feedback
    return written


def write_grades(results: list[SubmissionResult], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "total", "max", *MODULES])
        for result in results:
            scores = {exercise.module: exercise.score for exercise in result.exercises}
            writer.writerow(
                [
                    result.submission,
                    _points(result.total),
                    _points(result.max_score),
                    *(_points(scores.get(m, 0)) for m in MODULES),
                ]
            )
    return path


def write_results(results: list[SubmissionResult], path: Path) -> Path:
    document = {
        "max_score": TOTAL_POINTS,
        "exercises": [{"module": e.module, "number": e.number, "max_score": e.points} for e in EXERCISES],
        "submissions": [result.to_json() for result in results],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def feedback_filename(submission: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", submission).strip("._") or "submission") + ".md"


def feedback_markdown(result: SubmissionResult) -> str:
    lines = [
        f"# Lesson 13 — Attention: feedback for {result.submission}",
        "",
        f"**Total: {_points(result.total)} / {_points(result.max_score)}**",
        "",
    ]
    lines += [f"- {note}" for note in result.notes]
    lines += ["", "| # | exercise | points |", "|---|---|---|"]
    lines += [f"| {e.number} | `{e.module}.py` | {_points(e.score)} / {_points(e.max_score)} |" for e in result.exercises]
    for exercise in result.exercises:
        lines += [
            "",
            f"## {exercise.number}. `{exercise.module}.py` — {_points(exercise.score)} / {_points(exercise.max_score)}",
            "",
        ]
        lines += [f"> {note}" for note in exercise.notes]
        if exercise.notes:
            lines.append("")
        messages = {check.message for check in exercise.checks}
        if len(messages) == 1 and all(check.status == NOT_IMPLEMENTED for check in exercise.checks):
            lines += [f"Not implemented yet: {messages.pop()}", ""]
            lines += [f"- · {check.title} (0 / {_points(check.max_score)})" for check in exercise.checks]
            continue
        for check in exercise.checks:
            mark = STATUS_MARKS.get(check.status, "✗")
            lines.append(f"- {mark} {check.title} ({_points(check.score)} / {_points(check.max_score)})")
            if check.status != PASSED and check.message:
                lines += ["", "  ```", *[f"  {line}" for line in check.message.splitlines()], "  ```"]
                if check.hint:
                    lines.append(f"  *Hint: {check.hint}*")
                lines.append("")
    lines += [
        "",
        "---",
        "Checks marked ✓ passed, ✗ failed, · are not implemented yet, ⏱ ran out of time, – were not run.",
        "Exercises 4–7 are graded with the reference standing in for the earlier exercises they import,",
        "so a mistake costs points only in the exercise where it is made.",
    ]
    return "\n".join(lines) + "\n"


def truncate_output(text: str, limit: int = PRINTED_OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters cut)"


def _points(value: float) -> str:
    return f"{value:g}"
