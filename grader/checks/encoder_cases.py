"""The cases the encoder checks build: the positional-encoding formula and its hint, the probes of the
SPEC's submodules, one block against nn.TransformerEncoderLayer, and a stack against its own blocks.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, partial

import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import case, oracles
from grader.checks.compare import (
    Tolerance,
    expect_close,
    is_close,
)
from grader.checks.encoder_mistakes import block_hint, one_match, stack_hint
from grader.checks.inputs import randn
from grader.checks.modules import (
    LAYER_NORM_EPS,
    Probe,
    first_output,
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
NORMS = ("norm1", "norm2")


@cache  # the same few tables for every learner; callers only read them
def formula(max_len: int, embed_dim: int) -> torch.Tensor:
    """Vaswani et al. (2017), interleaved, written out column by column in float64."""
    table = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    for column in range(embed_dim):
        rate = 10000.0 ** ((column - column % 2) / embed_dim)
        angles = torch.arange(max_len, dtype=torch.float64) / rate
        table[:, column] = torch.sin(angles) if column % 2 == 0 else torch.cos(angles)
    return table


PE_GENERIC = (
    "Take one row of your table beside the formula: which columns differ, and do they share their angle "
    "with their neighbour column?"
)
PE_HINTS = {
    "sines_then_cosines": "Your table has all the sines first and the cosines after: the SPEC interleaves "
    "them, sine in column 2i, cosine in column 2i+1. Which columns does each go to?",
    "exponent_i_over_d": "Your table uses the rate 10000^(i / embed_dim) for column pair i: is the exponent "
    "2i / embed_dim?",
    "cosines_in_even_columns": "Your table has the cosine in the even columns and the sine in the odd ones: "
    "which one does column 2i take?",
}


def pe_hint(got: torch.Tensor, max_len: int, embed_dim: int) -> str:
    """The hint of the one usual positional-encoding mistake ``got`` is; else a question naming none."""
    pairs = (embed_dim + 1) // 2
    positions = torch.arange(max_len, dtype=torch.float64)[:, None]
    angles = positions / 10000.0 ** (torch.arange(0, embed_dim, 2, dtype=torch.float64) / embed_dim)
    half = torch.cat([torch.sin(angles), torch.cos(angles)[:, : embed_dim - pairs]], dim=1)
    slow = positions / 10000.0 ** (torch.arange(pairs, dtype=torch.float64) / embed_dim)
    exponent = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    exponent[:, 0::2], exponent[:, 1::2] = torch.sin(slow), torch.cos(slow[:, : embed_dim // 2])
    swapped = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    swapped[:, 0::2], swapped[:, 1::2] = torch.cos(angles), torch.sin(angles[:, : embed_dim // 2])
    variants = {"sines_then_cosines": half, "exponent_i_over_d": exponent, "cosines_in_even_columns": swapped}
    correct = formula(max_len, embed_dim)
    return one_match(variants, correct, got, Tolerance(1e-5, 1e-5), PE_HINTS, PE_GENERIC)


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
        *_norm_probes(state, prefix, x),
    ]


def _norm_probes(state: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> list[Probe]:
    norms = [layer_norm_probe(state, f"{prefix}{name}", x, LAYER_NORM_HINT.format(name)) for name in NORMS]
    return [replace(probe, hint=partial(one_norm_hint, norms, index)) for index, probe in enumerate(norms)]


def one_norm_hint(norms: list[Probe], index: int, got: torch.Tensor) -> str:
    """Tell one LayerNorm held as both norms apart: norm1 gives what norm2's weights give, or the reverse."""
    mine, other = norms[index], norms[1 - index]
    if is_close(got, other.expected):
        return (
            f"{mine.path} gives what {other.path}'s weights give: are norm1 and norm2 one LayerNorm "
            "(self.norm1 = self.norm2 = ...)? Each needs its own."
        )
    return mine.hint


def block_case(learner, norm_first: bool, seed: int):
    """One norm placement of the block against nn.TransformerEncoderLayer, with no, causal and padding masks.

    Built with ``dropout=0``: in eval mode a block must not depend on it, and whether it does is the dropout
    check's to judge, not this one's.
    """
    reference = reference_module(EncoderBlock, 8, 2, 16, norm_first=norm_first, dropout=0.0, seed=seed)
    x = randn(seed + 1, 3, 5, 8)
    for text, mask in (
        ("no", None),
        ("causal (5, 5)", causal_mask(5)),
        ("padding (3, 1, 5)", padding_mask([5, 3, 4])),
    ):
        with case(
            f"EncoderBlock(8, 2, 16, dropout=0, norm_first={norm_first}) in eval mode, x (3, 5, 8), {text} "
            "mask"
        ):
            got = first_output(
                forward(
                    learner,
                    "EncoderBlock",
                    [8, 2, 16],
                    reference,
                    [{"args": [x, mask]}],
                    init_kwargs={"norm_first": norm_first, "dropout": 0.0},
                ).result[0]
            )
            oracle = oracles.encoder_layer(reference, 2, 16, norm_first)  # after the call: see ``forward``
            expected = oracle(x, src_mask=oracles.to_torch_mask(mask, 3, 2, 5)).detach()
            expect_close(
                got,
                expected,
                f"{BLOCK} vs nn.TransformerEncoderLayer: output",
                partial(block_hint, reference, x, mask, norm_first, got),
                tolerance=Tolerance.for_dtype(torch.float32, 5),
            )


def stack_case(learner, norm_first: bool, seed: int):
    """The learner's Encoder against its own EncoderBlocks run one after another (each holding its layer's
    weights, with the mask), then the final norm when pre-norm: the stack judged apart from the block."""
    reference = reference_module(Encoder, 3, 8, 2, 16, norm_first=norm_first, dropout=0.0, seed=seed)
    init_kwargs = {"norm_first": norm_first, "dropout": 0.0}
    x, mask = randn(40, 2, 6, 8), padding_mask([6, 4])

    def blocks(masked: bool = True, shared: bool = False) -> list[torch.Tensor]:
        """Your EncoderBlock on each layer's weights in turn (``shared``: all on the last layer's)."""
        stages = [x]
        for block in reference.layers:
            block = reference.layers[-1] if shared else block
            calls = [{"args": [stages[-1], mask if masked else None]}]
            call = forward(learner, "EncoderBlock", [8, 2, 16], block, calls, init_kwargs=init_kwargs)
            stages.append(first_output(call.result[0]))
        return stages[1:]

    with case(
        f"Encoder(3, 8, 2, 16, dropout=0, norm_first={norm_first}) in eval mode, x (2, 6, 8), padding mask "
        "(2, 1, 6); your EncoderBlock(8, 2, 16) run on each layer's weights in turn"
    ):
        calls = [{"args": [x, mask]}]
        got = first_output(
            forward(learner, "Encoder", [3, 8, 2, 16], reference, calls, init_kwargs=init_kwargs).result[0]
        )
        stages = blocks()

        def final_norm(h: torch.Tensor) -> torch.Tensor:
            norm = reference.norm
            weight, bias = norm.weight.detach().double(), norm.bias.detach().double()
            return F.layer_norm(h.double(), weight.shape, weight, bias, eps=LAYER_NORM_EPS).to(h.dtype)

        expected = final_norm(stages[-1]) if norm_first else stages[-1]
        expect_close(
            got,
            expected,
            f"{ENCODER}: output vs your blocks in order" + (" then the final norm" if norm_first else ""),
            partial(stack_hint, stages, lambda **options: blocks(**options)[-1], final_norm, norm_first, got),
            tolerance=Tolerance.for_dtype(torch.float32, 10),
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
    return mine.hint(got) if callable(mine.hint) else mine.hint


def encoder_probes(reference: Encoder, x: torch.Tensor, h: torch.Tensor, num_heads: int) -> list[Probe]:
    """Every block's SPEC submodules (hinting at shared weights), then the final norm.

    A layer's norm1 may give its norm2's output and the reverse: one LayerNorm held as both is the block's
    mistake, which the block's structure check reports; this check is about the layers having their own.
    """
    layers = [block_probes(reference, f"layers.{i}.", x, h, num_heads) for i in range(len(reference.layers))]
    probes = []
    for index, block in enumerate(layers):
        norms = {probe.path: probe.expected for probe in block if probe.path.rpartition(".")[2] in NORMS}
        for part, probe in enumerate(block):
            also = tuple(
                expected for path, expected in norms.items() if path != probe.path and probe.path in norms
            )
            siblings = [other[part] for other in layers]
            probes.append(replace(probe, hint=partial(shared_weights_hint, siblings, index), also=also))
    final_norm_hint = "Pre-norm stacks end with a final nn.LayerNorm(embed_dim) in .norm: is it one?"
    return probes + [layer_norm_probe(state_of(reference), "norm", x, final_norm_hint)]
