"""Visible checks for exercise 6, encoder.py."""

import math

import pytest
import torch

from .encoder import Encoder, EncoderBlock, sinusoidal_positional_encoding
from .masking import causal_mask


def torch_layer_like(block, embed_dim, num_heads, ff_dim, norm_first):
    """An nn.TransformerEncoderLayer holding the same weights as your block."""
    layer = torch.nn.TransformerEncoderLayer(
        embed_dim, num_heads, ff_dim, 0.1, activation="relu", batch_first=True, norm_first=norm_first
    )
    attn = block.self_attn
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(
            torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        )
        layer.self_attn.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        layer.self_attn.out_proj.load_state_dict(attn.out_proj.state_dict())
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(layer, name).load_state_dict(getattr(block, name).state_dict())
    return layer.eval()


def test_positional_encoding_first_positions(expect_close):
    pe = sinusoidal_positional_encoding(3, 4)
    expected = torch.tensor(
        [
            [0.0, 1.0, 0.0, 1.0],
            [math.sin(1), math.cos(1), math.sin(1 / 100), math.cos(1 / 100)],
            [math.sin(2), math.cos(2), math.sin(2 / 100), math.cos(2 / 100)],
        ]
    )
    expect_close(
        pe,
        expected,
        "sinusoidal_positional_encoding(3, 4)",
        hint="Column 2i uses 10000^(2i / embed_dim): for embed_dim=4, column 2 divides by 10000^(2/4) = 100.",
    )


def test_positional_encoding_odd_embed_dim_ends_with_sine(expect_close):
    pe = sinusoidal_positional_encoding(2, 5)
    assert pe.shape == (2, 5), (
        f"sinusoidal_positional_encoding(2, 5): shape: expected (2, 5), got {tuple(pe.shape)}"
    )
    expect_close(
        pe[1, 4], torch.tensor(math.sin(1 / 10000 ** (4 / 5))), "sinusoidal_positional_encoding(2, 5)[1, 4]"
    )


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_block_matches_transformer_encoder_layer(norm_first, expect_close):
    torch.manual_seed(0)
    block = EncoderBlock(8, 2, 16, norm_first=norm_first).eval()
    layer = torch_layer_like(block, 8, 2, 16, norm_first)
    x = torch.randn(2, 5, 8)
    expected = layer(x, src_mask=~causal_mask(5))  # torch: True = masked
    expect_close(
        block(x, causal_mask(5)),
        expected,
        f"EncoderBlock(norm_first={norm_first}) vs nn.TransformerEncoderLayer",
        hint="Where does each LayerNorm sit relative to the residual addition?",
    )


def test_encoder_layers_have_their_own_weights():
    encoder = Encoder(3, 8, 2, 16)
    assert len(encoder.layers) == 3, f"encoder.Encoder(3, ...): expected 3 layers, got {len(encoder.layers)}"
    first, second = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert first is not second, (
        "encoder.Encoder: layers[0] and layers[1] share the same weights — each block needs its own"
    )


def test_pre_norm_encoder_ends_with_a_norm():
    encoder = Encoder(2, 8, 2, 16, norm_first=True)
    assert isinstance(getattr(encoder, "norm", None), torch.nn.LayerNorm), (
        "encoder.Encoder(norm_first=True): expected a final .norm LayerNorm"
    )
