"""What does a learner see when running `pytest exercises` — on the stubs, halfway, and when done?"""

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.checks import masking as masking_checks
from grader.contract import EXERCISES
from learner import mistakes, watch

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = REPO / "tests" / "submissions"


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


def run_visible_tests(folder: Path, *targets: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *(targets or [str(folder)]), "-p", "no:cacheprovider"],
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
    folder = learner_copy(tmp_path_factory.mktemp("reference"), implemented=modules)
    return run_visible_tests(folder, str(folder), "-rA")  # -rA: one PASSED line per test, in run order


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
            "softmax.softmax([[1e4, 0, -1e4], [1, 2, 3]]): 1 of 6 values differ; worst at [0, 0]: "
            "expected 1, got nan" in result.stdout
        )
        assert "hint: What is exp(1e4) in floating point" in result.stdout
        assert "Next: exercise 1 — 2 of 6 visible tests fail" in result.stdout


def minus_1e9_masking_without_max_len_check() -> str:
    """A new learner's masking.py: masked scores filled with -1e9 (fully masked rows left alone), and a
    padding_mask that never checks max_len."""
    text = (SUBMISSIONS / "mutants" / "fills_masked_scores_with_minus_1e9" / "masking.py").read_text()
    check = (
        "    elif max_len < longest:\n"
        '        raise ValueError(f"padding_mask: max_len={max_len} is shorter than a length ({longest})")\n'
    )
    assert check in text
    return text.replace(check, "")


@pytest.fixture(scope="module")
def new_learners_masking(tmp_path_factory):
    """`pytest exercises/test_masking.py` on a correct softmax and the learner's masking above."""
    folder = learner_copy(
        tmp_path_factory.mktemp("new_learner"),
        implemented=("softmax",),
        patches={"masking.py": minus_1e9_masking_without_max_len_check()},
    )
    return run_visible_tests(folder, str(folder / "test_masking.py"))


class TestANewLearnersMasking:
    """A correct softmax, then masking with a -1e9 fill, no care for fully masked rows, no max_len check."""

    def test_a_missing_exception_says_what_was_called_expected_and_got_with_a_hint(
        self, new_learners_masking
    ):
        out = new_learners_masking.stdout
        assert "DID NOT RAISE" not in out and "Traceback" not in out
        assert (
            "masking.padding_mask([2, 5], max_len=4): expected ValueError, got no exception "
            "(it returned tensor (2, 1, 4) bool)\n  hint: " in out
        )

    def test_the_fully_masked_row_shows_first_and_watch_says_how_many_more(self, new_learners_masking):
        out = new_learners_masking.stdout
        fully_masked = out.index("_ test_fully_masked_row_gives_zeros_and_finite_gradients _")
        assert fully_masked < out.index("_ test_padding_mask_rejects_max_len_shorter_than_a_length _")
        assert watch.first_failure(out).startswith("test_fully_masked_row_gives_zeros_and_finite_gradients\n")
        assert watch.failure_count(out) == 2
        assert watch._more(out, "pytest exercises") == (
            "\n… and 1 more failing test: `pytest exercises` shows them all."
        )

    def test_the_hint_names_the_finite_fill_the_output_shows(self, new_learners_masking):
        out = new_learners_masking.stdout
        failure = watch.first_failure(out)
        assert "expected 0, got 0.25" in failure
        assert f"hint: {mistakes.FINITE_FILL_HINT}" in failure and "all -inf" not in failure

    def test_the_progress_counts_only_the_exercise_it_ran(self, new_learners_masking):
        out = new_learners_masking.stdout
        assert "of 7 exercises" not in out
        assert "0 of 1 exercise run passes its visible checks" in out
        assert "Next: exercise 3 — 2 of 12 visible tests fail" in out
        assert "Not run this time: softmax, attention, self_attention, multi_head, encoder, classifier" in out


def visible_conftest():
    spec = importlib.util.spec_from_file_location("visible_conftest", REPO / "exercises" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestTheProgressLine:
    @pytest.mark.parametrize(
        "ran, done, line",
        [
            (["softmax"], ["softmax"], "1 of 1 exercise run passes its visible checks: softmax"),
            (["masking"], [], "0 of 1 exercise run passes its visible checks"),
            (["softmax", "masking"], ["softmax"], "1 of 2 exercises run pass their visible checks: softmax"),
            (
                [e.module for e in EXERCISES],
                ["softmax", "attention"],
                "2 of 7 exercises pass their visible checks: softmax, attention",
            ),
        ],
    )
    def test_counts_the_exercises_run_never_the_others(self, ran, done, line):
        assert visible_conftest().progress_line(ran, done) == line


class TestOrderAndShape:
    def test_every_visible_test_has_a_known_level_and_each_exercise_runs_its_most_basic_first(self):
        conftest = visible_conftest()
        for exercise in EXERCISES:
            tree = ast.parse((REPO / "exercises" / f"test_{exercise.module}.py").read_text(encoding="utf-8"))
            tests = [
                node
                for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
            ]
            for test in tests:
                levels = [
                    decorator.args[0].value
                    for decorator in test.decorator_list
                    if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.level"
                ]
                assert set(levels) <= set(conftest.LEVELS), f"{exercise.module}: {test.name}: {levels}"

    def test_the_run_order_is_lesson_then_level(self, on_reference):
        names = re.findall(r"^PASSED exercises/test_(\w+)\.py::(\w+)", on_reference.stdout, re.MULTILINE)
        order = [e.module for e in EXERCISES]
        assert [order.index(module) for module, _ in names] == sorted(order.index(m) for m, _ in names)
        masking = [test for module, test in names if module == "masking"]
        assert masking[:3] == [
            "test_causal_mask_worked_example",
            "test_padding_mask_worked_example",
            "test_returns_output_and_weights_of_the_right_shapes",
        ]
        assert masking[-1] == "test_padding_mask_rejects_max_len_shorter_than_a_length"

    def test_the_grader_and_the_visible_tests_choose_masking_hints_with_one_function(self):
        assert masking_checks.fully_masked_hint is mistakes.fully_masked_hint
        assert masking_checks.mask_hint is mistakes.mask_hint
        source = (REPO / "exercises" / "test_masking.py").read_text(encoding="utf-8")
        assert "from learner.mistakes import fully_masked_hint, mask_hint" in source
        assert "all -inf" not in source  # no hint written in the test names a mistake the output may not show
