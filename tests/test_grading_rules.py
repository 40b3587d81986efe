"""The grading rules beyond single checks: forbidden built-ins, warnings, stand-ins, time limits, crashes."""

import shutil
from pathlib import Path

import pytest

from grader.contract import exercise
from grader.grading import AFTER_TIMEOUT_CALL_S, AFTER_TIMEOUT_DEMOTE_S, grade_exercise
from grader.intake.submission import from_folder
from grader.results import PASSED, SKIPPED, TIMEOUT, shown
from grader.sandbox.earlier_modules import IMPORT_TIMEOUT_S
from grader.settings import Limits, Settings
from tests.grading_helpers import SOLUTIONS, grade_exercises, overlay

OBFUSCATED_OPERATOR = """
import math
import torch


def scaled_dot_product_attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    op = getattr(torch.ops.aten, "_scaled_dot_product_" + "attention_math")
    return op(q, k, v)[0], weights
"""

# TorchScript compiled from a built string: no Python-level hook sees its calls, and under a dispatch mode
# PyTorch's own attention decomposes before the mode does, so only the dispatcher can see it.
TORCHSCRIPT_FROM_A_STRING = """
import math
import torch

_unit = torch.jit.CompilationUnit(
    "def attend(q, k, v):\\n    return torch.nn.functional." + "scaled_dot_product_" + "attention(q, k, v)\\n"
)


def scaled_dot_product_attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    return _unit.attend(q, k, v), weights
"""

# A thread of its own: neither the function mode nor an armed key follows the learner's code there. The
# thread falls back to computing the output itself when the built-in refuses to run.
BUILT_IN_IN_A_THREAD = """
import math
import threading

import torch


def scaled_dot_product_attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    box = []

    def attend():
        try:
            box.append(getattr(torch.nn.functional, "scaled_dot_" + "product_attention")(q, k, v))
        except RuntimeError:
            box.append(weights @ v)

    thread = threading.Thread(target=attend)
    thread.start()
    thread.join()
    return box[0], weights
"""

# A function the sandbox watches at the PyTorch-function level only (it computes no attention): the
# fused kernel is still found, by the builtin's own name, however the learner spelled it.
FUSED_KERNEL_IN_POSITIONAL_ENCODING = (
    (SOLUTIONS / "encoder.py")
    .read_text()
    .replace(
        "    return encoding.to(torch.float32)\n",
        "    fused = getattr(torch, '_scaled_dot_product_' + 'flash_attention_for_cpu')\n"
        "    fused(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2))\n"
        "    return encoding.to(torch.float32)\n",
    )
)

WARNS = (
    (SOLUTIONS / "attention.py")
    .read_text()
    .replace(
        "    d_k = q.size(-1)\n",
        "    d_k = q.size(-1)\n    import warnings\n\n"
        "    warnings.warn('this learner is being careful', UserWarning)\n"
        "    torch.tensor(q.detach())  # PyTorch warns: copy construct from a tensor\n",
    )
)

NUMPY_WARNS = (
    (SOLUTIONS / "softmax.py")
    .read_text()
    .replace(
        "    ### BEGIN SOLUTION\n",
        "    ### BEGIN SOLUTION\n"
        "    np.exp(np.array([1e4]))  # overflow, raised in C at this line\n"
        "    np.mean(np.empty(0))  # raised in NumPy's own Python code\n",
        1,
    )
)

HANGS = """
def softmax(x, axis=-1):
    while True:
        pass
"""

CRASHES_THE_INTERPRETER = """
import ctypes


def softmax(x, axis=-1):
    ctypes.string_at(0)  # reads address 0: SIGSEGV
"""


def at_the_bottom(module: str, code: str) -> dict[str, str]:
    """The reference's ``module`` with ``code`` left at its bottom, as test code left behind would be."""
    return {f"{module}.py": (SOLUTIONS / f"{module}.py").read_text() + "\n\n" + code + "\n"}


SPINS = "while True:\n    pass"
# Correct modules whose top level does not come back; each fixture is graded in exercise 4 (the first to
# import earlier modules), the spinning softmax in all of exercises 4-7 (55 points).
IMPORTS_BADLY = {
    "softmax_spins_at_import": (
        at_the_bottom("softmax", SPINS),
        ["self_attention", "multi_head", "encoder", "classifier"],
    ),
    "masking_spins_at_import": (
        at_the_bottom("masking", 'print("checking masking")\n' + SPINS),
        ["self_attention"],
    ),
    "softmax_exits_at_import": (at_the_bottom("softmax", "import os\n\nos._exit(0)"), ["self_attention"]),
    "masking_exits_at_import": (at_the_bottom("masking", "import sys\n\nsys.exit(0)"), ["self_attention"]),
    "masking_raises_at_import": (
        at_the_bottom("masking", 'raise RuntimeError("left over")'),
        ["self_attention"],
    ),
    "attention_segfaults_at_import": (
        at_the_bottom("attention", "import ctypes\n\nctypes.string_at(0)"),
        ["self_attention"],
    ),
}
# A later module may use the learner's own private helper of an earlier module that imports cleanly.
USES_A_PRIVATE_HELPER = {
    **at_the_bottom(
        "masking", "def _attend(q, k, v, mask=None):\n    return masked_attention(q, k, v, mask)"
    ),
    "self_attention.py": (SOLUTIONS / "self_attention.py")
    .read_text()
    .replace("from .masking import masked_attention", "from .masking import _attend")
    .replace("masked_attention(self.query(x)", "_attend(self.query(x)"),
}


def module_folder(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    fixture = tmp_path / f"fixture_{name}"
    fixture.mkdir()
    for filename, text in files.items():
        (fixture / filename).write_text(text)
    return overlay(fixture, tmp_path / name)


class OpenedWith:
    """The tests' runner, noting the limits each session is opened with, by the submission folder's name."""

    def __init__(self, runner):
        self._runner = runner
        self.limits: list[tuple[str, Limits]] = []

    def open_session(self, submission_dir, *args, **kwargs):
        self.limits.append((Path(submission_dir).name, kwargs["limits"]))
        return self._runner.open_session(submission_dir, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._runner, name)


@pytest.fixture(scope="module")
def spied_runner(warm_runner):
    return OpenedWith(warm_runner)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, spied_runner):
    tmp_path = tmp_path_factory.mktemp("rules")
    (tmp_path / "empty_fixture").mkdir()
    jobs = [
        *(  # the longest first, so the two workers finish together
            (name, module_folder(tmp_path, name, files), modules)
            for name, (files, modules) in IMPORTS_BADLY.items()
        ),
        (
            "obfuscated",
            module_folder(tmp_path, "obfuscated", {"attention.py": OBFUSCATED_OPERATOR}),
            ["attention"],
        ),
        (
            "torchscript",
            module_folder(tmp_path, "torchscript", {"attention.py": TORCHSCRIPT_FROM_A_STRING}),
            ["attention"],
        ),
        (
            "in_a_thread",
            module_folder(tmp_path, "in_a_thread", {"attention.py": BUILT_IN_IN_A_THREAD}),
            ["attention"],
        ),
        (
            "fused",
            module_folder(tmp_path, "fused", {"encoder.py": FUSED_KERNEL_IN_POSITIONAL_ENCODING}),
            ["encoder"],
        ),
        ("warns", module_folder(tmp_path, "warns", {"attention.py": WARNS}), ["attention"]),
        ("numpy_warns", module_folder(tmp_path, "numpy_warns", {"softmax.py": NUMPY_WARNS}), ["softmax"]),
        ("reference", overlay(tmp_path / "empty_fixture", tmp_path / "reference"), ["self_attention"]),
        ("hangs", module_folder(tmp_path, "hangs", {"softmax.py": HANGS}), ["softmax"]),
        (
            "segfaults",
            module_folder(tmp_path, "segfaults", {"softmax.py": CRASHES_THE_INTERPRETER}),
            ["softmax"],
        ),
        (
            "private_helper",
            module_folder(tmp_path, "private_helper", USES_A_PRIVATE_HELPER),
            ["self_attention"],
        ),
    ]
    return grade_exercises(jobs, Settings(call_timeout_s=2.0, exercise_timeout_s=60.0), runner=spied_runner)


class TestForbiddenBuiltins:
    def test_an_aten_operator_reached_by_a_built_name_withholds_the_exercise(self, graded):
        result = graded["obfuscated"]["attention"]
        assert result.score == 0
        assert any("aten operator" in note and "scaled_dot_product" in note for note in result.notes)
        assert all("built-in the SPEC forbids" in check.message for check in filter(shown, result.checks))

    def test_built_in_attention_in_torchscript_compiled_from_a_string_withholds_the_exercise(self, graded):
        result = graded["torchscript"]["attention"]
        assert result.score == 0, [check.message for check in result.checks]
        assert any("aten operator aten.scaled_dot_product_attention" in note for note in result.notes)
        assert all("built-in the SPEC forbids" in check.message for check in filter(shown, result.checks))

    def test_built_in_attention_called_from_a_thread_of_its_own_withholds_the_exercise(self, graded):
        result = graded["in_a_thread"]["attention"]
        assert result.score == 0, [check.message for check in result.checks]
        assert any("aten operator aten.scaled_dot_product_attention" in note for note in result.notes)

    def test_a_fused_kernel_called_by_a_built_name_outside_attention_withholds_the_exercise(self, graded):
        result = graded["fused"]["encoder"]
        assert result.score == 0
        assert any("torch._scaled_dot_product_flash_attention_for_cpu" in note for note in result.notes)


class TestWarnings:
    def test_a_warning_is_a_note_not_a_failure(self, graded):
        result = graded["warns"]["attention"]
        assert result.score == result.max_score
        assert any(
            note.startswith(
                "Your code warned (a note, not a failure): UserWarning: this learner is being careful"
            )
            for note in result.notes
        )

    def test_a_warning_is_labelled_by_where_it_came_from(self, graded):
        torch_notes = [n for n in graded["warns"]["attention"].notes if "copy construct from a tensor" in n]
        assert torch_notes and all(
            n.startswith("PyTorch warned (a note, not a failure): ") for n in torch_notes
        )
        softmax = graded["numpy_warns"]["softmax"]
        assert softmax.score == softmax.max_score
        numpy_notes = [n for n in softmax.notes if "warned" in n]
        assert any("overflow encountered in exp" in n for n in numpy_notes)
        assert any("Mean of empty slice" in n for n in numpy_notes)
        assert numpy_notes and all(
            n.startswith("NumPy warned (a note, not a failure): RuntimeWarning: ") for n in numpy_notes
        )


class TestStandIns:
    def test_later_exercises_say_the_reference_stands_in(self, graded):
        (note,) = [n for n in graded["reference"]["self_attention"].notes if "standing in" in n]
        assert "softmax.py, attention.py, masking.py" in note


class TestEarlierModulesThatDoNotImport:
    """A module that hangs, exits or crashes at import costs its own exercise only, never the later ones."""

    @pytest.mark.parametrize("fixture", IMPORTS_BADLY)
    def test_later_exercises_keep_full_marks(self, graded, fixture):
        for module, result in graded[fixture].items():
            failed = [f"{c.name} [{c.status}]: {c.message}" for c in result.checks if c.status != PASSED]
            assert result.score == result.max_score, f"{module}:\n" + "\n".join(failed)

    @pytest.mark.parametrize(
        "fixture, said",
        [
            (
                "softmax_spins_at_import",
                f"Your softmax.py did not finish importing within {IMPORT_TIMEOUT_S:g} s",
            ),
            (
                "masking_spins_at_import",
                f"Your masking.py did not finish importing within {IMPORT_TIMEOUT_S:g} s",
            ),
            (
                "softmax_exits_at_import",
                "Your softmax.py ended the process while importing (the process exited with status 0",
            ),
            ("masking_exits_at_import", "Your masking.py raised SystemExit at line"),
            ("masking_raises_at_import", "Your masking.py raised RuntimeError at line"),
            (
                "attention_segfaults_at_import",
                "Your attention.py ended the process while importing (crashed with signal SIGSEGV)",
            ),
        ],
    )
    def test_the_note_says_which_module_the_reference_replaced_whole_and_why(self, graded, fixture, said):
        for result in graded[fixture].values():
            (note,) = [n for n in result.notes if "stood in for it whole" in n]
            assert note.startswith(said) and note.endswith("so the reference stood in for it whole.")

    def test_a_module_not_handed_in_gets_no_such_note_in_the_later_exercises(self, tmp_path, warm_runner):
        """Its own exercise says it is missing; six notes in each of four exercises would say nothing more."""
        folder = tmp_path / "only_later"
        shutil.copytree(SOLUTIONS, folder, ignore=shutil.ignore_patterns("__pycache__", "softmax.py"))
        result = grade_exercise(
            from_folder(folder), exercise("self_attention"), warm_runner, Settings(cuda="off")
        )
        assert result.score == result.max_score
        assert not [note for note in result.notes if "stood in for it whole" in note], result.notes

    def test_a_hanging_import_costs_the_import_limit_not_the_call_timeout(self, graded):
        for result in graded["softmax_spins_at_import"].values():
            assert not [c.name for c in result.checks if c.status == TIMEOUT]
        assert "checking masking" in " ".join(graded["masking_spins_at_import"]["self_attention"].notes)

    def test_a_later_module_keeps_the_private_helpers_of_an_earlier_module_that_imports(self, graded):
        result = graded["private_helper"]["self_attention"]
        assert result.score == result.max_score
        assert not [n for n in result.notes if "stood in for it whole" in n]


class TestRunaways:
    def test_an_endless_loop_costs_its_checks_and_stops_after_three_timeouts(self, graded):
        result = graded["hangs"]["softmax"]
        statuses = [check.status for check in result.checks]
        assert statuses[:3] == [TIMEOUT] * 3 and set(statuses[3:]) == {SKIPPED}
        assert (
            "did not finish in 2 s" in result.checks[0].message and "endless loop" in result.checks[0].message
        )
        assert result.elapsed_s < 30

    def test_after_a_timeout_later_calls_are_short_and_lowered_in_priority_soon(self, graded, spied_runner):
        # A correct call takes well under 0.1 s; code that hangs again spins on the CPU others leave.
        assert [check.status for check in graded["hangs"]["softmax"].checks][:3] == [TIMEOUT] * 3
        opened = [limits for folder, limits in spied_runner.limits if folder == "hangs"]
        assert [(limits.call_timeout_s, limits.demote_after_s) for limits in opened] == [
            (2.0, None),  # the sandbox's DEMOTE_AFTER_S, 4 s
            (AFTER_TIMEOUT_CALL_S, AFTER_TIMEOUT_DEMOTE_S),
            (AFTER_TIMEOUT_CALL_S, AFTER_TIMEOUT_DEMOTE_S),
        ]
        assert AFTER_TIMEOUT_DEMOTE_S < AFTER_TIMEOUT_CALL_S / 2

    def test_a_crashed_interpreter_costs_only_its_checks(self, graded):
        result = graded["segfaults"]["softmax"]
        assert result.score == 0 and all(check.status != PASSED for check in result.checks)
        assert "SIGSEGV" in result.checks[0].message
