"""Grading a class: find the submissions, grade what is new or changed, record each as it finishes, report.

This module imports neither PyTorch nor the checks until there is something to grade, so a rerun
with nothing left to do returns at once.

The run first says what PATH was taken for (one submission, a class folder, nbgrader's collected
work) and why, and every submission found gets a row: one whose record is missing at the end (its
recording failed) gets a row that says so rather than none.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from grader.contract import EXERCISES
from grader.forkserver import launch_in_new_workdir
from grader.gradebook import Gradebook, submission_fingerprint
from grader.pictures import preload
from grader.progress import Progress
from grader.report import draw_pictures, write_reports
from grader.results import SubmissionResult
from grader.safe_text import for_terminal
from grader.scratch_folders import LockedFolder
from grader.settings import Settings
from grader.submission import Submission, UsageError, detect_layout, discover

PROTECTION_LIMIT = 400
LAYOUT_MESSAGE_LIMIT = 1000  # the reason can name entries of the class: learner-chosen names


def grade(
    path: Path,
    *,
    out: Path,
    jobs: int = 1,
    settings: Settings = Settings(),
    regrade: tuple[str, ...] = (),
    progress_stream=None,
) -> list[SubmissionResult]:
    """Grade the submission or class at ``path`` and write the reports under ``out``.

    Each result is recorded under ``out`` as soon as its submission finishes; submissions already
    recorded with the same files and the same grader are not graded again (``regrade`` names the
    ones to redo anyway), so a killed run resumes where it stopped.
    """
    out = Path(out)
    layout = detect_layout(Path(path))
    stream = progress_stream or sys.stderr
    print(f"layout: {for_terminal(layout, LAYOUT_MESSAGE_LIMIT)}", file=stream, flush=True)
    gradebook = Gradebook(out)
    protections = None
    with LockedFolder("grader-unpacked-") as unpacked:
        submissions = discover(Path(path), unpacked, layout)
        unknown = set(regrade) - {s.name for s in submissions}
        if unknown:
            raise UsageError(f"--regrade {', '.join(sorted(unknown))}: no such submission in {path}")
        fingerprints = {s.name: submission_fingerprint(s) for s in submissions}
        todo = [s for s in submissions if s.name in regrade or not gradebook.is_current(s, fingerprints[s.name])]
        if todo:
            forbidden = [Path(path).resolve(), out.resolve()]
            protections = _grade_all(todo, fingerprints, gradebook, out, jobs, settings, forbidden, stream)
    results = [gradebook.load(s.name) or _unrecorded(s) for s in submissions]
    write_reports(results, out, protections=protections)
    return results


def _unrecorded(submission: Submission) -> SubmissionResult:
    """A row for a submission whose record cannot be read back: no points, and why."""
    from grader.grading import ungradable_exercise  # PyTorch and the checks: only when it happens

    reason = "its result could not be recorded or read back; grade it again with --regrade"
    return SubmissionResult(submission.name, [ungradable_exercise(e, reason) for e in EXERCISES])


def _grade_all(submissions, fingerprints, gradebook, out, jobs, settings, forbidden_paths, progress_stream) -> dict:
    """Grade ``submissions``; returns the sandbox's protections, which are printed before anything is graded."""
    # The fork server imports PyTorch on one core while this process imports it (and the checks) on another.
    launched = launch_in_new_workdir()
    try:
        from grader.grading import grade_submissions  # PyTorch and the checks: only when there is work
        from grader.runner import Runner

        def announce(protections: dict) -> None:  # once, before the first learner code runs
            for name, status in protections.items():
                print(f"sandbox: {name}: {for_terminal(status, PROTECTION_LIMIT)}", file=progress_stream, flush=True)

        runner = Runner(launched=launched, accepted_risks=settings.accepted_risks, announce=announce)
    except BaseException:
        launched.discard()
        raise

    with runner:
        # The reports draw with matplotlib: import it while the fork server is still importing PyTorch.
        threading.Thread(target=preload, name="preload-matplotlib", daemon=True).start()
        progress = Progress(len(submissions), progress_stream)

        def record(result: SubmissionResult) -> None:
            gradebook.save(result, fingerprints[result.submission])
            progress.done(result)
            try:
                draw_pictures(result, out)  # while other workers grade, not all at the end
            except Exception:  # noqa: BLE001 - a picture is never worth a grade; the reports try once more at the end
                pass

        # A session that lacks a protection raises MissingProtection before its learner code runs, and stops the run.
        grade_submissions(submissions, runner, record, jobs=jobs, settings=settings, forbidden_paths=forbidden_paths)
        protections = runner.isolation_report()
    progress.close()
    return protections
