"""A cluster task's submission, graded exercise by exercise; the exercises after a hang are graded during it.

A single-machine run takes the class exercise by exercise, so a submission that hangs in one exercise
holds up that exercise only. A cluster's task is one whole submission: graded in order, its endless loop
(10 s, then 1 s twice) would run first and the rest of the submission after it, and when that task is
the class's last, both would be waited for in turn while every other worker is idle. So when a call runs
long, the task lends its worker's slot (``lend``: Dask's ``secede``, so the worker starts another task)
and the exercises not yet begun are graded meanwhile on a thread of their own; when the call returns,
the task takes a slot back (``take_back``: ``rejoin``), finishes its exercise and shares what is left
with that thread (for those few seconds the worker runs one grading thread more than its slots). The
result is the same as ``grade_submission``'s, exercise for exercise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from grader.contract import EXERCISES
from grader.grading import grade_exercise_confined, grade_on_one_thread, submission_result
from grader.intake.submission import Submission
from grader.results import ExerciseResult, SubmissionResult
from grader.sandbox.runner import Runner
from grader.sandbox.session import lend_slot_during_long_calls
from grader.settings import Settings


def grade_one_submission(
    submission: Submission,
    runner: Runner,
    settings: Settings,
    forbidden_paths,
    *,
    lend: Callable[[], None],
    take_back: Callable[[], None],
) -> SubmissionResult:
    """``grade_submission``, lending this thread's slot (``lend()``, then ``take_back()``) while a call runs
    long, and grading the exercises not yet begun meanwhile on a second thread (started once)."""
    grade_on_one_thread()
    graded: list[ExerciseResult | None] = [None] * len(EXERCISES)
    lock = threading.Lock()
    waiting = iter(range(len(EXERCISES)))
    helpers: list[threading.Thread] = []
    errors: list[BaseException] = []

    def grade_the_rest() -> None:
        while True:
            with lock:
                position = next(waiting, None)
                if position is None or errors:
                    return
            try:
                graded[position] = grade_exercise_confined(
                    submission, EXERCISES[position], runner, settings, forbidden_paths
                )
            except BaseException as error:  # the grader's own failure: raised by the task, after the join
                with lock:
                    errors.append(error)
                return

    def while_a_call_runs_long() -> None:
        lend()
        with lock:
            if helpers:
                return
            helpers.append(threading.Thread(target=grade_the_rest, name="grading-during-a-long-call"))
        helpers[0].start()

    lend_slot_during_long_calls(while_a_call_runs_long, take_back)
    try:
        grade_the_rest()
    finally:
        lend_slot_during_long_calls(None, None)
        for helper in helpers:
            helper.join()
    if errors:
        raise errors[0]
    return submission_result(submission, graded)
