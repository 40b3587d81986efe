"""Visible checks for exercise 5, multi_head.py."""

import pytest
import torch

from .masking import causal_mask, padding_mask
from .multi_head import MultiHeadAttention

WHERE = "multi_head.MultiHeadAttention"


@pytest.mark.level("arguments")
def test_rejects_heads_that_do_not_divide_embed_dim(expect_raises):
    expect_raises(
        ValueError,
        lambda: MultiHeadAttention(embed_dim=10, num_heads=3),
        f"{WHERE}(embed_dim=10, num_heads=3)",
        "10 features do not split into 3 equal heads: what does the docstring's Raises section ask for?",
    )


@pytest.mark.level("shape")
def test_has_four_projections(expect_true):
    mha = MultiHeadAttention(8, 2, bias=False)
    hint = "Are the four projections nn.Linear(embed_dim, embed_dim, bias=bias), named exactly so?"
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        layer = getattr(mha, name, None)
        expect_true(
            isinstance(layer, torch.nn.Linear),
            f"{WHERE}(8, 2, bias=False).{name}: expected an nn.Linear, got {type(layer).__name__}",
            hint,
        )
        bias_shape = None if layer.bias is None else tuple(layer.bias.shape)
        expect_true(
            bias_shape is None,
            f"{WHERE}(8, 2, bias=False).{name}: expected no bias, got a bias of shape {bias_shape}",
            hint,
        )


@pytest.mark.level("shape")
def test_output_shape(expect_shape):
    torch.manual_seed(0)
    expect_shape(
        MultiHeadAttention(8, 4)(torch.randn(2, 5, 8)),
        (2, 5, 8),
        f"{WHERE}(8, 4): output",
        "After the heads, are they merged back into (B, L, embed_dim) before out_proj?",
        "x (2, 5, 8), mask=None",
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
        f"{WHERE}(8, 2) vs nn.MultiheadAttention with your weights (causal mask)",
        hint="Splitting (B, L, E) into heads: which axes does the reshape make, and which transpose follows?",
        inputs="x (3, 5, 8) float32, torch.manual_seed(1), mask causal_mask(5)",
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
        f"{WHERE}(12, 3) vs nn.MultiheadAttention with your weights (padding mask)",
        hint="Each head works in embed_dim // num_heads features: by the root of which do its scores divide?",
        inputs="x (3, 4, 12) float32, torch.manual_seed(2), mask padding_mask([4, 2, 3]) (B, 1, L)",
    )
