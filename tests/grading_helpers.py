"""Grading fixture submissions in the tests: a fixture folder holds only the module(s) it changes.

``overlay(folder, tmp)`` lays the fixture's files over a copy of the reference, so each fixture shows
one fault (or one unusual-but-correct way) and nothing else. ``grade_exercises`` grades chosen
exercises of many submissions through one sandbox ``Runner``, two at a time.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.contract import EXERCISES, exercise
from grader.grading import grade_exercise
from grader.intake.submission import from_folder
from grader.results import ExerciseResult
from grader.sandbox.harness import confine
from grader.sandbox.runner import Runner
from grader.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
MODULE_FILES = {e.filename for e in EXERCISES}


def overlay(fixture: Path, target: Path) -> Path:
    """A full submission in ``target``: the reference with ``fixture``'s files laid over it."""
    target.mkdir(parents=True, exist_ok=True)
    for source in SOLUTIONS.glob("*.py"):
        shutil.copy(source, target / source.name)
    for source in fixture.iterdir():
        if source.is_file() and source.suffix == ".py":
            shutil.copy(source, target / source.name)
    return target


def without_timings(value):
    """A results.json (or part of one) with every ``elapsed_s`` left out: what two runs may differ in."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key != "elapsed_s"}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def changed_modules(fixture: Path) -> list[str]:
    """The exercise modules the fixture replaces, in lesson order."""
    names = {path.name for path in fixture.glob("*.py")}
    return [e.module for e in EXERCISES if e.filename in names]


def grade_exercises(
    jobs: list[tuple[str, Path, list[str]]],
    settings: Settings = Settings(),
    workers: int = 2,
    runner: Runner | None = None,
) -> dict[str, dict[str, ExerciseResult]]:
    """``{name: {module: ExerciseResult}}`` for each ``(name, submission folder, modules)`` job, on
    ``runner`` (the tests' ``warm_runner``) or on a runner of its own."""
    if runner is None:
        with Runner() as own:
            return grade_exercises(jobs, settings, workers, own)

    def run(job):
        name, folder, modules = job
        submission = from_folder(folder)
        return name, {m: grade_exercise(submission, exercise(m), runner, settings) for m in modules}

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(run, jobs))


def failed_checks(result: ExerciseResult) -> list[str]:
    return [check.name for check in result.checks if check.status != "passed"]


def namespaces_work() -> bool:
    """Whether this machine lets a child unshare PID and network namespaces (a user namespace too, when
    not root)."""
    pid = os.fork()
    if pid == 0:
        flags = (
            confine.CLONE_NEWPID | confine.CLONE_NEWNET | (0 if os.geteuid() == 0 else confine.CLONE_NEWUSER)
        )
        os._exit(0 if confine.unshare(flags).active else 1)
    return os.waitpid(pid, 0)[1] == 0
