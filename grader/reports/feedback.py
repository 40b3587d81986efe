"""A feedback page per learner, in Markdown and in HTML (``page.py``): the total, a points table, and
under each exercise every check with its verdict, the failure message and the hint — a cause several
checks share once, with the checks it cost — and, in HTML, a picture where one helps.
"""

from __future__ import annotations

from grader.names import file_stem
from grader.reports.causes import STATUS_MARKS, Cause, feedback_items
from grader.reports.page import draw_pictures, feedback_html
from grader.results import PASSED, CheckResult, SubmissionResult, format_points, shown
from grader.safe_text import MESSAGE_LIMIT, SHOWN_NAME_LIMIT, bounded_items, for_markdown, markdown_code_block

__all__ = ["FEEDBACK_DIR", "draw_pictures", "feedback_filename", "feedback_html", "feedback_markdown"]

FEEDBACK_DIR = "feedback"


def feedback_filename(submission: str) -> str:
    """``<stem>.md``: the stem (also of the ``.html`` and the Gradescope file) is
    the learner's own, whatever the name (``grader.names.file_stem``)."""
    return file_stem(submission) + ".md"


def feedback_markdown(result: SubmissionResult) -> str:
    name = for_markdown(result.submission, SHOWN_NAME_LIMIT, tag=True)
    lines = [
        f"# Lesson 13 — Attention: feedback for {name}",
        "",
        f"**Total: {format_points(result.total)} / {format_points(result.max_score)}**",
        "",
    ]
    lines += [f"- {for_markdown(note)}" for note in bounded_items(result.notes)]
    lines += ["", "| # | exercise | points |", "|---|---|---|"]
    lines += [
        f"| {e.number} | `{e.module}.py` | {format_points(e.score)} / {format_points(e.max_score)} |"
        for e in result.exercises
    ]
    for exercise in result.exercises:
        lines += [
            "",
            f"## {exercise.number}. `{exercise.module}.py` — {format_points(exercise.score)} / "
            f"{format_points(exercise.max_score)}",
            "",
        ]
        lines += [f"> {for_markdown(note)}" for note in bounded_items(exercise.notes)]
        if exercise.notes:
            lines.append("")
        for item in feedback_items(list(filter(shown, exercise.checks))):
            lines += _cause(item) if isinstance(item, Cause) else _check(item)
    lines += [
        "",
        "---",
        "Checks marked ✓ passed, ✗ failed, · are not implemented yet, ⏱ ran out of time, – were not run.",
        "Exercises 4–7 are graded with the reference standing in for the earlier exercises they import,",
        "so a mistake costs points only in the exercise where it is made.",
    ]
    return "\n".join(lines) + "\n"


def _check(check: CheckResult) -> list[str]:
    mark = STATUS_MARKS.get(check.status, "✗")
    lines = [f"- {mark} {check.title} ({format_points(check.score)} / {format_points(check.max_score)})"]
    if check.status != PASSED and check.message:
        lines += ["", *markdown_code_block(check.message, MESSAGE_LIMIT, indent="  ")]
        if check.hint:
            lines.append(f"  *Hint: {check.hint}*")
        lines.append("")
    return lines


def _cause(cause: Cause) -> list[str]:
    """One cause, once, and the checks it cost."""
    lines = [f"- {STATUS_MARKS.get(cause.status, '✗')} **{cause.label}** — it cost {cause.cost}:", ""]
    lines += markdown_code_block(cause.message, MESSAGE_LIMIT, indent="  ")
    if cause.hint:
        lines.append(f"  *Hint: {cause.hint}*")
    lines.append("")
    lines += [
        f"  - {check.title} ({format_points(check.score)} / {format_points(check.max_score)})"
        for check in cause.checks
    ]
    return [*lines, ""]
