"""Grading a class: find the submissions, grade what is new or changed, record each as it finishes, report.

This module imports neither PyTorch nor the checks until there is something to grade, so a rerun
with nothing left to do returns at once.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from grader.forkserver import launch_in_new_workdir
from grader.gradebook import Gradebook, submission_fingerprint
from grader.pictures import preload
from grader.progress import Progress
from grader.report import draw_pictures, write_reports
from grader.results import SubmissionResult
from grader.settings import Settings
from grader.submission import UsageError, discover


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
    gradebook = Gradebook(out)
    with tempfile.TemporaryDirectory(prefix="grader-unpacked-") as unpacked:
        submissions = discover(Path(path), Path(unpacked))
        unknown = set(regrade) - {s.name for s in submissions}
        if unknown:
            raise UsageError(f"--regrade {', '.join(sorted(unknown))}: no such submission in {path}")
        fingerprints = {s.name: submission_fingerprint(s) for s in submissions}
        todo = [s for s in submissions if s.name in regrade or not gradebook.is_current(s, fingerprints[s.name])]
        if todo:
            _grade_all(todo, fingerprints, gradebook, out, jobs, settings, [Path(path).resolve(), out.resolve()], progress_stream)
    results = [gradebook.load(s.name) for s in submissions]
    write_reports([r for r in results if r is not None], out)
    return results


def _grade_all(submissions, fingerprints, gradebook, out, jobs, settings, forbidden_paths, progress_stream) -> None:
    # The fork server imports PyTorch on one core while this process imports it (and the checks) on another.
    launched = launch_in_new_workdir()
    try:
        from grader.grading import grade_submissions  # PyTorch and the checks: only when there is work
        from grader.runner import Runner

        runner = Runner(launched=launched)
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

        grade_submissions(submissions, runner, record, jobs=jobs, settings=settings, forbidden_paths=forbidden_paths)
    progress.close()
