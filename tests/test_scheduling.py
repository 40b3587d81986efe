"""How a class is shared among the grading workers: exercise by exercise, each submission
reported once, whole.

``grade_exercise`` is replaced by a stand-in here: these tests are about the order and the sharing of
the work, not about the checks (the real grader runs in test_bulk, test_cli and the corpus tests).
"""

import threading
import time
from pathlib import Path

import pytest

from grader import grading
from grader.contract import EXERCISES
from grader.intake.submission import Submission
from grader.results import ExerciseResult
from grader.sandbox import session as sandbox_session


def submission(name: str) -> Submission:
    return Submission(name=name, folder=Path("/nonexistent") / name, source=Path("/nonexistent") / name)


@pytest.fixture
def fake_exercises(monkeypatch):
    """Replace grading each exercise by ``behaviour(submission, exercise)``, which returns nothing."""

    def install(behaviour):
        def grade_exercise(submission, exercise, runner, settings, forbidden_paths=()):
            behaviour(submission, exercise)
            return ExerciseResult(exercise.module, exercise.number, exercise.points, elapsed_s=0.5)

        monkeypatch.setattr(grading, "grade_exercise", grade_exercise)

    return install


def test_each_submission_is_reported_once_with_its_exercises_in_lesson_order(fake_exercises):
    fake_exercises(lambda submission, exercise: None)
    done = []
    grading.grade_submissions(
        [submission(f"s{i}") for i in range(5)], runner=None, on_done=done.append, jobs=3
    )
    assert sorted(result.submission for result in done) == [f"s{i}" for i in range(5)]
    for result in done:
        assert [e.module for e in result.exercises] == [e.module for e in EXERCISES]
        assert result.elapsed_s == pytest.approx(0.5 * len(EXERCISES))


def test_one_submission_is_shared_among_the_workers(fake_exercises):
    # Two exercises of the one submission must be in flight at once, or the barrier breaks.
    both_running = threading.Barrier(2, timeout=10)

    def behaviour(submission, exercise):
        if exercise.number <= 2:
            both_running.wait()

    fake_exercises(behaviour)
    done = []
    grading.grade_submissions([submission("only")], runner=None, on_done=done.append, jobs=2)
    assert [result.submission for result in done] == ["only"]


def test_a_stuck_exercise_holds_up_only_its_own_submission(fake_exercises):
    release = threading.Event()
    done = []

    def behaviour(submission, exercise):
        if submission.name == "stuck" and exercise.module == "softmax":
            assert release.wait(timeout=10), (
                "the other submissions were not finished while this one was stuck"
            )

    def on_done(result):
        done.append(result.submission)
        if set(done) == {"a", "b"}:
            release.set()

    fake_exercises(behaviour)
    grading.grade_submissions(
        [submission("stuck"), submission("a"), submission("b")], runner=None, on_done=on_done, jobs=2
    )
    assert done[-1] == "stuck" and set(done[:2]) == {"a", "b"}


def test_the_class_is_taken_in_blocks_per_worker_exercise_by_exercise(fake_exercises):
    # One worker: blocks of SUBMISSIONS_PER_WORKER submissions; each block's softmax first, so code that
    # hangs in an early exercise starts while the rest of its block is still to do.
    started = []
    fake_exercises(lambda submission, exercise: started.append((submission.name, exercise.number)))
    names = [f"s{i}" for i in range(grading.SUBMISSIONS_PER_WORKER + 2)]
    grading.grade_submissions(
        [submission(name) for name in names], runner=None, on_done=lambda result: None, jobs=1
    )
    blocks = [names[: grading.SUBMISSIONS_PER_WORKER], names[grading.SUBMISSIONS_PER_WORKER :]]
    assert started == [(name, e.number) for block in blocks for e in EXERCISES for name in block]


def wait_out_a_long_call(until: threading.Event, what: str, before_taking_back=lambda: None) -> None:
    """What Session does around a demoted call: lend the worker's slot, wait, take a slot back."""
    sandbox_session._lend_worker_slot()
    try:
        assert until.wait(timeout=10), what
    finally:
        before_taking_back()
        sandbox_session._take_back_worker_slot()


def test_a_worker_waiting_out_a_long_call_lends_its_slot(fake_exercises):
    # One slot: the stuck exercise can finish only if the others run while it waits, on its lent slot.
    others_done = threading.Event()
    finished = []

    def behaviour(submission, exercise):
        if submission.name == "stuck" and exercise.module == "softmax":
            wait_out_a_long_call(others_done, "nothing else ran while the call was long")

    def on_done(result):
        finished.append(result.submission)
        if {"a", "b"} <= set(finished):
            others_done.set()

    fake_exercises(behaviour)
    grading.grade_submissions(
        [submission("stuck"), submission("a"), submission("b")], runner=None, on_done=on_done, jobs=1
    )
    assert finished[-1] == "stuck"


def test_a_worker_back_from_a_long_call_goes_on_before_any_task_not_yet_begun(fake_exercises):
    # One slot: while the call is long, "a" runs on the lent slot; once the call ends, its worker waits
    # for that slot and must get it next, not after the spare thread has taken every task left.
    started = []
    asked_back = threading.Event()

    def behaviour(submission, exercise):
        started.append((submission.name, exercise.module))
        if submission.name == "stuck" and exercise.module == "softmax":
            wait_out_a_long_call(
                lent_slot_used, "nothing ran on the lent slot", before_taking_back=asked_back.set
            )
            started.append(("stuck", "back"))
        elif (submission.name, exercise.module) == ("a", "softmax"):
            lent_slot_used.set()
            assert asked_back.wait(timeout=10)
            time.sleep(0.2)  # the stuck worker is waiting for the slot by now

    lent_slot_used = threading.Event()
    fake_exercises(behaviour)
    grading.grade_submissions(
        [submission(name) for name in ("stuck", "a", "b", "c")], runner=None, on_done=lambda r: None, jobs=1
    )
    assert started[:3] == [("stuck", "softmax"), ("a", "softmax"), ("stuck", "back")], started[:6]


@pytest.mark.parametrize("how", ["a class", "one submission"])
def test_the_graders_own_pytorch_work_runs_on_one_thread(fake_exercises, how):
    # A second intra-op thread spins after each parallel operation, on a core a sandbox is grading on.
    import torch

    threads_seen = []
    fake_exercises(lambda submission, exercise: threads_seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        if how == "a class":
            grading.grade_submissions([submission("s")], runner=None, on_done=lambda result: None, jobs=2)
        else:
            grading.grade_submission(submission("s"), runner=None)
    finally:
        torch.set_num_threads(before)
    assert threads_seen == [1] * len(EXERCISES)
