"""Exercise 6 — positional encoding, EncoderBlock and Encoder.

Each check judges one behaviour: the encoding's values, the SPEC's submodules (the weights load and each
gives its own output), each norm placement of the block against nn.TransformerEncoderLayer, the stack
against its own blocks, dropout (the block against itself), fully masked queries, the gradients (against
the module's own forward) and the dtype.
"""

from __future__ import annotations

from functools import partial

import torch

from grader.checks import case, check
from grader.checks.compare import (
    Tolerance,
    expect_close,
    expect_dtype,
    expect_finite,
    expect_shape,
    fail,
    is_close,
)
from grader.checks.encoder_cases import (
    BLOCK,
    ENCODER,
    PE,
    block_case,
    block_probes,
    encoder_probes,
    formula,
    pe_hint,
    stack_case,
)
from grader.checks.inputs import randn, random_mask
from grader.checks.modules import (
    expect_module_on_device,
    expect_submodules,
    first_output,
    forward,
    reference_module,
)
from grader.checks.own_gradients import expect_gradients_of_own_forward
from solutions.encoder import Encoder, EncoderBlock
from solutions.masking import causal_mask, padding_mask


@check(points=2)
def check_positional_encoding_values(learner):
    """sinusoidal_positional_encoding matches the formula (interleaved sin/cos; an odd embed_dim ends with
    sin)"""
    for max_len, embed_dim in ((1, 2), (4, 6), (50, 16), (7, 5)):
        with case(f"sinusoidal_positional_encoding({max_len}, {embed_dim})"):
            got = learner.call("sinusoidal_positional_encoding", max_len, embed_dim).result
            expect_shape(got, (max_len, embed_dim), PE)
            expect_dtype(got, torch.float32, PE)
            expect_close(
                got,
                formula(max_len, embed_dim).float(),
                PE,
                partial(pe_hint, got, max_len, embed_dim),
                tolerance=Tolerance(1e-5, 1e-5),
            )


@check(points=1)
def check_positional_encoding_large_positions(learner):
    """stays accurate at large positions (max_len 10000; float32 rounding allowed; the dtype is the values
    check's)"""
    with case("sinusoidal_positional_encoding(10000, 32)"):
        got = learner.call("sinusoidal_positional_encoding", 10000, 32).result
        expect_shape(got, (10000, 32), PE)
        table = formula(10000, 32)
        if not is_close(got[:50].double(), table[:50], Tolerance(1e-5, 1e-5)):
            fail(
                f"{PE}: positions 0-49 already differ from the formula (the values check shows where), so "
                "the accuracy at large positions cannot be judged",
                partial(pe_hint, got[:50], 50, 32),
            )
        # float32 angles of positions near 1e4 are off by up to ~1e-3 rad: a correct float32 computation must
        # pass.
        expect_close(got, table.float(), PE, tolerance=Tolerance(0.0, 5e-3), check_dtype=False)


@check(points=1)
def check_block_has_the_spec_attributes(learner):
    """EncoderBlock has self_attn, linear1 (E→F), linear2 (F→E), norm1 and norm2"""
    reference = reference_module(EncoderBlock, 8, 2, 16, seed=90)
    x, h = randn(91, 2, 5, 8), randn(94, 2, 5, 16)
    with case("EncoderBlock(8, 2, 16) in eval mode, x (2, 5, 8), h (2, 5, 16), one submodule per call"):
        expect_submodules(
            learner,
            "EncoderBlock",
            [8, 2, 16],
            reference,
            block_probes(reference, "", x, h, num_heads=2),
            where=f"{BLOCK}(8, 2, 16)",
            load_hint="Are self_attn, linear1 (embed_dim → ff_dim), linear2 (ff_dim → embed_dim), norm1 "
            "and norm2 named exactly so, with no parameters besides theirs?",
        )


@check(points=4)
def check_post_norm_block_matches_transformer_encoder_layer(learner):
    """post-norm block (eval mode, dropout 0) equals nn.TransformerEncoderLayer with the same weights"""
    block_case(learner, norm_first=False, seed=10)


@check(points=4)
def check_pre_norm_block_matches_transformer_encoder_layer(learner):
    """pre-norm block (eval mode, dropout 0) equals nn.TransformerEncoderLayer(norm_first=True) with the same
    weights"""
    block_case(learner, norm_first=True, seed=20)


@check(points=1)
def check_encoder_layers_have_their_own_weights(learner):
    """Encoder(3, ...) holds 3 blocks in .layers, each with its own parameters (pre-norm: a final .norm)"""
    reference = reference_module(Encoder, 3, 8, 2, 16, norm_first=True, seed=92)
    x, h = randn(93, 2, 5, 8), randn(95, 2, 5, 16)
    with case(
        "Encoder(3, 8, 2, 16, norm_first=True) in eval mode, x (2, 5, 8), h (2, 5, 16), blocks weighted "
        "apart, one submodule per call"
    ):
        expect_submodules(
            learner,
            "Encoder",
            [3, 8, 2, 16],
            reference,
            encoder_probes(reference, x, h, num_heads=2),
            init_kwargs={"norm_first": True},
            where=f"{ENCODER}(3, 8, 2, 16, norm_first=True)",
            load_hint="Are the blocks in self.layers, an nn.ModuleList of num_layers EncoderBlocks, and the "
            "pre-norm stack's final nn.LayerNorm in self.norm?",
        )


@check(points=3)
def check_encoder_runs_its_blocks_then_the_final_norm(learner):
    """Encoder (eval, post- and pre-norm) gives what its own blocks give one after another, each with the
    mask, then (pre-norm) the final norm"""
    for norm_first in (False, True):
        stack_case(learner, norm_first, seed=30 + norm_first)


@check(points=1)
def check_dropout_only_in_training_mode(learner):
    """dropout is active in training mode and off in eval mode (your block with dropout 0.5 against itself
    with dropout 0)"""
    reference = reference_module(EncoderBlock, 8, 2, 32, dropout=0.5, seed=50)
    x = randn(51, 2, 5, 8)

    def outputs(dropout: float, train: bool, times: int) -> list:
        calls = [{"args": [x, None]}] * times
        init_kwargs = {"dropout": dropout}
        call = forward(
            learner, "EncoderBlock", [8, 2, 32], reference, calls, init_kwargs=init_kwargs, train=train
        )
        return [first_output(result) for result in call.result]

    with case("EncoderBlock(8, 2, 32), the same x twice, dropout=0.5 and dropout=0, eval and training mode"):
        (off,) = outputs(0.0, train=False, times=1)
        first, second = outputs(0.5, train=False, times=2)
        hint = (
            "Is dropout switched off by model.eval()? nn.Dropout is; F.dropout needs training=self.training."
            if not is_close(first, second)
            else "In eval mode your block's output depends on the dropout rate: what uses it besides dropout?"
        )
        for index, got in enumerate((first, second)):
            expect_close(
                got, off, f"{BLOCK}: eval mode, call {index + 1} with dropout=0.5 vs dropout=0", hint
            )
        first, second = outputs(0.5, train=True, times=2)
        if is_close(first, second) or is_close(first, off):
            fail(
                f"{BLOCK}: training mode, dropout=0.5: two calls on the same input gave the same output",
                "Is dropout (nn.Dropout) applied in the block?",
            )
        (no_dropout,) = outputs(0.0, train=True, times=1)
        expect_close(
            no_dropout,
            off,
            f"{BLOCK}: training mode with dropout=0 vs eval mode",
            "With dropout=0, what else in your block changes between training and eval mode?",
        )


@check(points=1)
def check_fully_masked_rows_stay_finite(learner):
    """a fully masked query gives finite outputs in both norm placements"""
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[1, 3] = False
    for norm_first in (False, True):
        reference = reference_module(EncoderBlock, 8, 2, 16, norm_first=norm_first, seed=60)
        x = randn(61, 2, 4, 8)
        with case(
            f"EncoderBlock(8, 2, 16, norm_first={norm_first}), mask (2, 4, 4) with query 3 of batch 1 "
            "fully masked"
        ):
            got = forward(
                learner,
                "EncoderBlock",
                [8, 2, 16],
                reference,
                [{"args": [x, mask]}],
                init_kwargs={"norm_first": norm_first},
            ).result[0]
            expect_finite(first_output(got), f"{BLOCK}: output")


@check(points=1)
def check_gradients_match_finite_differences(learner):
    """gradients with respect to the input and every weight are those of forward's own output (float64, eval
    mode)"""
    for norm_first in (False, True):
        reference = reference_module(
            Encoder, 2, 8, 2, 16, norm_first=norm_first, dropout=0.0, seed=70, dtype=torch.float64
        )
        x = randn(71, 2, 4, 8, dtype=torch.float64)
        with case(
            f"Encoder(2, 8, 2, 16, dropout=0, norm_first={norm_first}) float64, x (2, 4, 8), causal mask, "
            "random directions of x and of the weights"
        ):
            expect_gradients_of_own_forward(
                learner,
                "Encoder",
                [2, 8, 2, 16],
                reference,
                x,
                causal_mask(4),
                where=ENCODER,
                seed=72,
                init_kwargs={"norm_first": norm_first, "dropout": 0.0},
            )


@check(points=1)
def check_keeps_dtype_and_input(learner):
    """a float64 encoder returns float64, and the input is not modified in place"""
    reference = reference_module(Encoder, 2, 4, 2, 8, seed=80, dtype=torch.float64)
    x = randn(81, 2, 3, 4, dtype=torch.float64)
    with case("Encoder(2, 4, 2, 8) float64, x (2, 3, 4)"):
        calls = [{"args": [x, random_mask(82, 3, 3)]}]
        call = forward(learner, "Encoder", [2, 4, 2, 8], reference, calls, values=False)
        expect_dtype(first_output(call.result[0]), torch.float64, f"{ENCODER}: output")
        expect_close(call.inputs_after[0][0], x, f"{ENCODER}: input x modified in place")


@check(points=0, on_device=True)
def check_runs_on_cuda(learner):
    """on a CUDA device: a 2-block Encoder (pre- and post-norm) stays on the device and equals the
    reference"""
    x = randn(70, 2, 5, 8, dtype=torch.float64)
    masks = [
        ("padding mask (2, 1, 5)", padding_mask([5, 3]), True),
        ("causal mask (5, 5)", causal_mask(5), False),
    ]
    for norm_first in (False, True):
        reference = reference_module(
            Encoder, 2, 8, 2, 16, norm_first=norm_first, seed=71 + norm_first, dtype=torch.float64
        )
        where = f"{ENCODER}(2, 8, 2, 16, norm_first={norm_first})"
        init_kwargs = {"norm_first": norm_first}
        expect_module_on_device(
            learner, "Encoder", [2, 8, 2, 16], reference, x, masks, where=where, init_kwargs=init_kwargs
        )
