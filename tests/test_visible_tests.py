"""What does a learner see when running `pytest exercises` — on the stubs, halfway, and when done?"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.contract import EXERCISES

REPO = Path(__file__).resolve().parent.parent


def learner_copy(
    tmp_path: Path, implemented: tuple[str, ...] = (), patches: dict[str, str] | None = None
) -> Path:
    """A copy of exercises/ with the reference dropped in for ``implemented`` modules and files replaced
    by ``patches``."""
    folder = tmp_path / "exercises"
    shutil.copytree(REPO / "exercises", folder, ignore=shutil.ignore_patterns("__pycache__"))
    for module in implemented:
        shutil.copy(REPO / "solutions" / f"{module}.py", folder / f"{module}.py")
    for name, text in (patches or {}).items():
        (folder / name).write_text(text)
    return folder


def run_visible_tests(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-p", "no:cacheprovider"],
        cwd=folder.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def on_stubs(tmp_path_factory):
    return run_visible_tests(learner_copy(tmp_path_factory.mktemp("stubs")))


@pytest.fixture(scope="module")
def on_reference(tmp_path_factory):
    modules = tuple(exercise.module for exercise in EXERCISES)
    return run_visible_tests(learner_copy(tmp_path_factory.mktemp("reference"), implemented=modules))


class TestOnUntouchedStubs:
    def test_each_exercise_fails_once_with_one_short_not_implemented_line(self, on_stubs):
        failures = re.findall(
            r"^(\w+\.py): (\S+\(\)) is not implemented yet — TODO: .+$", on_stubs.stdout, re.MULTILINE
        )
        assert [file for file, _ in failures] == [exercise.filename for exercise in EXERCISES]
        assert re.search(r"\b7 failed, \d+ skipped in", on_stubs.stdout.splitlines()[-1])
        assert on_stubs.returncode == 1

    def test_no_traceback_is_shown(self, on_stubs):
        assert "Traceback" not in on_stubs.stdout and "raise NotImplementedError" not in on_stubs.stdout

    def test_progress_line_names_the_next_exercise_and_the_hidden_checks(self, on_stubs):
        assert "0 of 7 exercises pass their visible checks" in on_stubs.stdout
        assert "Next: exercise 1 — softmax.py: softmax() is not implemented yet" in on_stubs.stdout
        assert "hidden checks" in on_stubs.stdout


class TestOnReference:
    def test_every_visible_test_passes(self, on_reference):
        assert on_reference.returncode == 0, on_reference.stdout[-3000:]
        assert re.search(r"= \d+ passed in", on_reference.stdout.splitlines()[-1])

    def test_progress_says_all_seven_pass(self, on_reference):
        assert "7 of 7 exercises pass their visible checks" in on_reference.stdout
        assert "Next:" not in on_reference.stdout


class TestHalfway:
    def test_progress_counts_done_exercises_and_points_at_the_first_unfinished(self, tmp_path):
        result = run_visible_tests(learner_copy(tmp_path, implemented=("softmax", "attention")))
        assert "2 of 7 exercises pass their visible checks: softmax, attention" in result.stdout
        assert "Next: exercise 3 — masking.py: causal_mask() is not implemented yet" in result.stdout

    def test_a_wrong_answer_says_expected_got_where_and_a_hint(self, tmp_path):
        naive = (
            (REPO / "exercises" / "softmax.py")
            .read_text()
            .replace(
                "    # TODO: subtract each slice's maximum before exp, "
                "and give a slice that is all -inf zeros.\n",
                "    # TODO: subtract each slice's maximum before exp, "
                "and give a slice that is all -inf zeros.\n"
                "    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)\n",
            )
        )
        result = run_visible_tests(learner_copy(tmp_path, patches={"softmax.py": naive}))
        assert (
            "softmax.softmax([[1e4, 0, -1e4]]): 1 of 3 values differ; worst at [0, 0]: expected 1, got nan"
            in result.stdout
        )
        assert "hint: What is exp(1e4) in floating point" in result.stdout
        assert "Next: exercise 1 — 2 visible check(s) fail" in result.stdout
