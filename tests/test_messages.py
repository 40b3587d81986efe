"""Do failure messages keep their shape: where, what, expected, got — first mismatch only?"""

import pytest
import torch

import solutions.encoder
import solutions.multi_head
from grader.checks.compare import (
    CheckFailed,
    Tolerance,
    expect_close,
    expect_equal,
    expect_finite,
    expect_shape,
    expect_tuple,
)
from grader.checks.modules import linear_probe, state_text
from grader.forbidden import forbidden_uses


def message_of(function, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as failure:
        function(*args, **kwargs)
    return failure.value.message


class TestComparisonMessages:
    def test_shape_mismatch_names_both_shapes(self):
        message = message_of(
            expect_shape, torch.zeros(2, 6, 4), (2, 4, 6), "masking.masked_attention: weights"
        )
        assert message == "masking.masked_attention: weights: shape: expected (2, 4, 6), got (2, 6, 4)"

    def test_shape_is_checked_before_values(self):
        message = message_of(expect_close, torch.zeros(3), torch.ones(2), "f")
        assert message == "f: shape: expected (2,), got (3,)"

    def test_dtype_is_checked_before_values(self):
        message = message_of(expect_close, torch.zeros(2, dtype=torch.float64), torch.ones(2), "f")
        assert message == "f: dtype: expected float32, got float64"

    def test_value_mismatch_counts_and_names_the_worst_with_its_index_and_tolerance(self):
        expected = torch.zeros(2, 3)
        got = expected.clone()
        got[0, 1], got[1, 2] = 0.1, -0.5
        message = message_of(
            expect_close, got, expected, "multi_head.MultiHeadAttention vs nn.MultiheadAttention"
        )
        assert message == (
            "multi_head.MultiHeadAttention vs nn.MultiheadAttention: 2 of 6 values differ; worst at [1, 2]: "
            "expected 0, got -0.5 (off by 0.5; allowed 2e-06 + 2e-05 × |expected|)"
        )

    def test_nan_where_a_number_is_expected_is_a_mismatch(self):
        got = torch.tensor([0.5, float("nan")])
        message = message_of(expect_close, got, torch.tensor([0.5, 0.0]), "w")
        assert message.startswith("w: 1 of 2 values differ; worst at [1]: expected 0, got nan")

    def test_nan_matches_nan_and_inf_matches_inf(self):
        same = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0])
        expect_close(same.clone(), same, "f")

    def test_close_values_pass_within_the_dtype_tolerance(self):
        expected = torch.randn(100, dtype=torch.float32)
        expect_close(expected * (1 + 1e-6), expected, "f")
        with pytest.raises(CheckFailed):
            expect_close(expected * (1 + 1e-3), expected, "f")

    def test_explicit_tolerance_overrides_the_table(self):
        expect_close(torch.tensor([1.001]), torch.tensor([1.0]), "f", tolerance=Tolerance(0, 1e-2))

    def test_not_finite_names_the_first_bad_index(self):
        message = message_of(
            expect_finite,
            torch.tensor([[0.0, 1.0], [float("nan"), 2.0]]),
            "masking.masked_attention: weights",
        )
        assert message == "masking.masked_attention: weights: expected finite values, got nan at [1, 0]"

    def test_exact_comparison_names_the_first_difference(self):
        message = message_of(
            expect_equal,
            torch.tensor([True, True, True]),
            torch.tensor([True, False, True]),
            "masking.causal_mask(3)",
        )
        assert (
            message == "masking.causal_mask(3): 1 of 3 values differ; first at [1]: expected False, got True"
        )

    def test_wrong_return_type_says_what_came_back(self):
        assert message_of(expect_tuple, torch.zeros(2), 2, "attention: return value") == (
            "attention: return value: expected a tuple of 2 tensors, got tensor (2,) float32"
        )
        assert message_of(expect_shape, [1, 2], (2,), "f") == "f: expected a tensor, got list of 2"

    def test_hint_travels_separately_from_the_facts(self):
        with pytest.raises(CheckFailed) as failure:
            expect_close(torch.ones(1), torch.zeros(1), "f", hint="Which axis holds the keys?")
        assert (
            "Which axis" not in failure.value.message and failure.value.hint == "Which axis holds the keys?"
        )

    def test_a_hint_that_runs_the_usual_mistakes_is_worked_out_only_on_failure(self):
        asked = []

        def costly_hint():
            asked.append(True)
            return "Is the scale √d_k?"

        expect_close(torch.ones(1), torch.ones(1), "f", hint=costly_hint)
        assert asked == []
        with pytest.raises(CheckFailed) as failure:
            expect_close(torch.ones(1), torch.zeros(1), "f", hint=costly_hint)
        assert failure.value.hint == "Is the scale √d_k?" and asked == [True]

    def test_a_hint_that_fails_to_work_out_leaves_the_failure_intact(self):
        def broken_hint():
            raise RuntimeError("shapes do not match")

        with pytest.raises(CheckFailed) as failure:
            expect_close(torch.ones(2), torch.zeros(2), "f", hint=broken_hint)
        assert failure.value.message.startswith("f: ") and failure.value.hint is None


class TestForbiddenSourceScan:
    def test_torch_attention_spellings_are_found_with_their_line(self):
        source = (
            "import torch.nn.functional as F\n"
            "from torch.nn.functional import scaled_dot_product_attention as sdpa\n"
            "def f(q):\n"
            "    a = F.scaled_dot_product_attention(q, q, q)\n"
            "    b = getattr(F, 'multi_head_attention_forward')\n"
            "    return torch.nn.TransformerEncoderLayer(4, 2)\n"
        )
        assert forbidden_uses(source, "x.py") == [
            "x.py line 2: torch.nn.functional.scaled_dot_product_attention",
            "x.py line 4: F.scaled_dot_product_attention",
            "x.py line 5: the string 'multi_head_attention_forward'",
            "x.py line 6: torch.nn.TransformerEncoderLayer",
        ]

    def test_own_exercise_names_docstrings_and_comments_are_not_uses(self):
        source = (
            '"""Unlike nn.MultiheadAttention, ... scaled_dot_product_attention"""\n'
            "from .attention import scaled_dot_product_attention\n"
            "from . import attention\n"
            "def f(q):\n"
            '    """MultiheadAttention is the oracle."""\n'
            "    # F.scaled_dot_product_attention is forbidden\n"
            "    return attention.scaled_dot_product_attention(q, q, q)\n"
        )
        assert forbidden_uses(source, "x.py") == []


def test_a_forbidden_name_listed_in_all_is_not_a_use():
    """Found by the adversarial corpus: __all__ = ["scaled_dot_product_attention"] cost a learner all
    15 points."""
    source = (
        '__all__ = ["scaled_dot_product_attention"]\n\n\n'
        "def scaled_dot_product_attention(q, k, v):\n    return q\n"
    )
    assert forbidden_uses(source, "attention.py") == []


class TestStructureStateText:
    """A structure check names the state dict it loaded: every tensor when few, per submodule when many."""

    def test_a_small_state_dict_is_listed_tensor_by_tensor(self):
        state = solutions.multi_head.MultiHeadAttention(4, 2, bias=False).state_dict()
        assert (
            state_text(state)
            == "q_proj.weight (4, 4), k_proj.weight (4, 4), v_proj.weight (4, 4), out_proj.weight (4, 4)"
        )

    def test_a_large_one_is_told_by_submodule_and_each_block_of_a_module_list_apart(self):
        state = solutions.encoder.Encoder(2, 4, 2, 8, norm_first=True).state_dict()
        assert (
            state_text(state)
            == "layers.0.* (16 tensors), layers.1.* (16 tensors), norm.weight (4,), norm.bias (4,)"
        )


class TestSubmoduleProbes:
    """A structure check says what each SPEC submodule must compute, from the weights it loaded."""

    def test_a_linear_without_bias_is_told_as_such(self):
        state = solutions.multi_head.MultiHeadAttention(4, 2, bias=False).state_dict()
        probe = linear_probe(state, "q_proj", torch.ones(1, 2, 4), "x", "hint")
        assert probe.like == "nn.Linear(4, 4, bias=False) with the weights loaded, x Wᵀ"
        assert torch.allclose(probe.expected, torch.ones(1, 2, 4) @ state["q_proj.weight"].T)

    def test_a_linear_with_bias_names_its_input(self):
        state = solutions.encoder.EncoderBlock(4, 2, 8).state_dict()
        probe = linear_probe(state, "linear2", torch.ones(1, 2, 8), "h", "hint")
        assert probe.like == "nn.Linear(8, 4) with the weights loaded, h Wᵀ + b"
        assert probe.expected.dtype == torch.float32
