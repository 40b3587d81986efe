"""A feedback page per learner, in Markdown and in HTML: the total, a points table, and under each
exercise every check with its verdict, the failure message and the hint, and a picture where one helps.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from grader.names import file_stem
from grader.reports.pictures import content_digest, draw_weights
from grader.results import NOT_IMPLEMENTED, PASSED, SubmissionResult, format_points, shown
from grader.safe_text import (
    MESSAGE_LIMIT,
    NOTE_LIMIT,
    SHOWN_NAME_LIMIT,
    bounded_items,
    for_html,
    for_markdown,
    markdown_code_block,
)

FEEDBACK_DIR = "feedback"
STATUS_MARKS = {
    PASSED: "✓",
    "failed": "✗",
    "not_implemented": "·",
    "error": "✗",
    "timeout": "⏱",
    "skipped": "–",
}


def feedback_filename(submission: str) -> str:
    """``<stem>.md``: the stem (also of the ``.html``, its pictures' folder and the Gradescope file) is
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
        checks = list(filter(shown, exercise.checks))
        messages = {check.message for check in checks}
        if len(messages) == 1 and all(check.status == NOT_IMPLEMENTED for check in checks):
            lines += [f"Not implemented yet: {for_markdown(messages.pop(), MESSAGE_LIMIT)}", ""]
            lines += [f"- · {check.title} (0 / {format_points(check.max_score)})" for check in checks]
            continue
        for check in checks:
            mark = STATUS_MARKS.get(check.status, "✗")
            lines.append(
                f"- {mark} {check.title} ({format_points(check.score)} / {format_points(check.max_score)})"
            )
            if check.status != PASSED and check.message:
                lines += ["", *markdown_code_block(check.message, MESSAGE_LIMIT, indent="  ")]
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


def feedback_html(result: SubmissionResult, folder: Path, stem: str) -> str:
    """The Markdown feedback's content as a page, with a picture beside each failure that has one."""
    name = for_html(result.submission, SHOWN_NAME_LIMIT, one_line=True, tag=True)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>Feedback for {name}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}"
        ".passed{color:#2a7d2a}.failed{color:#b00}.hint{font-style:italic}</style>",
        f"<h1>Lesson 13 — Attention: feedback for {name}</h1>",
        f"<p><strong>Total: {format_points(result.total)} / {format_points(result.max_score)}</strong></p>",
    ]
    parts += [f"<p>{for_html(note, NOTE_LIMIT, one_line=True)}</p>" for note in bounded_items(result.notes)]
    for exercise in result.exercises:
        parts.append(
            f"<h2>{exercise.number}. {exercise.module}.py — {format_points(exercise.score)} / "
            f"{format_points(exercise.max_score)}</h2>"
        )
        notes = bounded_items(exercise.notes)
        parts += [f"<blockquote>{for_html(note, NOTE_LIMIT, one_line=True)}</blockquote>" for note in notes]
        parts.append("<ul>")
        for check in filter(shown, exercise.checks):
            css = "passed" if check.status == PASSED else "failed"
            mark = STATUS_MARKS.get(check.status, "✗")
            parts.append(
                f"<li class='{css}'>{mark} {escape(check.title)} ({format_points(check.score)} / "
                f"{format_points(check.max_score)})"
            )
            if check.status != PASSED and check.message:
                parts.append(f"<pre>{for_html(check.message, MESSAGE_LIMIT)}</pre>")
                if check.hint:
                    parts.append(f"<p class='hint'>Hint: {escape(check.hint)}</p>")
                image = _picture_path(folder, stem, exercise.module, check)
                if image is not None and (image.exists() or _drawn(check.picture, image)):
                    parts.append(
                        f"<img alt='your weights beside the expected ones' src='{stem}_files/{image.name}'>"
                    )
            parts.append("</li>")
        parts.append("</ul>")
    return "\n".join(parts) + "\n"


def draw_pictures(result: SubmissionResult, out: Path) -> None:
    """Draw the pictures ``result``'s HTML feedback will show, now (as its submission finishes) rather than at
    the end."""
    folder, stem = out / FEEDBACK_DIR, feedback_filename(result.submission).removesuffix(".md")
    for exercise in result.exercises:
        for check in exercise.checks:
            image = _picture_path(folder, stem, exercise.module, check)
            if image is not None and not image.exists():
                draw_weights(check.picture, image)


def _drawn(picture, image: Path) -> bool:
    """Draw ``picture`` into ``image``; a picture that cannot be drawn is left out, never a learner's
    feedback."""
    try:
        return bool(draw_weights(picture, image))
    except Exception:  # noqa: BLE001 - the picture's data comes from a learner's result; the page goes on without it
        return False


def _picture_path(folder: Path, stem: str, module: str, check) -> Path | None:
    """Where a failed check's picture goes (``None`` if it shows none), named by what it shows: a rerun
    that changes nothing redraws nothing."""
    if check.status == PASSED or not check.message or not check.picture:
        return None
    return folder / f"{stem}_files" / f"{module}-{check.name}-{content_digest(check.picture)}.png"
