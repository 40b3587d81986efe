"""Visible checks for exercise 2, attention.py."""

import math

import pytest
import torch

from .attention import scaled_dot_product_attention


def reference_weights(q, k):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=["no batch", "1 batch dim", "2 batch dims"])
def test_shapes_with_any_batch_dims(batch, expect_shape):
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(*batch, 4, 8, generator=g),
        torch.randn(*batch, 6, 8, generator=g),
        torch.randn(*batch, 6, 5, generator=g),
    )
    output, weights = scaled_dot_product_attention(q, k, v)
    expect_shape(weights, (*batch, 4, 6), "attention.scaled_dot_product_attention: weights (L_q=4, L_k=6)")
    expect_shape(output, (*batch, 4, 5), "attention.scaled_dot_product_attention: output (L_q=4, d_v=5)")


def test_worked_example(expect_close):
    q = k = v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    _, weights = scaled_dot_product_attention(q, k, v)
    a = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    expect_close(
        weights,
        torch.tensor([[a, 1 - a], [1 - a, a]]),
        "attention weights for q = k = identity",
        hint="Are you dividing the scores by √d_k (here √2)?",
    )


def test_matches_pytorch(expect_close):
    g = torch.Generator().manual_seed(1)
    q, k, v = (
        torch.randn(2, 3, 4, 8, generator=g),
        torch.randn(2, 3, 5, 8, generator=g),
        torch.randn(2, 3, 5, 6, generator=g),
    )
    output, weights = scaled_dot_product_attention(q, k, v)
    expect_close(
        weights,
        reference_weights(q, k),
        "attention weights vs softmax(q kᵀ / √d_k)",
        hint="Which axis holds the keys? That is the axis softmax runs over.",
    )
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    expect_close(output, expected, "attention output vs torch's scaled_dot_product_attention")


def test_weight_rows_sum_to_one(expect_close):
    g = torch.Generator().manual_seed(2)
    q, k, v = (
        torch.randn(3, 4, 8, generator=g),
        torch.randn(3, 7, 8, generator=g),
        torch.randn(3, 7, 2, generator=g),
    )
    _, weights = scaled_dot_product_attention(q, k, v)
    expect_close(weights.sum(dim=-1), torch.ones(3, 4), "attention weights summed over the keys")
