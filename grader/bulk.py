"""Grading a class: find the submissions, grade what is new or changed, record each as it finishes, report.

This module imports neither PyTorch nor the checks until there is something to grade, so a rerun
with nothing left to do returns at once.

The run first says what PATH was taken for (one submission, a class folder, nbgrader's collected
work) and why, and every submission found gets a row: one whose record is missing at the end (its
recording failed) gets a row that says so rather than none.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

from grader.contract import EXERCISES
from grader.exits import EXIT_OK, EXIT_UNSAFE, EXIT_USAGE, UsageError
from grader.gradebook import Gradebook, submission_fingerprint
from grader.intake import confined
from grader.intake.layout import detect_layout, discover
from grader.intake.submission import Submission
from grader.reports import GRADESCOPE_DIR, write_reports
from grader.reports.feedback import draw_pictures
from grader.reports.pictures import preload
from grader.reports.progress import Progress
from grader.results import SubmissionResult
from grader.safe_text import SHOWN_NAME_LIMIT, for_terminal
from grader.sandbox.forkserver import launch_in_new_workdir
from grader.sandbox.protections import MissingProtection
from grader.sandbox.scratch_folders import LockedFolder
from grader.settings import Settings

PROTECTION_LIMIT = 400
LAYOUT_MESSAGE_LIMIT = 1000  # the reason can name entries of the class: learner-chosen names
USAGE_ERROR_LIMIT = 1000  # a usage error can name entries of the class folder: learner-chosen names


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
        todo = [
            s for s in submissions if s.name in regrade or not gradebook.is_current(s, fingerprints[s.name])
        ]
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


def _grade_all(
    submissions, fingerprints, gradebook, out, jobs, settings, forbidden_paths, progress_stream
) -> dict:
    """Grade ``submissions``; returns the sandbox's protections, which are printed before anything is
    graded."""
    # The fork server imports PyTorch on one core while this process imports it (and the checks) on another.
    launched = launch_in_new_workdir()
    try:
        from grader.grading import grade_submissions  # PyTorch and the checks: only when there is work
        from grader.sandbox.runner import Runner

        def announce(protections: dict) -> None:  # once, before the first learner code runs
            for name, status in protections.items():
                print(
                    f"sandbox: {name}: {for_terminal(status, PROTECTION_LIMIT)}",
                    file=progress_stream,
                    flush=True,
                )

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

        # A session that lacks a protection raises MissingProtection before its learner code runs, and stops
        # the run.
        grade_submissions(
            submissions, runner, record, jobs=jobs, settings=settings, forbidden_paths=forbidden_paths
        )
        protections = runner.isolation_report()
    progress.close()
    return protections


def grade_command(
    *, path: Path, out: Path, jobs: int, settings: Settings, regrade: tuple[str, ...] = ()
) -> int:
    """``grader grade``: grade PATH into OUT and say so; grading that ran is a success whatever the scores."""
    started = time.monotonic()
    try:
        results = grade(path, out=out, jobs=jobs, settings=settings, regrade=regrade)
    except UsageError as error:
        print(f"grader grade: {for_terminal(error, USAGE_ERROR_LIMIT)}", file=sys.stderr)
        return EXIT_USAGE
    except MissingProtection as error:
        print(f"grader grade: {error}", file=sys.stderr)
        return EXIT_UNSAFE
    mean = sum(r.total for r in results) / len(results) if results else 0.0
    print(
        f"graded {len(results)} submission(s) in {time.monotonic() - started:.1f} s, mean {mean:.1f}/100; "
        f"wrote {out / 'grades.csv'}, {out / 'results.json'} and {out / 'feedback'}/",
        file=sys.stderr,
    )
    troubled = [r.submission for r in results if confined.hit(r)]
    if troubled:  # learner-chosen names: shown through for_terminal, a few of them
        shown = ", ".join(for_terminal(name, SHOWN_NAME_LIMIT, tag=True) for name in troubled[:5])
        print(
            f"{len(troubled)} submission(s) hit a limit or an error of the grader, confined to their own "
            f"rows (notes starting with {confined.MARK.strip()} in results.json and their feedback): {shown}"
            + (f" and {len(troubled) - 5} more" if len(troubled) > 5 else ""),
            file=sys.stderr,
        )
    return EXIT_OK


def gradescope_command(
    *, submission: Path, results: Path, jobs: int = 1, accepted_risks: tuple[str, ...] = ()
) -> int:
    """``grader gradescope``: grade one submission and write Gradescope's ``results.json``
    (``run_autograder``)."""
    with LockedFolder("gradescope-") as out:
        try:
            (result,) = grade(
                submission, out=Path(out), jobs=jobs, settings=Settings(accepted_risks=accepted_risks)
            )
        except MissingProtection as error:
            print(f"grader gradescope: {error}", file=sys.stderr)
            return EXIT_UNSAFE
        except UsageError as error:
            print(f"grader gradescope: {for_terminal(error, USAGE_ERROR_LIMIT)}", file=sys.stderr)
            return EXIT_USAGE
        except ValueError:
            print(
                f"grader gradescope: {submission} holds several submissions; Gradescope grades one",
                file=sys.stderr,
            )
            return EXIT_USAGE
        (written,) = (Path(out) / GRADESCOPE_DIR).glob("*.json")
        results.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(written, results)
    name = for_terminal(result.submission, SHOWN_NAME_LIMIT, tag=True)
    print(f"{name}: {result.total:g}/{result.max_score:g}; wrote {results}", file=sys.stderr)
    return EXIT_OK
