"""Visible checks for exercise 2, attention.py."""

import math

import pytest
import torch

from .attention import scaled_dot_product_attention

WHERE = "attention.scaled_dot_product_attention"


def reference_weights(q, k):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


@pytest.mark.level("shape")
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=["no batch", "1 batch dim", "2 batch dims"])
def test_shapes_with_any_batch_dims(batch, expect_shape, expect_true):
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(*batch, 4, 8, generator=g),
        torch.randn(*batch, 6, 8, generator=g),
        torch.randn(*batch, 6, 5, generator=g),
    )
    inputs = f"q {(*batch, 4, 8)}, k {(*batch, 6, 8)}, v {(*batch, 6, 5)}"
    result = scaled_dot_product_attention(q, k, v)
    expect_true(
        isinstance(result, tuple) and len(result) == 2,
        f"{WHERE}: return value: expected a tuple (output, weights), got {type(result).__name__}"
        + (f" of {len(result)}" if isinstance(result, (tuple, list)) else ""),
        "Does the function return both the output and the weights, in that order?",
        inputs,
    )
    output, weights = result
    hint = "Which axes does your q kᵀ multiply: does k.transpose(-2, -1) leave the batch dims alone?"
    expect_shape(weights, (*batch, 4, 6), f"{WHERE}: weights (L_q=4, L_k=6)", hint, inputs)
    expect_shape(output, (*batch, 4, 5), f"{WHERE}: output (L_q=4, d_v=5)", hint, inputs)


def test_worked_example(expect_close):
    q = k = v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    _, weights = scaled_dot_product_attention(q, k, v)
    a = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    expect_close(
        weights,
        torch.tensor([[a, 1 - a], [1 - a, a]]),
        f"{WHERE}: weights for q = k = v = [[1, 0], [0, 1]]",
        hint="Work it by hand: which scores does q kᵀ give, what do they become divided by √d_k = √2?",
    )


def test_matches_pytorch(expect_close):
    g = torch.Generator().manual_seed(1)
    q, k, v = (
        torch.randn(2, 3, 4, 8, generator=g),
        torch.randn(2, 3, 5, 8, generator=g),
        torch.randn(2, 3, 5, 6, generator=g),
    )
    inputs = "q (2, 3, 4, 8), k (2, 3, 5, 8), v (2, 3, 5, 6) float32, seed 1"
    output, weights = scaled_dot_product_attention(q, k, v)
    expect_close(
        weights,
        reference_weights(q, k),
        f"{WHERE}: weights vs softmax(q kᵀ / √d_k)",
        hint="Over which axis does your softmax run, and by what do you divide the scores?",
        inputs=inputs,
    )
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    expect_close(
        output,
        expected,
        f"{WHERE}: output vs torch's scaled_dot_product_attention",
        hint="How do the weights and v combine into the output?",
        inputs=inputs,
    )


def test_weight_rows_sum_to_one(expect_close):
    g = torch.Generator().manual_seed(2)
    q, k, v = (
        torch.randn(3, 4, 8, generator=g),
        torch.randn(3, 7, 8, generator=g),
        torch.randn(3, 7, 2, generator=g),
    )
    _, weights = scaled_dot_product_attention(q, k, v)
    expect_close(
        weights.sum(dim=-1),
        torch.ones(3, 4),
        f"{WHERE}: weights summed over the keys",
        hint="Over which axis does your softmax normalise: the keys' (the last)?",
        inputs="q (3, 4, 8), k (3, 7, 8), v (3, 7, 2) float32, seed 2",
    )


@pytest.mark.level("edge case")
def test_keeps_float64_precision(expect_close, expect_true):
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 8, generator=g, dtype=torch.float64) for _ in range(3))
    inputs = "q, k, v (2, 3, 8) float64, seed 3"
    output, weights = scaled_dot_product_attention(q, k, v)
    expect_true(
        output.dtype == weights.dtype == torch.float64,
        f"{WHERE}: dtype: expected float64 output and weights, got {output.dtype} and {weights.dtype}",
        "Which step of yours makes a new tensor, and in which dtype?",
        inputs,
    )
    expect_close(
        weights,
        reference_weights(q, k),
        f"{WHERE}: float64 weights, at float64 precision",
        hint="Which step of your computation runs below float64 precision (a float32 constant or tensor)?",
        rtol=1e-12,
        atol=1e-14,
        inputs=inputs,
    )
