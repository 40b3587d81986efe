"""Visible checks for exercise 5, multi_head.py."""

import pytest
import torch

from .masking import causal_mask, padding_mask
from .multi_head import MultiHeadAttention


def test_rejects_heads_that_do_not_divide_embed_dim():
    with pytest.raises(ValueError):
        MultiHeadAttention(embed_dim=10, num_heads=3)


def test_has_four_projections():
    mha = MultiHeadAttention(8, 2, bias=False)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        layer = getattr(mha, name, None)
        assert isinstance(layer, torch.nn.Linear), (
            f"multi_head.MultiHeadAttention: .{name} should be an nn.Linear, got {type(layer).__name__}"
        )
        assert layer.bias is None, f"multi_head.MultiHeadAttention(8, 2, bias=False).{name} has a bias"


def test_output_shape(expect_shape):
    torch.manual_seed(0)
    expect_shape(
        MultiHeadAttention(8, 4)(torch.randn(2, 5, 8)), (2, 5, 8), "MultiHeadAttention(8, 4) on x (2, 5, 8)"
    )


def test_matches_nn_multihead_attention_with_causal_mask(expect_close, to_torch_multihead):
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(3, 5, 8)
    reference = to_torch_multihead(mha, num_heads=2)
    expected, _ = reference(x, x, x, attn_mask=~causal_mask(5), need_weights=False)  # torch: True = masked
    expect_close(
        mha(x, causal_mask(5)),
        expected,
        "MultiHeadAttention vs nn.MultiheadAttention (causal mask)",
        hint="Splitting (B, L, E) into heads: which axes does the reshape make, and which transpose follows?",
    )


def test_matches_nn_multihead_attention_with_padding_mask(expect_close, to_torch_multihead):
    torch.manual_seed(2)
    mha = MultiHeadAttention(12, 3)
    x = torch.randn(3, 4, 12)
    reference = to_torch_multihead(mha, num_heads=3)
    expected, _ = reference(x, x, x, key_padding_mask=~padding_mask([4, 2, 3]).squeeze(1), need_weights=False)
    expect_close(
        mha(x, padding_mask([4, 2, 3])),
        expected,
        "MultiHeadAttention vs nn.MultiheadAttention (padding mask)",
        hint="Does each head scale by √(embed_dim // num_heads)?",
    )
