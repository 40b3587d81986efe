"""Grading one submission: every check of every exercise, each exercise in its own sandbox.

The decisions happen here, in the grader's process: the learner's code only ever runs inside a
``Runner`` session and sends back plain tensors. Exercises 4–7 run with the reference standing in
for the earlier exercises they import, so a mistake costs points only where it is made; an earlier
module that hangs or ends its process at import is replaced whole (``sandbox/earlier_modules.py``).

Whatever grading one exercise of one submission raises in this process — but the sandbox's own
failure, ``SandboxError``, which would fail every submission alike — is confined to that exercise:
its checks become errors with the reason, and the rest of the class is graded as usual.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from grader.checks import Check, checks_for
from grader.checks.compare import CheckFailed
from grader.contract import EXERCISES, Exercise
from grader.forbidden import forbidden_uses, withhold_for_forbidden_builtins
from grader.intake import confined
from grader.intake.bounded_parse import MAX_SOURCE_CHARS, Unanalysable
from grader.intake.submission import Submission
from grader.results import (
    ERROR,
    FAILED,
    NOT_IMPLEMENTED,
    PASSED,
    SKIPPED,
    TIMEOUT,
    CheckResult,
    ExerciseResult,
    SubmissionResult,
)
from grader.safe_text import truncate_output
from grader.sandbox.accelerator import accelerator_for
from grader.sandbox.client import Learner, LearnerError
from grader.sandbox.earlier_modules import IMPORT_TIMEOUT_S, EarlierModules
from grader.sandbox.module_files import SubmissionError
from grader.sandbox.protections import SandboxError
from grader.sandbox.runner import Runner
from grader.sandbox.session import lend_slot_during_long_calls
from grader.settings import Settings
from grader.worker_slots import WorkerSlots

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
STANDIN_FROM = 4  # SPEC/issue: exercises 4–7 are graded with the reference standing in for earlier ones
# Once an exercise's code has hung, each later call gets AFTER_TIMEOUT_CALL_S (the checks' inputs are small: a
# correct call takes well under 0.1 s) and is lowered in priority after AFTER_TIMEOUT_DEMOTE_S, a quarter of
# it, as any call is after a quarter of its limit: code that hangs again then spins through the rest of its
# second on CPU that other submissions leave, instead of a core of its own.
AFTER_TIMEOUT_CALL_S = 1.0
AFTER_TIMEOUT_DEMOTE_S = 0.25
# A hanging exercise costs ~12 s and a submission ~1.7 s of a worker's time (the bench's class, 2026-11-30):
# eight per worker keep the others busy meanwhile (six left its last hang running ~4 s alone at the end).
SUBMISSIONS_PER_WORKER = 8
MAX_TIMEOUTS = 3  # an exercise that hangs this often has its remaining checks skipped
WARNED = {"numpy": "NumPy warned", "torch": "PyTorch warned", "code": "Your code warned"}  # by origin


def grade_on_one_thread() -> None:
    """Run this process's own PyTorch work (small tensors: inputs, references, comparisons) on one thread.

    A second intra-op thread never shortens it, and after each parallel operation OpenMP's idle thread
    spins on a core a sandbox is grading on: 0.37 core-seconds per correct submission, some 15 % of it.
    """
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def grade_submission(
    submission: Submission, runner: Runner, settings: Settings = Settings(), forbidden_paths=()
) -> SubmissionResult:
    grade_on_one_thread()
    exercises = [grade_exercise_confined(submission, e, runner, settings, forbidden_paths) for e in EXERCISES]
    return submission_result(submission, exercises)


def grade_submissions(
    submissions: list[Submission],
    runner: Runner,
    on_done: Callable[[SubmissionResult], None],
    *,
    jobs: int = 1,
    settings: Settings = Settings(),
    forbidden_paths=(),
) -> None:
    """Grade ``submissions`` with ``jobs`` workers; ``on_done(result)`` runs as each submission completes.

    The unit of work is one exercise of one submission, so one submission (Gradescope) uses every
    worker, and code that hangs in one exercise holds up one worker for that exercise only. The class
    is taken in blocks of ``SUBMISSIONS_PER_WORKER × jobs`` submissions, exercise by exercise within a
    block: an exercise that hangs (10 s + 1 s + 1 s of timeouts) starts near its block's start, while
    the other workers still have the rest of the block to do, instead of being the last thing left
    running. Results are recorded as each submission completes, so a block is also what a killed
    run can lose.
    """
    grade_on_one_thread()
    lock = threading.Lock()
    graded: dict[int, list[ExerciseResult | None]] = {
        index: [None] * len(EXERCISES) for index in range(len(submissions))
    }

    def one(index: int, position: int) -> None:
        submission = submissions[index]
        exercise = EXERCISES[position]
        exercise_result = grade_exercise_confined(submission, exercise, runner, settings, forbidden_paths)
        with lock:
            graded[index][position] = exercise_result
            complete = all(result is not None for result in graded[index])
            exercises = graded.pop(index) if complete else None
        if exercises is not None:
            on_done(submission_result(submission, exercises))

    block = SUBMISSIONS_PER_WORKER * max(1, jobs)
    queue = deque(
        sorted(
            ((index, position) for index in range(len(submissions)) for position in range(len(EXERCISES))),
            key=lambda task: (task[0] // block, task[1], task[0]),
        )
    )
    # ``jobs`` workers run at once. One waiting out a long call (most often an endless loop) lends its
    # slot to a spare thread until the call ends, so a hang does not leave a core idle; it then gets the
    # next slot free. A worker takes the next task only once it holds a slot, so tasks start in queue order.
    slots = WorkerSlots(jobs)
    errors: list[BaseException] = []

    def work() -> None:
        lend_slot_during_long_calls(slots.release, slots.take_back)
        while True:
            with slots:
                with lock:
                    if not queue or errors:
                        return
                    index, position = queue.popleft()
                try:
                    one(index, position)
                except (
                    BaseException
                ) as error:  # the grader's own failure (its fork server died, say): stop, then raise
                    with lock:
                        errors.append(error)
                    return

    workers = [threading.Thread(target=work, name=f"grading-worker-{n}") for n in range(2 * max(1, jobs))]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except (
        BaseException
    ) as stop:  # Ctrl-C or SIGTERM: no task starts after this; closing the runner ends the rest
        with lock:
            errors.append(stop)
        raise
    if errors:
        raise errors[0]


def submission_result(submission: Submission, exercises: list[ExerciseResult]) -> SubmissionResult:
    notes = [
        confined.note(f"{submission.source.name} {problem.removeprefix(confined.MARK)}")
        if confined.is_note(problem)
        else f"{submission.source.name} {problem}"
        for problem in submission.problems
    ]
    result = SubmissionResult(submission.name, notes=notes)
    result.exercises = list(exercises)
    result.elapsed_s = round(
        sum(exercise.elapsed_s for exercise in exercises), 3
    )  # grading work, whatever ran alongside
    return result


def grade_exercise_confined(
    submission: Submission, exercise: Exercise, runner: Runner, settings: Settings, forbidden_paths=()
) -> ExerciseResult:
    """``grade_exercise``, whatever it raises (but ``SandboxError``) turned into this exercise's result."""
    try:
        return grade_exercise(submission, exercise, runner, settings, forbidden_paths)
    except SandboxError:
        raise
    except Exception as error:  # noqa: BLE001 - one submission never stops the class
        return grader_failed(exercise, error)


def grader_failed(exercise: Exercise, error: Exception) -> ExerciseResult:
    """``exercise`` ungradable because the grader's own work raised ``error`` (not the learner's code)."""
    reason = f"the grader could not grade this exercise: {confined.describe(error)}"
    return ungradable_exercise(exercise, reason)


def ungradable_exercise(exercise: Exercise, reason: str) -> ExerciseResult:
    """Every check of ``exercise`` an error (no points) for ``reason``, repeated in a confined-error note."""
    said = f"{exercise.filename}: {reason}"
    result = ExerciseResult(exercise.module, exercise.number, exercise.points, notes=[confined.note(said)])
    checks = checks_for(exercise.module)
    result.checks = [CheckResult(c.name, c.title, ERROR, 0, c.points, said) for c in checks]
    return result


def grade_exercise(
    submission: Submission, exercise: Exercise, runner: Runner, settings: Settings, forbidden_paths=()
) -> ExerciseResult:
    started = time.monotonic()
    result = ExerciseResult(exercise.module, exercise.number, exercise.points)
    checks = checks_for(exercise.module)
    if not submission.has_module(exercise.filename):
        missing = f"{exercise.filename} is missing from the submission"
        result.checks = [CheckResult(c.name, c.title, NOT_IMPLEMENTED, 0, c.points, missing) for c in checks]
        return result
    source_uses, unread = _scan_source(submission.folder / exercise.filename, exercise.filename)
    if unread:
        result.notes.append(unread)
    limits = settings.limits_for(exercise)
    standins = _standins(exercise)
    earlier = EarlierModules(standins)  # each imported under a short limit first: a hang costs only that
    timeouts = 0

    def open_session(gpu: bool = False):
        call_limits = settings.limits_for(exercise, gpu=True) if gpu else limits
        if timeouts and not gpu:
            call_limits = replace(
                limits,
                call_timeout_s=min(limits.call_timeout_s, AFTER_TIMEOUT_CALL_S),
                demote_after_s=AFTER_TIMEOUT_DEMOTE_S,
            )
        return earlier.open_session(
            lambda standins_now: runner.open_session(
                submission.folder, standins=standins_now, limits=call_limits, forbidden_paths=forbidden_paths
            ),
            call_limits.call_timeout_s if gpu else IMPORT_TIMEOUT_S,  # a GPU session may start CUDA
        )

    learner = Learner(exercise.module, open_session)
    try:
        for check in checks:
            skip = None
            if timeouts >= MAX_TIMEOUTS:
                skip = f"not run: {exercise.filename} timed out {timeouts} times already"
            elif time.monotonic() - started > limits.session_timeout_s:
                skip = f"not run: {exercise.filename} used up its {limits.session_timeout_s:g} s"
            elif check.on_device:
                accelerator = accelerator_for(runner, settings.cuda, settings.limits_for(exercise, gpu=True))
                if accelerator.device is None:
                    skip = f"not run: {accelerator.detail} (this check carries no points)"
                elif learner.device != accelerator.device:
                    learner.move_to(accelerator.device, functools.partial(open_session, gpu=accelerator.gpu))
            if skip:
                result.checks.append(CheckResult(check.name, check.title, SKIPPED, 0, check.points, skip))
                continue
            result.checks.append(run_check(check, learner, exercise))
            timeouts += result.checks[-1].status == TIMEOUT
    finally:
        learner.close()
    withhold_for_forbidden_builtins(result, sorted(learner.forbidden), source_uses)
    if standins:
        result.notes.append(
            f"Graded with the reference standing in for {', '.join(f'{m}.py' for m in standins)} (yours "
            "are graded in their own exercises)."
        )
        result.notes += earlier.notes()
    for origin, warning in dict.fromkeys(learner.warnings):
        result.notes.append(f"{WARNED[origin]} (a note, not a failure): {warning}")
    printed = "".join(earlier.output + learner.output)
    if printed.strip():
        result.notes.append("Your code printed: " + truncate_output(printed).replace("\n", " ⏎ "))
    result.elapsed_s = round(time.monotonic() - started, 3)
    return result


def run_check(check: Check, learner: Learner, exercise: Exercise) -> CheckResult:
    """Run one check; whatever happens, it becomes a ``CheckResult`` (never an exception)."""
    started = time.monotonic()
    status, message, hint, drawing = PASSED, "", "", None
    try:
        check.run(learner)
    except CheckFailed as failure:
        status, message, hint, drawing = FAILED, failure.message, failure.hint or "", failure.picture
    except LearnerError as error:
        status, message = error.status, f"{exercise.filename}: {error.message}"
    except SubmissionError as error:
        status, message = ERROR, f"{exercise.filename}: the submission could not be prepared: {error}"
    except Exception as error:  # noqa: BLE001 - an odd result must cost this check only
        status, message = (
            FAILED,
            f"{exercise.filename}: the result could not be checked ({type(error).__name__}: {error}); is "
            "it the shape and type the SPEC asks for?",
        )
    score = check.points if status == PASSED else 0
    elapsed = round(time.monotonic() - started, 3)
    return CheckResult(check.name, check.title, status, score, check.points, message, hint, elapsed, drawing)


@functools.cache
def _standins(exercise: Exercise) -> dict[str, dict]:  # read once per run, not once per submission
    if exercise.number < STANDIN_FROM:
        return {}
    return {
        earlier.module: {
            "source": (SOLUTIONS / earlier.filename).read_text(encoding="utf-8"),
            "names": list(earlier.names),
        }
        for earlier in EXERCISES
        if earlier.number < exercise.number
    }


def _scan_source(path: Path, filename: str) -> tuple[list[str], str | None]:
    """The forbidden built-ins the source spells, and a note when it cannot be analysed.

    A module too large or nested too deeply to analyse is still graded: the scan only names plain
    spellings early, and the sandbox's run-time recorder, which decides as well, watches every call
    whatever the source looks like. Withholding its points instead would punish an unusual honest
    module for the grader's limits, and a module the parser cannot hold fails its own import there.
    """
    try:
        return forbidden_uses(_read(path), filename), None
    except Unanalysable as error:
        return [], confined.note(
            f"{filename} could not be analysed: {error.reason}. Its source was not scanned for forbidden "
            "built-ins; it was graded as it stands, with the sandbox's run-time recorder watching every call."
        )


def _read(path: Path) -> str:
    """The module's text; past ``MAX_SOURCE_CHARS`` only enough of it to know that (the parser refuses it)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(4 * MAX_SOURCE_CHARS + 1)  # a character is at most 4 bytes: still too long
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")
