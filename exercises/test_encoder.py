"""Visible checks for exercise 6, encoder.py."""

import math

import pytest
import torch

from .encoder import Encoder, EncoderBlock, sinusoidal_positional_encoding
from .masking import causal_mask, padding_mask

PE = "encoder.sinusoidal_positional_encoding"
SUBMODULES = ("linear1", "linear2", "norm1", "norm2")


def torch_layer(embed_dim, num_heads, ff_dim, norm_first, seed):
    """An nn.TransformerEncoderLayer in eval mode whose weights, the LayerNorms' included, are all random
    (so no two of its weights are alike)."""
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(
        embed_dim, num_heads, ff_dim, 0.1, activation="relu", batch_first=True, norm_first=norm_first
    )
    with torch.no_grad():
        for norm in (layer.norm1, layer.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_(0.0, 0.5)
    return layer.eval()


def spec_state(layer) -> dict:
    """The layer's weights under the names the SPEC gives an EncoderBlock's (self_attn.q_proj ... norm2)."""
    embed_dim = layer.linear1.in_features
    attn = layer.self_attn
    state = {}
    for index, name in enumerate(("q_proj", "k_proj", "v_proj")):
        rows = slice(index * embed_dim, (index + 1) * embed_dim)
        state[f"self_attn.{name}.weight"] = attn.in_proj_weight[rows]
        state[f"self_attn.{name}.bias"] = attn.in_proj_bias[rows]
    state["self_attn.out_proj.weight"], state["self_attn.out_proj.bias"] = (
        attn.out_proj.weight,
        attn.out_proj.bias,
    )
    for name in SUBMODULES:
        state[f"{name}.weight"], state[f"{name}.bias"] = (
            getattr(layer, name).weight,
            getattr(layer, name).bias,
        )
    return {key: value.detach().clone() for key, value in state.items()}


def load(module, state: dict, what: str, expect_true) -> None:
    """Load ``state`` into your module by the SPEC's names; names it does not have fail the test."""
    unexpected = module.load_state_dict(state, strict=False).unexpected_keys
    expect_true(
        not unexpected,
        f"{what}: loading weights by the SPEC's names: expected {', '.join(unexpected[:3])}, got no such "
        "parameter",
        "Are self_attn (a MultiHeadAttention), linear1, linear2, norm1 and norm2 attributes, named so?",
    )


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
        f"{PE}(3, 4)",
        hint="Column 2i and 2i+1 share the rate 10000^(2i / embed_dim): for embed_dim=4, what divides "
        "column 2's position?",
    )


@pytest.mark.level("edge case")
def test_positional_encoding_odd_embed_dim_ends_with_sine(expect_shape, expect_close):
    pe = sinusoidal_positional_encoding(2, 5)
    hint = (
        "With an odd embed_dim, the last column 4 is a sine with no cosine after it: does yours stop there?"
    )
    expect_shape(pe, (2, 5), f"{PE}(2, 5)", hint)
    expect_close(pe[1, 4], torch.tensor(math.sin(1 / 10000 ** (4 / 5))), f"{PE}(2, 5)[1, 4]", hint)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_block_matches_transformer_encoder_layer(norm_first, expect_close, expect_true):
    layer = torch_layer(8, 2, 16, norm_first, seed=0)
    what = f"encoder.EncoderBlock(8, 2, 16, norm_first={norm_first}).eval()"
    block = EncoderBlock(8, 2, 16, norm_first=norm_first)
    load(block, spec_state(layer), what, expect_true)
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1))
    expect_close(
        block.eval()(x, causal_mask(5)),
        layer(x, src_mask=~causal_mask(5)),  # torch: True = masked
        f"{what} vs nn.TransformerEncoderLayer with the same weights",
        hint="Where does each LayerNorm sit relative to the residual addition, and is each its own module?",
        inputs="x (2, 5, 8) float32, seed 1, mask causal_mask(5), every weight random (norms included)",
    )


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_encoder_matches_transformer_encoder(norm_first, expect_close, expect_true):
    layers = [torch_layer(8, 2, 16, norm_first, seed) for seed in (2, 3)]
    final = torch.nn.LayerNorm(8) if norm_first else None
    if final is not None:
        with torch.no_grad():
            final.weight.uniform_(0.5, 1.5)
            final.bias.normal_(0.0, 0.5)
    theirs = torch.nn.TransformerEncoder(layers[0], 2, norm=final, enable_nested_tensor=False).eval()
    for index, layer in enumerate(layers):
        theirs.layers[index].load_state_dict(layer.state_dict())
    what = f"encoder.Encoder(2, 8, 2, 16, norm_first={norm_first}).eval()"
    encoder = Encoder(2, 8, 2, 16, norm_first=norm_first)
    state = {
        f"layers.{i}.{key}": value
        for i, layer in enumerate(layers)
        for key, value in spec_state(layer).items()
    }
    if final is not None:
        state |= {"norm.weight": final.weight.detach().clone(), "norm.bias": final.bias.detach().clone()}
    load(encoder, state, what, expect_true)
    x = torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(4))
    mask = padding_mask([6, 4])
    expect_close(
        encoder.eval()(x, mask),
        theirs(x, src_key_padding_mask=~mask.squeeze(1)),  # torch: True = masked
        f"{what} vs nn.TransformerEncoder with the same weights",
        hint="Does every block run in order, each with the mask? Does a pre-norm stack end with its .norm?",
        inputs="x (2, 6, 8) float32, seed 4, mask padding_mask([6, 4]), every weight random (norms included)",
    )


@pytest.mark.level("shape")
def test_encoder_layers_have_their_own_weights(expect_true):
    encoder = Encoder(3, 8, 2, 16)
    hint = "Does each of the num_layers blocks come from its own EncoderBlock(...) call?"
    layers = getattr(encoder, "layers", ())
    expect_true(
        len(layers) == 3, f"encoder.Encoder(3, 8, 2, 16).layers: expected 3 blocks, got {len(layers)}", hint
    )
    first, second = layers[0].linear1.weight, layers[1].linear1.weight
    expect_true(
        first is not second,
        "encoder.Encoder(3, 8, 2, 16): layers[0] and layers[1] share the same weights, expected each block "
        "its own",
        hint,
    )


@pytest.mark.level("shape")
def test_pre_norm_encoder_ends_with_a_norm(expect_true):
    encoder = Encoder(2, 8, 2, 16, norm_first=True)
    norm = getattr(encoder, "norm", None)
    expect_true(
        isinstance(norm, torch.nn.LayerNorm),
        "encoder.Encoder(2, 8, 2, 16, norm_first=True).norm: expected an nn.LayerNorm, "
        f"got {type(norm).__name__}",
        "With norm_first, nothing normalises the last block's output: what should the stack end with?",
    )
