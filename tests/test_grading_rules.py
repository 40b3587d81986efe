"""The grading rules beyond single checks: forbidden built-ins, warnings, stand-ins, time limits, crashes."""

from pathlib import Path

import pytest

from grader.results import PASSED, SKIPPED, TIMEOUT, shown
from grader.settings import Settings
from tests.grading_helpers import SOLUTIONS, grade_exercises, overlay

OBFUSCATED_OPERATOR = """
import math
import torch


def scaled_dot_product_attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    op = getattr(torch.ops.aten, "_scaled_dot_product_" + "attention_math")
    return op(q, k, v)[0], weights
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
        "    warnings.warn('this learner is being careful', UserWarning)\n",
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


def module_folder(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    fixture = tmp_path / f"fixture_{name}"
    fixture.mkdir()
    for filename, text in files.items():
        (fixture / filename).write_text(text)
    return overlay(fixture, tmp_path / name)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rules")
    (tmp_path / "empty_fixture").mkdir()
    jobs = [
        (
            "obfuscated",
            module_folder(tmp_path, "obfuscated", {"attention.py": OBFUSCATED_OPERATOR}),
            ["attention"],
        ),
        (
            "fused",
            module_folder(tmp_path, "fused", {"encoder.py": FUSED_KERNEL_IN_POSITIONAL_ENCODING}),
            ["encoder"],
        ),
        ("warns", module_folder(tmp_path, "warns", {"attention.py": WARNS}), ["attention"]),
        ("reference", overlay(tmp_path / "empty_fixture", tmp_path / "reference"), ["self_attention"]),
        ("hangs", module_folder(tmp_path, "hangs", {"softmax.py": HANGS}), ["softmax"]),
        (
            "segfaults",
            module_folder(tmp_path, "segfaults", {"softmax.py": CRASHES_THE_INTERPRETER}),
            ["softmax"],
        ),
    ]
    return grade_exercises(jobs, Settings(call_timeout_s=2.0, exercise_timeout_s=60.0))


class TestForbiddenBuiltins:
    def test_an_aten_operator_reached_by_a_built_name_withholds_the_exercise(self, graded):
        result = graded["obfuscated"]["attention"]
        assert result.score == 0
        assert any("aten operator" in note and "scaled_dot_product" in note for note in result.notes)
        assert all("built-in the SPEC forbids" in check.message for check in filter(shown, result.checks))

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
                "PyTorch warned (a note, not a failure): UserWarning: this learner is being careful"
            )
            for note in result.notes
        )


class TestStandIns:
    def test_later_exercises_say_the_reference_stands_in(self, graded):
        (note,) = [n for n in graded["reference"]["self_attention"].notes if "standing in" in n]
        assert "softmax.py, attention.py, masking.py" in note


class TestRunaways:
    def test_an_endless_loop_costs_its_checks_and_stops_after_three_timeouts(self, graded):
        result = graded["hangs"]["softmax"]
        statuses = [check.status for check in result.checks]
        assert statuses[:3] == [TIMEOUT] * 3 and set(statuses[3:]) == {SKIPPED}
        assert (
            "did not finish in 2 s" in result.checks[0].message and "endless loop" in result.checks[0].message
        )
        assert result.elapsed_s < 30

    def test_a_crashed_interpreter_costs_only_its_checks(self, graded):
        result = graded["segfaults"]["softmax"]
        assert result.score == 0 and all(check.status != PASSED for check in result.checks)
        assert "SIGSEGV" in result.checks[0].message
