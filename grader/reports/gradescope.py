"""Gradescope's autograder format: a ``results.json`` per submission, one test per check.

Spec: https://gradescope-autograders.readthedocs.io/en/latest/specs/ — ``score``, ``output`` and a list
of ``tests`` with ``name``, ``score``, ``max_score``, ``status`` ("passed"/"failed"), ``output`` and
``visibility``. The ``run_autograder`` script in ``gradescope/`` calls ``python -m grader gradescope``.

Gradescope renders the top-level ``output`` as HTML by default ("simple_format") and can render
test outputs as HTML, Markdown or ANSI (``output_format``). These hold learner-controlled text
(exception messages, prints, notes), so every format is declared ``text`` ("No HTML, Markdown, or
ANSI will be rendered") and the text itself goes through ``safe_text.for_text``: visible, bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.results import PASSED, SubmissionResult, shown
from grader.safe_text import MESSAGE_LIMIT, NOTE_LIMIT, bounded_items, for_text

TEXT = "text"  # Gradescope's output format that renders nothing: no HTML, Markdown or ANSI


def gradescope_results(result: SubmissionResult) -> dict:
    tests = []
    for exercise in result.exercises:
        for check in filter(shown, exercise.checks):
            output = for_text(check.message, MESSAGE_LIMIT) + (f"\nHint: {check.hint}" if check.hint else "")
            position = len([t for t in tests if t["number"].startswith(f"{exercise.number}.")]) + 1
            tests.append(
                {
                    "name": f"{exercise.number}. {exercise.module}.py: {check.title}",
                    "number": f"{exercise.number}.{position}",
                    "score": check.score,
                    "max_score": check.max_score,
                    "status": "passed" if check.status == PASSED else "failed",
                    "output": output,
                    "output_format": TEXT,
                    "name_format": TEXT,
                    "visibility": "visible",
                }
            )
    notes = bounded_items(result.notes + [note for exercise in result.exercises for note in exercise.notes])
    summary = f"Lesson 13 — Attention: {result.total:g} / {result.max_score:g}"
    summary += "".join(f"\n- {for_text(note, NOTE_LIMIT, one_line=True)}" for note in notes)
    return {
        "score": result.total,
        "output": summary,
        "output_format": TEXT,
        "test_output_format": TEXT,
        "test_name_format": TEXT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(result: SubmissionResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(gradescope_results(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path
