"""``summary.md``: how the class did, exercise by exercise, and the checks it failed most often."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from statistics import mean, median

from grader.contract import EXERCISES, TOTAL_POINTS
from grader.reports.pictures import content_digest, draw_class_summary
from grader.results import PASSED, SubmissionResult, shown
from grader.safe_text import NOTE_LIMIT, SHOWN_NAME_LIMIT, for_markdown

MAX_SKIPPED_ROWS = 2000  # a class export's strays; more are counted, not listed


def write_summary(results: list[SubmissionResult], out: Path, intake=None) -> dict[str, Path]:
    """``summary.md`` (what PATH was read as, score spread per exercise, the most often failed checks) and
    its picture ``summary-<hash>.png``. ``intake``: a ``grader.intake.layout.Intake`` (None: no section)."""
    scores: dict[str, list[float]] = {e.module: [] for e in EXERCISES}
    failures: Counter = Counter()
    for result in results:
        for exercise in result.exercises:
            scores[exercise.module].append(exercise.score)
            failures.update(
                (exercise.module, check.title)
                for check in filter(shown, exercise.checks)
                if check.status != PASSED
            )
    maxima = {e.module: e.points for e in EXERCISES}
    lines = [
        f"# Class summary: {len(results)} submission(s)",
        "",
        *_intake_lines(intake),
        "| exercise | mean | median | full marks | zero |",
        "|---|---|---|---|---|",
    ]
    for module, values in scores.items():
        if values:
            full, zero = sum(v == maxima[module] for v in values), sum(v == 0 for v in values)
            lines.append(
                f"| {module} | {mean(values):.1f} / {maxima[module]} | {median(values):g} | {full} | {zero} |"
            )
    totals = [result.total for result in results]
    if totals:
        lines += [
            "",
            f"Total: mean {mean(totals):.1f}, median {median(totals):g}, min {min(totals):g}, max "
            f"{max(totals):g} (of {TOTAL_POINTS})",
        ]
    lines += ["", "## Most often failed checks", "", "| exercise | check | submissions |", "|---|---|---|"]
    lines += [f"| {module} | {title} | {count} |" for (module, title), count in failures.most_common(12)]
    written = {"summary": out / "summary.md"}
    name = f"summary-{content_digest([scores, maxima])}.png"
    picture = out / name if (out / name).exists() else draw_class_summary(scores, maxima, out / name)
    if picture:
        for stale in out.glob("summary-*.png"):
            if stale.name != name:
                stale.unlink()
        lines += ["", f"![score spread per exercise]({name})"]
        written["summary_picture"] = picture
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def _intake_lines(intake) -> list[str]:
    """What PATH was read as, the counts, and every entry that is no one's, with why."""
    if intake is None:
        return []
    layout = for_markdown(str(intake.layout), NOTE_LIMIT)
    lines = ["## What was graded", "", f"- layout: {layout}", f"- found: {for_markdown(intake.counts())}"]
    if intake.skipped:
        lines += ["", f"Skipped ({len(intake.skipped)}), none of them a learner's submission:", ""]
        lines += ["| entry | why |", "|---|---|"]
        for name, reason in intake.skipped[:MAX_SKIPPED_ROWS]:
            lines.append(f"| {for_markdown(name, SHOWN_NAME_LIMIT, tag=True)} | {for_markdown(reason)} |")
        if len(intake.skipped) > MAX_SKIPPED_ROWS:
            lines.append(f"| … | and {len(intake.skipped) - MAX_SKIPPED_ROWS} more |")
    return [*lines, "", "## Scores", ""]
