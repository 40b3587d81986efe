"""What a grading run writes: ``grades.csv``, ``results.json`` and a feedback file per learner.

Learner-visible text is built only from check titles, failure messages and hints — never from the
grader's source or the reference's code — and a submission's own prints are cut to a small bound.
Every learner-controlled string (names, notes, messages) goes through ``grader.safe_text`` for the
format it is written in, here where it is written.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from html import escape
from pathlib import Path
from statistics import mean, median

from grader.contract import EXERCISES, MODULES, TOTAL_POINTS
from grader.gradescope import write_gradescope
from grader.names import file_stem
from grader.pictures import draw_class_summary, draw_weights
from grader.results import NOT_IMPLEMENTED, PASSED, SubmissionResult, shown
from grader.safe_text import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    NOTE_LIMIT,
    SHOWN_NAME_LIMIT,
    bounded_items,
    for_csv_cell,
    for_html,
    for_json,
    for_markdown,
    markdown_code_block,
)

FEEDBACK_DIR = "feedback"
GRADESCOPE_DIR = "gradescope"
PRINTED_OUTPUT_LIMIT = 1000  # characters of a submission's own prints shown in its feedback
STATUS_MARKS = {PASSED: "✓", "failed": "✗", "not_implemented": "·", "error": "✗", "timeout": "⏱", "skipped": "–"}


def write_reports(results: list[SubmissionResult], out: Path, protections: dict | None = None) -> dict[str, Path]:
    """Write every report for ``results`` under ``out``; returns what was written, by kind.

    ``protections``: the sandbox's protections in this run (None when it graded nothing: those of the
    run that wrote the last results.json are kept).
    """
    out.mkdir(parents=True, exist_ok=True)
    if protections is None:
        protections = _previous_protections(out / "results.json")
    written = {
        "grades": write_grades(results, out / "grades.csv"),
        "results": write_results(results, out / "results.json", protections),
    }
    feedback = out / FEEDBACK_DIR
    feedback.mkdir(exist_ok=True)
    for result in results:
        stem = feedback_filename(result.submission).removesuffix(".md")
        (feedback / f"{stem}.md").write_text(feedback_markdown(result), encoding="utf-8")
        (feedback / f"{stem}.html").write_text(feedback_html(result, feedback, stem), encoding="utf-8")
        write_gradescope(result, out / GRADESCOPE_DIR / f"{stem}.json")
    written["feedback"] = feedback
    written["gradescope"] = out / GRADESCOPE_DIR
    written.update(write_summary(results, out))
    return written


def feedback_html(result: SubmissionResult, folder: Path, stem: str) -> str:
    """The Markdown feedback's content as a page, with a picture beside each failure that has one."""
    name = for_html(result.submission, SHOWN_NAME_LIMIT, one_line=True, tag=True)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>Feedback for {name}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}"
        ".passed{color:#2a7d2a}.failed{color:#b00}.hint{font-style:italic}</style>",
        f"<h1>Lesson 13 — Attention: feedback for {name}</h1>",
        f"<p><strong>Total: {_points(result.total)} / {_points(result.max_score)}</strong></p>",
    ]
    parts += [f"<p>{for_html(note, NOTE_LIMIT, one_line=True)}</p>" for note in bounded_items(result.notes)]
    for exercise in result.exercises:
        parts.append(
            f"<h2>{exercise.number}. {exercise.module}.py — {_points(exercise.score)} / {_points(exercise.max_score)}</h2>"
        )
        notes = bounded_items(exercise.notes)
        parts += [f"<blockquote>{for_html(note, NOTE_LIMIT, one_line=True)}</blockquote>" for note in notes]
        parts.append("<ul>")
        for check in filter(shown, exercise.checks):
            css = "passed" if check.status == PASSED else "failed"
            mark = STATUS_MARKS.get(check.status, "✗")
            parts.append(f"<li class='{css}'>{mark} {escape(check.title)} ({_points(check.score)} / {_points(check.max_score)})")
            if check.status != PASSED and check.message:
                parts.append(f"<pre>{for_html(check.message, MESSAGE_LIMIT)}</pre>")
                if check.hint:
                    parts.append(f"<p class='hint'>Hint: {escape(check.hint)}</p>")
                image = _picture_path(folder, stem, exercise.module, check)
                if image is not None and (image.exists() or _drawn(check.picture, image)):
                    parts.append(f"<img alt='your weights beside the expected ones' src='{stem}_files/{image.name}'>")
            parts.append("</li>")
        parts.append("</ul>")
    return "\n".join(parts) + "\n"


def draw_pictures(result: SubmissionResult, out: Path) -> None:
    """Draw the pictures ``result``'s HTML feedback will show, now (as its submission finishes) rather than at the end."""
    folder, stem = out / FEEDBACK_DIR, feedback_filename(result.submission).removesuffix(".md")
    for exercise in result.exercises:
        for check in exercise.checks:
            image = _picture_path(folder, stem, exercise.module, check)
            if image is not None and not image.exists():
                draw_weights(check.picture, image)


def _drawn(picture, image: Path) -> bool:
    """Draw ``picture`` into ``image``; a picture that cannot be drawn is left out, never a learner's feedback."""
    try:
        return bool(draw_weights(picture, image))
    except Exception:  # noqa: BLE001 - the picture's data comes from a learner's result; the page goes on without it
        return False


def _picture_path(folder: Path, stem: str, module: str, check) -> Path | None:
    """Where a failed check's picture goes (``None`` if it shows none), named by what it shows: a rerun
    that changes nothing redraws nothing."""
    if check.status == PASSED or not check.message or not check.picture:
        return None
    return folder / f"{stem}_files" / f"{module}-{check.name}-{_digest(check.picture)}.png"


def write_summary(results: list[SubmissionResult], out: Path) -> dict[str, Path]:
    """``summary.md`` (score spread per exercise, the most often failed checks) and its picture ``summary-<hash>.png``."""
    scores: dict[str, list[float]] = {e.module: [] for e in EXERCISES}
    failures: Counter = Counter()
    for result in results:
        for exercise in result.exercises:
            scores[exercise.module].append(exercise.score)
            failures.update((exercise.module, check.title) for check in filter(shown, exercise.checks) if check.status != PASSED)
    maxima = {e.module: e.points for e in EXERCISES}
    lines = [
        f"# Class summary: {len(results)} submission(s)",
        "",
        "| exercise | mean | median | full marks | zero |",
        "|---|---|---|---|---|",
    ]
    for module, values in scores.items():
        if values:
            full, zero = sum(v == maxima[module] for v in values), sum(v == 0 for v in values)
            lines.append(f"| {module} | {mean(values):.1f} / {maxima[module]} | {median(values):g} | {full} | {zero} |")
    totals = [result.total for result in results]
    if totals:
        lines += [
            "",
            f"Total: mean {mean(totals):.1f}, median {median(totals):g}, min {min(totals):g}, max {max(totals):g} (of {TOTAL_POINTS})",
        ]
    lines += ["", "## Most often failed checks", "", "| exercise | check | submissions |", "|---|---|---|"]
    lines += [f"| {module} | {title} | {count} |" for (module, title), count in failures.most_common(12)]
    written = {"summary": out / "summary.md"}
    name = f"summary-{_digest([scores, maxima])}.png"
    picture = out / name if (out / name).exists() else draw_class_summary(scores, maxima, out / name)
    if picture:
        for stale in out.glob("summary-*.png"):
            if stale.name != name:
                stale.unlink()
        lines += ["", f"![score spread per exercise]({name})"]
        written["summary_picture"] = picture
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def write_grades(results: list[SubmissionResult], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "total", "max", *MODULES])
        for result in results:
            scores = {exercise.module: exercise.score for exercise in result.exercises}
            writer.writerow(
                [
                    for_csv_cell(result.submission),
                    _points(result.total),
                    _points(result.max_score),
                    *(_points(scores.get(m, 0)) for m in MODULES),
                ]
            )
    return path


def _previous_protections(path: Path) -> dict:
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


def feedback_filename(submission: str) -> str:
    """``<stem>.md``: the stem (also of the ``.html``, its pictures' folder and the Gradescope file) is
    the learner's own, whatever the name (``grader.names.file_stem``)."""
    return file_stem(submission) + ".md"


def feedback_markdown(result: SubmissionResult) -> str:
    name = for_markdown(result.submission, SHOWN_NAME_LIMIT, tag=True)
    lines = [
        f"# Lesson 13 — Attention: feedback for {name}",
        "",
        f"**Total: {_points(result.total)} / {_points(result.max_score)}**",
        "",
    ]
    lines += [f"- {for_markdown(note)}" for note in bounded_items(result.notes)]
    lines += ["", "| # | exercise | points |", "|---|---|---|"]
    lines += [f"| {e.number} | `{e.module}.py` | {_points(e.score)} / {_points(e.max_score)} |" for e in result.exercises]
    for exercise in result.exercises:
        lines += [
            "",
            f"## {exercise.number}. `{exercise.module}.py` — {_points(exercise.score)} / {_points(exercise.max_score)}",
            "",
        ]
        lines += [f"> {for_markdown(note)}" for note in bounded_items(exercise.notes)]
        if exercise.notes:
            lines.append("")
        checks = list(filter(shown, exercise.checks))
        messages = {check.message for check in checks}
        if len(messages) == 1 and all(check.status == NOT_IMPLEMENTED for check in checks):
            lines += [f"Not implemented yet: {for_markdown(messages.pop(), MESSAGE_LIMIT)}", ""]
            lines += [f"- · {check.title} (0 / {_points(check.max_score)})" for check in checks]
            continue
        for check in checks:
            mark = STATUS_MARKS.get(check.status, "✗")
            lines.append(f"- {mark} {check.title} ({_points(check.score)} / {_points(check.max_score)})")
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


def truncate_output(text: str, limit: int = PRINTED_OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters cut)"


def _points(value: float) -> str:
    return f"{value:g}"
