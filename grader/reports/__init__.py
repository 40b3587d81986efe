"""What a grading run writes, and where: ``grades.csv``, ``results.json``, a feedback page per learner,
Gradescope's files and the class summary.

Learner-visible text is built only from check titles, failure messages and hints — never from the
grader's source or the reference's code — and a submission's own prints are cut to a small bound.
Every learner-controlled string (names, notes, messages) goes through ``grader.safe_text`` for the
format it is written in, in the module that writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from grader.reports.feedback import FEEDBACK_DIR, feedback_filename, feedback_html, feedback_markdown
from grader.reports.gradescope import write_gradescope
from grader.reports.pictures import PICTURES_DIR
from grader.reports.summary import write_summary
from grader.reports.tables import previous_protections, write_grades, write_results
from grader.results import SubmissionResult

GRADESCOPE_DIR = "gradescope"


def write_reports(
    results: list[SubmissionResult], out: Path, protections: dict | None = None, intake=None
) -> dict[str, Path]:
    """Write every report for ``results`` under ``out``; returns what was written, by kind.

    ``protections``: the sandbox's protections in this run (None when it graded nothing: those of the
    run that wrote the last results.json are kept). ``intake``: what PATH was read as
    (``grader.intake.layout.Intake``), for summary.md: the layout, the counts and every skipped entry.
    """
    out.mkdir(parents=True, exist_ok=True)
    if protections is None:
        protections = previous_protections(out / "results.json")
    written = {
        "grades": write_grades(results, out / "grades.csv"),
        "results": write_results(results, out / "results.json", protections),
    }
    feedback, pictures = out / FEEDBACK_DIR, out / PICTURES_DIR
    feedback.mkdir(exist_ok=True)
    for result in results:
        stem = feedback_filename(result.submission).removesuffix(".md")
        retire_pictures_folder(feedback / f"{stem}_files", pictures)
        (feedback / f"{stem}.md").write_text(feedback_markdown(result), encoding="utf-8")
        (feedback / f"{stem}.html").write_text(feedback_html(result, pictures), encoding="utf-8")
        write_gradescope(result, out / GRADESCOPE_DIR / f"{stem}.json")
    written["feedback"] = feedback
    written["gradescope"] = out / GRADESCOPE_DIR
    written.update(write_summary(results, out, intake))
    return written


def retire_pictures_folder(folder: Path, pictures: Path) -> None:
    """Earlier versions kept a page's pictures beside it, in ``<stem>_files/``: its PNGs move into the
    cache (same names), and the folder goes. A folder holding anything else is not ours and stays."""
    if folder.is_symlink() or not folder.is_dir():
        return
    entries = list(folder.iterdir())
    if not all(entry.suffix == ".png" and entry.is_file() and not entry.is_symlink() for entry in entries):
        return
    pictures.mkdir(exist_ok=True)
    for entry in entries:
        os.replace(entry, pictures / entry.name)
    folder.rmdir()
