"""Grading a class: find the submissions, grade what is new or changed, record each as it finishes, report.

This module imports neither PyTorch nor the checks until there is something to grade, so a rerun
with nothing left to do returns at once.

The run first says what PATH was taken for (one submission, a class folder, nbgrader's collected
work) and why, and every submission found gets a row: one whose record is missing at the end (its
recording failed) gets a row that says so rather than none.
"""

from __future__ import annotations

import contextlib
import difflib
import shutil
import sys
import threading
import time
from pathlib import Path

from grader.contract import EXERCISES
from grader.exits import EXIT_OK, EXIT_UNSAFE, EXIT_USAGE, UsageError
from grader.gradebook import Gradebook, submission_fingerprint
from grader.intake import confined
from grader.intake.layout import ONE_SUBMISSION, Intake, take_in
from grader.intake.submission import Submission
from grader.reports import GRADESCOPE_DIR, write_reports
from grader.reports.meanwhile import PicturesMeanwhile
from grader.reports.pictures import preload
from grader.reports.progress import Progress, write_line
from grader.results import SubmissionResult
from grader.safe_text import SHOWN_NAME_LIMIT, bounded, for_terminal
from grader.sandbox.forkserver import launch_in_new_workdir
from grader.sandbox.protections import MissingProtection
from grader.sandbox.scratch_folders import LockedFolder
from grader.settings import Settings

PROTECTION_LIMIT = 400
LAYOUT_MESSAGE_LIMIT = 1000  # the reason can name entries of the class: learner-chosen names
SHOWN_SKIPPED = 20  # skipped entries named on the console; summary.md lists them all
USAGE_ERROR_LIMIT = 1000  # a usage error can name entries of the class folder: learner-chosen names
CLOSE_NAMES = 3  # names offered for a misspelt --regrade NAME
CLOSE_NAME_LIMIT = 80  # each of them learner-chosen: cut, with a hash


class RunResults(list):
    """What ``grade`` returns: one ``SubmissionResult`` per submission found, in order, and ``graded_now``,
    how many of them this run graded; the others were recorded already, by this grader with the same
    files, and kept."""

    def __init__(self, results: list[SubmissionResult], *, graded_now: int):
        super().__init__(results)
        self.graded_now = graded_now


def grade(
    path: Path,
    *,
    out: Path,
    jobs: int = 1,
    settings: Settings = Settings(),
    regrade: tuple[str, ...] = (),
    progress_stream=None,
    layout: str | None = None,
    cluster=None,
) -> RunResults:
    """Grade the submission or class at ``path`` and write the reports under ``out``.

    Each result is recorded under ``out`` as soon as its submission finishes; submissions already
    recorded with the same files and the same grader are not graded again (``regrade`` names the
    ones to redo anyway, by name or by LMS id), so a killed run resumes where it stopped. ``layout``
    forces what PATH is read as (one of ``grader.intake.layout.CHOICES``' values). ``cluster`` (a
    ``grader.cluster.address.ClusterAddress``) grades on a Dask cluster instead of ``jobs`` workers here.
    """
    out = Path(out)
    stream = progress_stream or sys.stderr
    gradebook = Gradebook(out)
    protections = None
    with contextlib.ExitStack() as closing:  # a cluster of its own closes while the reports are written
        with LockedFolder("grader-unpacked-") as unpacked:
            intake = take_in(Path(path), unpacked, forced=layout)
            _announce(intake, stream)
            submissions = intake.submissions
            names, by_lms_id = (
                {s.name for s in submissions},
                {s.identity.id: s.name for s in submissions if s.identity.id},
            )
            regrade = tuple(name if name in names else by_lms_id.get(name, name) for name in regrade)
            unknown = set(regrade) - {s.name for s in submissions}
            if unknown:
                raise UsageError(_no_such_submission(unknown, [s.name for s in submissions], path))
            fingerprints = {s.name: submission_fingerprint(s) for s in submissions}
            todo = [
                s
                for s in submissions
                if s.name in regrade or not gradebook.is_current(s, fingerprints[s.name])
            ]
            if todo:
                forbidden = [Path(path).resolve(), out.resolve()]
                if cluster is None:
                    protections = _grade_all(
                        todo, fingerprints, gradebook, out, jobs, settings, forbidden, stream
                    )
                else:
                    protections = _grade_on_cluster(
                        todo, fingerprints, gradebook, out, cluster, settings, forbidden, stream, closing
                    )
        results = [_as_found(gradebook.load(s.name) or _unrecorded(s), s) for s in submissions]
        write_reports(results, out, protections=protections, intake=intake)
    return RunResults(results, graded_now=len(todo))


def _no_such_submission(unknown: set[str], names: list[str], path: Path) -> str:
    """The usage error for --regrade names that match no submission, with the names each may have meant."""
    wanted = sorted(unknown)
    close = {name: difflib.get_close_matches(name, names, n=CLOSE_NAMES) for name in wanted}
    meant = [
        " or ".join(bounded(match, CLOSE_NAME_LIMIT, tag=True) for match in matches)
        + (f" (for {name})" if len(wanted) > 1 else "")
        for name, matches in close.items()
        if matches
    ][:CLOSE_NAMES]
    guess = f"; did you mean {', '.join(meant)}?" if meant else ""
    return f"--regrade {', '.join(wanted)}: no such submission in {path}{guess}"


def _as_found(result: SubmissionResult, submission: Submission) -> SubmissionResult:
    """``result`` with who the learner is and the intake's notes, from this run's reading of PATH (a
    record keeps neither: an export's names can change without the learner's files changing)."""
    result.identity = submission.identity
    result.notes = [*submission.notes, *result.notes]
    return result


def _announce(intake: Intake, stream) -> None:
    """The layout and why, the counts, and every entry that is no one's, with why (the first few here; all
    of them in summary.md)."""
    print(f"layout: {for_terminal(intake.layout, LAYOUT_MESSAGE_LIMIT)}", file=stream, flush=True)
    print(f"found: {intake.counts()}", file=stream, flush=True)
    for name, reason in intake.skipped[:SHOWN_SKIPPED]:
        shown = for_terminal(name, SHOWN_NAME_LIMIT, tag=True)
        print(f"skipped: {shown}: {for_terminal(reason, LAYOUT_MESSAGE_LIMIT)}", file=stream, flush=True)
    if len(intake.skipped) > SHOWN_SKIPPED:
        more = len(intake.skipped) - SHOWN_SKIPPED
        print(f"skipped: {more} more entries, all listed in summary.md", file=stream, flush=True)


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
            _announce_protections(protections, progress_stream)

        runner = Runner(launched=launched, accepted_risks=settings.accepted_risks, announce=announce)
    except BaseException:
        launched.discard()
        raise

    with runner, PicturesMeanwhile(out) as pictures:
        # The reports draw with matplotlib: import it while the fork server is still importing PyTorch.
        threading.Thread(target=preload, name="preload-matplotlib", daemon=True).start()
        progress = Progress(len(submissions), progress_stream)
        record = _recorder(gradebook, fingerprints, progress, pictures)
        # A session that lacks a protection raises MissingProtection before its learner code runs, and stops
        # the run.
        grade_submissions(
            submissions, runner, record, jobs=jobs, settings=settings, forbidden_paths=forbidden_paths
        )
        protections = runner.isolation_report()
    progress.close()
    return protections


def _grade_on_cluster(
    submissions, fingerprints, gradebook, out, cluster, settings, forbidden_paths, progress_stream, closing
) -> dict:
    """``_grade_all`` on a Dask cluster: the same records, progress and pictures, as each answer arrives."""
    if cluster.local_workers:  # first: its workers' imports run on one core while this process imports Dask
        from grader.cluster.local import start_fork_server

        start_fork_server()
    from grader.cluster.driver import grade_on_cluster

    threading.Thread(target=preload, name="preload-matplotlib", daemon=True).start()

    def say(line: str) -> None:
        write_line(progress_stream, for_terminal(line, USAGE_ERROR_LIMIT))

    progress = Progress(len(submissions), progress_stream)
    try:
        with PicturesMeanwhile(out) as pictures:
            return grade_on_cluster(
                submissions,
                cluster,
                settings=settings,
                grader=gradebook.grader,
                forbidden_paths=[str(path) for path in forbidden_paths],
                record=_recorder(gradebook, fingerprints, progress, pictures),
                announce=lambda protections: _announce_protections(protections, progress_stream),
                say=say,
                closing=closing,
            )
    finally:
        progress.close()


def _announce_protections(protections: dict, stream) -> None:
    """One line per protection and its status (a cluster's come from its workers: bounded, made safe)."""
    for name, status in protections.items():
        shown = f"{for_terminal(name, PROTECTION_LIMIT)}: {for_terminal(status, PROTECTION_LIMIT)}"
        write_line(stream, f"sandbox: {shown}")  # from a grading thread, while others print progress


def _recorder(gradebook, fingerprints, progress, pictures: PicturesMeanwhile):
    """What happens as each submission's result arrives: its record, its progress line, its pictures
    (drawn meanwhile, not all at the end)."""

    def record(result: SubmissionResult) -> None:
        gradebook.save(result, fingerprints[result.submission])
        progress.done(result)
        pictures.add(result)

    return record


def grade_command(
    *,
    path: Path,
    out: Path,
    jobs: int,
    settings: Settings,
    regrade: tuple[str, ...] = (),
    layout: str | None = None,
    dask: str | None = None,
) -> int:
    """``grader grade``: grade PATH into OUT and say so; grading that ran is a success whatever the scores.

    ``dask``: the ``--dask`` address (a scheduler, or ``local[:N]``) to grade on instead of this machine.
    """
    started = time.monotonic()
    try:
        cluster = None
        if dask is not None:
            from grader.cluster.address import parse_address

            cluster = parse_address(dask)
        results = grade(
            path, out=out, jobs=jobs, settings=settings, regrade=regrade, layout=layout, cluster=cluster
        )
    except UsageError as error:
        print(f"grader grade: {for_terminal(error, USAGE_ERROR_LIMIT)}", file=sys.stderr)
        return EXIT_USAGE
    except MissingProtection as error:
        print(f"grader grade: {error}", file=sys.stderr)
        return EXIT_UNSAFE
    print(
        f"{_what_was_done(results, time.monotonic() - started)}; "
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


def _what_was_done(results: RunResults, elapsed_s: float) -> str:
    """The run's last line, up to the files written: how many were graded now and how many were kept."""
    mean = sum(r.total for r in results) / len(results) if results else 0.0
    kept = len(results) - results.graded_now
    if kept and not results.graded_now:
        done = (
            f"nothing new to grade: kept the {kept} submission(s) already graded by this grader with the "
            f"same files (--regrade NAME redoes one); reports rewritten in {elapsed_s:.1f} s"
        )
    elif kept:
        done = (
            f"graded {results.graded_now} submission(s) and kept {kept} already graded in {elapsed_s:.1f} s"
        )
    else:
        done = f"graded {results.graded_now} submission(s) in {elapsed_s:.1f} s"
    return f"{done}, mean {mean:.1f}/100"


def gradescope_command(
    *, submission: Path, results: Path, jobs: int = 1, accepted_risks: tuple[str, ...] = ()
) -> int:
    """``grader gradescope``: grade one submission and write Gradescope's ``results.json``
    (``run_autograder``)."""
    with LockedFolder("gradescope-") as out:
        try:
            (result,) = grade(
                submission,
                out=Path(out),
                jobs=jobs,
                settings=Settings(accepted_risks=accepted_risks),
                layout=ONE_SUBMISSION,  # Gradescope hands over one learner's files, however laid out
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
