"""Visible checks for exercise 4, self_attention.py."""

import pytest
import torch

from .masking import causal_mask
from .self_attention import SelfAttention

WHERE = "self_attention.SelfAttention"


@pytest.mark.level("shape")
def test_has_three_projections(expect_true):
    attn = SelfAttention(6)
    hint = (
        "Are query, key and value each an nn.Linear(embed_dim, embed_dim) (bias included), named exactly so?"
    )
    for name in ("query", "key", "value"):
        layer = getattr(attn, name, None)
        expect_true(
            isinstance(layer, torch.nn.Linear),
            f"{WHERE}(6).{name}: expected an nn.Linear, got {type(layer).__name__}",
            hint,
        )
        expect_true(
            (layer.in_features, layer.out_features) == (6, 6),
            f"{WHERE}(6).{name}: expected Linear(6, 6), "
            f"got Linear({layer.in_features}, {layer.out_features})",
            hint,
        )
        expect_true(layer.bias is not None, f"{WHERE}(6).{name}: expected a bias, got none", hint)


@pytest.mark.level("shape")
def test_output_shape(expect_shape):
    torch.manual_seed(0)
    expect_shape(
        SelfAttention(8)(torch.randn(2, 5, 8)),
        (2, 5, 8),
        f"{WHERE}(8): output",
        "Does forward return the attention output alone, shaped like x?",
        "x (2, 5, 8), mask=None",
    )


def test_matches_pytorch_with_causal_mask(expect_close):
    torch.manual_seed(1)
    attn = SelfAttention(8)
    x = torch.randn(3, 5, 8)
    expected = torch.nn.functional.scaled_dot_product_attention(
        attn.query(x), attn.key(x), attn.value(x), attn_mask=causal_mask(5)
    )
    expect_close(
        attn(x, causal_mask(5)),
        expected,
        f"{WHERE}(8): output vs torch's attention on your projections",
        hint="Do queries, keys and values each go through their own projection, and does the mask reach "
        "the attention?",
        inputs="x (3, 5, 8) float32, torch.manual_seed(1), mask causal_mask(5)",
    )


def test_later_positions_do_not_change_earlier_outputs(expect_close):
    torch.manual_seed(2)
    attn = SelfAttention(4)
    x = torch.randn(1, 6, 4)
    changed = x.clone()
    changed[:, 3:] += 10.0
    mask = causal_mask(6)
    expect_close(
        attn(changed, mask)[:, :3],
        attn(x, mask)[:, :3],
        f"{WHERE}(4): outputs at positions 0-2 after changing positions 3-5",
        hint="May position i see position j > i under a causal mask: does your forward pass the mask on?",
        inputs="x (1, 6, 4) float32, torch.manual_seed(2), mask causal_mask(6)",
    )
