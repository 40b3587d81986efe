"""The cases the encoder checks build: the positional-encoding formula and its hint, and the probes and
reference outputs of one block and of a stack of blocks.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, partial

import torch
from torch import nn

from grader.checks import case, oracles
from grader.checks.compare import (
    Tolerance,
    expect_close,
    is_close,
)
from grader.checks.inputs import randn
from grader.checks.modules import (
    Probe,
    forward,
    layer_norm_probe,
    linear_probe,
    reference_module,
    reference_probe,
    state_of,
)
from solutions.encoder import Encoder, EncoderBlock
from solutions.masking import causal_mask, padding_mask

PE = "encoder.sinusoidal_positional_encoding"
BLOCK, ENCODER = "encoder.EncoderBlock", "encoder.Encoder"
SELF_ATTN_HINT = "Is self_attn the lesson's MultiHeadAttention(embed_dim, num_heads), called on (x, mask)?"
LAYER_NORM_HINT = "Is {} an nn.LayerNorm(embed_dim), with its default eps 1e-5?"
NORM_HINT = (
    "Post-norm: norm1(x + attention(x)); pre-norm: x + attention(norm1(x)). Where does each LayerNorm sit?"
)


@cache  # the same few tables for every learner; callers only read them
def formula(max_len: int, embed_dim: int) -> torch.Tensor:
    """Vaswani et al. (2017), interleaved, written out column by column in float64."""
    table = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    for column in range(embed_dim):
        rate = 10000.0 ** ((column - column % 2) / embed_dim)
        angles = torch.arange(max_len, dtype=torch.float64) / rate
        table[:, column] = torch.sin(angles) if column % 2 == 0 else torch.cos(angles)
    return table


def pe_hint(got: torch.Tensor, max_len: int, embed_dim: int) -> str:
    half = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] / 10000.0 ** (
        torch.arange(0, embed_dim, 2) / embed_dim
    )
    half[:, : angles.shape[1]] = torch.sin(angles)
    half[:, angles.shape[1] :] = torch.cos(angles)[:, : embed_dim - angles.shape[1]]
    if is_close(got.double(), half, Tolerance(1e-5, 1e-5)):
        return (
            "The SPEC interleaves: sine in even columns, cosine in odd ones, not sines first and cosines "
            "after."
        )
    return "Column 2i and 2i+1 share the rate 10000^(2i / embed_dim): is the exponent 2i / embed_dim?"


def block_probes(
    reference: nn.Module,
    prefix: str,
    x: torch.Tensor,
    h: torch.Tensor,
    num_heads: int,
) -> list[Probe]:
    """The SPEC submodules of the block at ``prefix`` (``""``, ``"layers.1."``), each on its own input.

    ``x`` (B, L, E) feeds the attention, linear1 and the norms; ``h`` (B, L, F) feeds linear2.
    """
    state, embed_dim = state_of(reference), x.shape[-1]
    attention = f"the lesson's MultiHeadAttention({embed_dim}, {num_heads}) with the weights loaded"
    return [
        reference_probe(reference, f"{prefix}self_attn", (x, None), "x, None", attention, SELF_ATTN_HINT),
        linear_probe(state, f"{prefix}linear1", x, "x", "Is linear1 a plain nn.Linear(embed_dim, ff_dim)?"),
        linear_probe(state, f"{prefix}linear2", h, "h", "Is linear2 a plain nn.Linear(ff_dim, embed_dim)?"),
        layer_norm_probe(state, f"{prefix}norm1", x, LAYER_NORM_HINT.format("norm1")),
        layer_norm_probe(state, f"{prefix}norm2", x, LAYER_NORM_HINT.format("norm2")),
    ]


def block_case(learner, norm_first: bool, seed: int):
    reference = reference_module(EncoderBlock, 8, 2, 16, norm_first=norm_first, seed=seed)
    oracle = oracles.encoder_layer(reference, 2, 16, norm_first)
    x = randn(seed + 1, 3, 5, 8)
    for text, mask in (
        ("no", None),
        ("causal (5, 5)", causal_mask(5)),
        ("padding (3, 1, 5)", padding_mask([5, 3, 4])),
    ):
        with case(f"EncoderBlock(8, 2, 16, norm_first={norm_first}) in eval mode, x (3, 5, 8), {text} mask"):
            expected = oracle(x, src_mask=oracles.to_torch_mask(mask, 3, 2, 5)).detach()
            got = forward(
                learner,
                "EncoderBlock",
                [8, 2, 16],
                reference,
                [{"args": [x, mask]}],
                init_kwargs={"norm_first": norm_first},
            ).result[0]
            expect_close(
                got,
                expected,
                f"{BLOCK} vs nn.TransformerEncoderLayer: output",
                NORM_HINT,
                tolerance=Tolerance.for_dtype(torch.float32, 5),
            )


def shared_weights_hint(siblings: list[Probe], index: int, got: torch.Tensor) -> str:
    """Tell blocks that share weights apart: layer ``index``'s output matches another layer's expected one."""
    mine = siblings[index]
    for other, sibling in enumerate(siblings):
        if other != index and is_close(got, sibling.expected, mine.tolerance):
            return (
                f"{mine.path} gives what layers.{other}'s weights give: do the layers share one block "
                "([block] * num_layers)? Each layer needs an EncoderBlock of its own."
            )
    return mine.hint


def encoder_probes(reference: Encoder, x: torch.Tensor, h: torch.Tensor, num_heads: int) -> list[Probe]:
    """Every block's SPEC submodules (hinting at shared weights), then the final norm."""
    layers = [block_probes(reference, f"layers.{i}.", x, h, num_heads) for i in range(len(reference.layers))]
    probes = []
    for index, block in enumerate(layers):
        for part, probe in enumerate(block):
            siblings = [other[part] for other in layers]
            probes.append(replace(probe, hint=partial(shared_weights_hint, siblings, index)))
    final_norm_hint = "Pre-norm stacks end with a final nn.LayerNorm(embed_dim) in .norm: is it one?"
    return probes + [layer_norm_probe(state_of(reference), "norm", x, final_norm_hint)]
