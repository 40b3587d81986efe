"""What a grading run writes: ``grades.csv``, ``results.json`` and a feedback file per learner.

Learner-visible text is built only from check titles, failure messages and hints — never from the
grader's source or the reference's code — and a submission's own prints are cut to a small bound.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from html import escape
from pathlib import Path
from statistics import mean, median

from grader.contract import EXERCISES, MODULES, TOTAL_POINTS
from grader.gradescope import write_gradescope
from grader.pictures import draw_class_summary, draw_weights
from grader.results import NOT_IMPLEMENTED, PASSED, SubmissionResult, shown

FEEDBACK_DIR = "feedback"
GRADESCOPE_DIR = "gradescope"
PRINTED_OUTPUT_LIMIT = 1000  # characters of a submission's own prints shown in its feedback
STATUS_MARKS = {PASSED: "✓", "failed": "✗", "not_implemented": "·", "error": "✗", "timeout": "⏱", "skipped": "–"}


def write_reports(results: list[SubmissionResult], out: Path) -> dict[str, Path]:
    """Write every report for ``results`` under ``out``; returns what was written, by kind."""
    out.mkdir(parents=True, exist_ok=True)
    written = {"grades": write_grades(results, out / "grades.csv"), "results": write_results(results, out / "results.json")}
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
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>Feedback for {escape(result.submission)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}"
        ".passed{color:#2a7d2a}.failed{color:#b00}.hint{font-style:italic}</style>",
        f"<h1>Lesson 13 — Attention: feedback for {escape(result.submission)}</h1>",
        f"<p><strong>Total: {_points(result.total)} / {_points(result.max_score)}</strong></p>",
    ]
    parts += [f"<p>{escape(note)}</p>" for note in result.notes]
    for exercise in result.exercises:
        parts.append(
            f"<h2>{exercise.number}. {exercise.module}.py — {_points(exercise.score)} / {_points(exercise.max_score)}</h2>"
        )
        parts += [f"<blockquote>{escape(note)}</blockquote>" for note in exercise.notes]
        parts.append("<ul>")
        for check in filter(shown, exercise.checks):
            css = "passed" if check.status == PASSED else "failed"
            mark = STATUS_MARKS.get(check.status, "✗")
            parts.append(f"<li class='{css}'>{mark} {escape(check.title)} ({_points(check.score)} / {_points(check.max_score)})")
            if check.status != PASSED and check.message:
                parts.append(f"<pre>{escape(check.message)}</pre>")
                if check.hint:
                    parts.append(f"<p class='hint'>Hint: {escape(check.hint)}</p>")
                image = _picture_path(folder, stem, exercise.module, check)
                if image is not None and (image.exists() or draw_weights(check.picture, image)):
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
    lines += [f"- {_markdown_text(note)}" for note in result.notes]
    lines += ["", "| # | exercise | points |", "|---|---|---|"]
    lines += [f"| {e.number} | `{e.module}.py` | {_points(e.score)} / {_points(e.max_score)} |" for e in result.exercises]
    for exercise in result.exercises:
        lines += [
            "",
            f"## {exercise.number}. `{exercise.module}.py` — {_points(exercise.score)} / {_points(exercise.max_score)}",
            "",
        ]
        lines += [f"> {_markdown_text(note)}" for note in exercise.notes]
        if exercise.notes:
            lines.append("")
        checks = list(filter(shown, exercise.checks))
        messages = {check.message for check in checks}
        if len(messages) == 1 and all(check.status == NOT_IMPLEMENTED for check in checks):
            lines += [f"Not implemented yet: {messages.pop()}", ""]
            lines += [f"- · {check.title} (0 / {_points(check.max_score)})" for check in checks]
            continue
        for check in checks:
            mark = STATUS_MARKS.get(check.status, "✗")
            lines.append(f"- {mark} {check.title} ({_points(check.score)} / {_points(check.max_score)})")
            if check.status != PASSED and check.message:
                fenced = check.message.replace("`" * 3, "'" * 3)  # the learner's text cannot close the fence
                lines += ["", "  ```", *[f"  {line}" for line in fenced.splitlines()], "  ```"]
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


def _markdown_text(text: str) -> str:
    """Learner-controlled text (prints, exception messages) shown as text, never as markup."""
    for special in ("\\", "`", "*", "_", "[", "]"):
        text = text.replace(special, "\\" + special)
    return escape(text, quote=False)


def _points(value: float) -> str:
    return f"{value:g}"
