"""The HTML feedback page: one self-contained file per learner, to upload to an LMS as it is.

Everything the page shows is inside it: its styles, a points table, and each failed check's picture
as a ``data:`` PNG — at most ``PICTURES_SHOWN`` of them, so a page with dozens of failures stays
small. Its Content-Security-Policy lets it load nothing else and run no script. The pictures are drawn
once, into ``DIR/.pictures/`` under names that say what they show: a rerun, or a second pass of the
reports, reads them back instead of drawing them again.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from grader.reports.causes import STATUS_MARKS, Cause, feedback_items
from grader.reports.pictures import PICTURES_DIR, cached_png, content_digest
from grader.results import PASSED, CheckResult, SubmissionResult, format_points, shown
from grader.safe_text import MESSAGE_LIMIT, NOTE_LIMIT, SHOWN_NAME_LIMIT, bounded_items, for_html

PICTURES_SHOWN = 12  # per page: about 50 kB each, embedded
PICTURE_ALT = "your weights beside the expected ones"
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
    "pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .7em;text-align:right}"
    "th:nth-child(2),td:nth-child(2){text-align:left}tr.total td{font-weight:bold}"
    "img{max-width:100%;height:auto}li{margin:.3em 0}"
    ".passed{color:#2a7d2a}.failed{color:#b00}.failed pre,.failed ul,.note{color:#222}"
    ".hint{font-style:italic}.note,footer{font-size:90%;color:#555}"
)
LEGEND = (
    "Checks marked ✓ passed, ✗ failed, · are not implemented yet, ⏱ ran out of time, – were not run. "
    "Exercises 4–7 are graded with the reference standing in for the earlier exercises they import, "
    "so a mistake costs points only in the exercise where it is made."
)


def feedback_html(result: SubmissionResult, pictures: Path) -> str:
    """The Markdown feedback's content as one page that needs no other file: the learner's weights
    beside the expected ones where a failure has a picture (drawn into, or read from, ``pictures``)."""
    name = for_html(result.submission, SHOWN_NAME_LIMIT, one_line=True, tag=True)
    pictured = pictured_checks(result)
    embedded = {id(check) for _, check in pictured[:PICTURES_SHOWN]}
    parts = [
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Feedback for {name}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Lesson 13 — Attention: feedback for {name}</h1>",
        f"<p><strong>Total: {format_points(result.total)} / {format_points(result.max_score)}</strong></p>",
    ]
    parts += [f"<p>{for_html(note, NOTE_LIMIT, one_line=True)}</p>" for note in bounded_items(result.notes)]
    parts += points_table(result)
    if len(pictured) > PICTURES_SHOWN:
        parts.append(
            f"<p class='note'>This page shows the pictures of the first {PICTURES_SHOWN} of the "
            f"{len(pictured)} failed checks that have one; the others' messages say what differs.</p>"
        )
    for exercise in result.exercises:
        module = escape(exercise.module)
        parts.append(
            f"<h2 id='{module}'>{exercise.number}. {module}.py — "
            f"{format_points(exercise.score)} / {format_points(exercise.max_score)}</h2>"
        )
        notes = bounded_items(exercise.notes)
        parts += [f"<blockquote>{for_html(note, NOTE_LIMIT, one_line=True)}</blockquote>" for note in notes]
        parts.append("<ul>")
        for item in feedback_items(list(filter(shown, exercise.checks))):
            if isinstance(item, Cause):
                parts += _cause(item)
            else:
                picture = _picture(pictures, exercise.module, item) if id(item) in embedded else None
                parts += _check(item, picture)
        parts.append("</ul>")
    parts.append(f"<footer><p>{LEGEND}</p></footer></body></html>")
    return "\n".join(parts) + "\n"


def points_table(result: SubmissionResult) -> list[str]:
    """Exercise, points and max per exercise, and the total: the page's first answer."""
    rows = [
        f"<tr><td>{e.number}</td><td><a href='#{escape(e.module)}'>{escape(e.module)}.py</a></td>"
        f"<td>{format_points(e.score)}</td><td>{format_points(e.max_score)}</td></tr>"
        for e in result.exercises
    ]
    total = (
        f"<tr class='total'><td></td><td>total</td><td>{format_points(result.total)}</td>"
        f"<td>{format_points(result.max_score)}</td></tr>"
    )
    header = "<tr><th>#</th><th>exercise</th><th>points</th><th>max</th></tr>"
    return ["<table class='points'>", header, *rows, total, "</table>"]


def pictured_checks(result: SubmissionResult) -> list[tuple[str, CheckResult]]:
    """``(module, check)`` for every shown failure that has a picture, in the page's order."""
    return [
        (exercise.module, check)
        for exercise in result.exercises
        for check in filter(shown, exercise.checks)
        if picture_path(Path(), exercise.module, check) is not None
    ]


def picture_path(pictures: Path, module: str, check: CheckResult) -> Path | None:
    """Where a failed check's picture is kept (``None`` if it has none), named by what it shows: a rerun
    that changes nothing draws nothing, and two learners with the same weights share one file."""
    if check.status == PASSED or not check.message or not check.picture:
        return None
    return pictures / f"{module}-{check.name}-{content_digest(check.picture)}.png"


def draw_pictures(result: SubmissionResult, out: Path) -> None:
    """Draw the pictures ``result``'s page will embed now, as its submission finishes, rather than all
    at the end."""
    for module, check in pictured_checks(result)[:PICTURES_SHOWN]:
        cached_png(check.picture, picture_path(out / PICTURES_DIR, module, check))


def _check(check: CheckResult, picture: bytes | None) -> list[str]:
    css = "passed" if check.status == PASSED else "failed"
    mark = STATUS_MARKS.get(check.status, "✗")
    parts = [
        f"<li class='{css}'>{mark} {escape(check.title)} ({format_points(check.score)} / "
        f"{format_points(check.max_score)})"
    ]
    if check.status != PASSED and check.message:
        parts.append(f"<pre>{for_html(check.message, MESSAGE_LIMIT)}</pre>")
        if check.hint:
            parts.append(f"<p class='hint'>Hint: {escape(check.hint)}</p>")
        if picture is not None:
            encoded = base64.b64encode(picture).decode("ascii")
            parts.append(f"<img alt='{PICTURE_ALT}' src='data:image/png;base64,{encoded}'>")
        elif check.picture:
            parts.append(f"<p class='note'>(No picture here: this page shows at most {PICTURES_SHOWN}.)</p>")
    parts.append("</li>")
    return parts


def _cause(cause: Cause) -> list[str]:
    """One cause, once, and the checks it cost."""
    mark = STATUS_MARKS.get(cause.status, "✗")
    parts = [
        f"<li class='failed'>{mark} <strong>{escape(cause.label)}</strong> — it cost {cause.cost}:",
        f"<pre>{for_html(cause.message, MESSAGE_LIMIT)}</pre>",
    ]
    if cause.hint:
        parts.append(f"<p class='hint'>Hint: {escape(cause.hint)}</p>")
    parts.append("<ul>")
    parts += [
        f"<li>{escape(check.title)} ({format_points(check.score)} / {format_points(check.max_score)})</li>"
        for check in cause.checks
    ]
    parts.append("</ul></li>")
    return parts


def _picture(pictures: Path, module: str, check: CheckResult) -> bytes | None:
    return cached_png(check.picture, picture_path(pictures, module, check))
