"""Visible checks for exercise 4, self_attention.py."""

import torch

from .masking import causal_mask
from .self_attention import SelfAttention


def test_has_three_projections():
    attn = SelfAttention(6)
    for name in ("query", "key", "value"):
        layer = getattr(attn, name, None)
        assert isinstance(layer, torch.nn.Linear), (
            f"self_attention.SelfAttention: .{name} should be an nn.Linear, got {type(layer).__name__}"
        )
        assert (layer.in_features, layer.out_features) == (6, 6), (
            f"self_attention.SelfAttention(6).{name}: expected Linear(6, 6), "
            f"got Linear({layer.in_features}, {layer.out_features})"
        )


def test_output_shape(expect_shape):
    torch.manual_seed(0)
    out = SelfAttention(8)(torch.randn(2, 5, 8))
    expect_shape(out, (2, 5, 8), "self_attention.SelfAttention(8) on x (2, 5, 8)")


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
        "SelfAttention with causal_mask(5) vs torch's attention",
        hint="Do queries, keys and values each go through their own projection?",
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
        "outputs at positions 0-2 after changing positions 3-5",
    )
