"""Exercise 5 — MultiHeadAttention, against nn.MultiheadAttention and against itself.

Each check judges one behaviour: the ValueError, the structure (the weights load into the four
projections), the output's shape, its values without a mask (against nn.MultiheadAttention), what the
masks do (against the module's own unmasked output), fully masked queries, the gradients (against the
module's own forward), the dtype and causality.
"""

from __future__ import annotations

from functools import partial

import torch

from grader.checks import case, check, oracles
from grader.checks.compare import describe, expect_close, expect_dtype, expect_finite, expect_shape, fail
from grader.checks.inputs import randn, random_mask
from grader.checks.module_masks import expect_masks_match_cut_sequences
from grader.checks.modules import (
    expect_module_on_device,
    expect_submodules,
    first_output,
    forward,
    linear_probe,
    reference_module,
    state_of,
)
from grader.checks.multi_head_cases import heads_hint
from grader.checks.own_gradients import expect_gradients_of_own_forward
from solutions.masking import causal_mask, padding_mask
from solutions.multi_head import MultiHeadAttention

WHERE = "multi_head.MultiHeadAttention"
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
# (embed_dim, num_heads, bias, dtype)
CONFIGS = [
    (8, 1, True, torch.float32),
    (8, 2, True, torch.float32),
    (12, 4, False, torch.float32),
    (16, 4, True, torch.float32),
    (12, 3, True, torch.float64),
]


def run(learner, reference, init, x, mask, **options):
    return forward(learner, "MultiHeadAttention", init, reference, [{"args": [x, mask]}], **options).result[0]


@check(points=1)
def check_rejects_heads_that_do_not_divide_embed_dim(learner):
    """MultiHeadAttention(10, 3) raises ValueError"""
    with case("MultiHeadAttention(embed_dim=10, num_heads=3)"):
        raised = learner.raises("MultiHeadAttention", 10, 3)
        if raised != "ValueError":
            fail(
                f"{WHERE}(10, 3): expected ValueError, got {raised or 'no exception'}",
                "What must be true of embed_dim and num_heads?",
            )


@check(points=1)
def check_has_four_projections(learner):
    """q_proj, k_proj, v_proj and out_proj are nn.Linear(E, E), with a bias exactly when bias=True"""
    for seed, bias in enumerate((True, False)):
        reference = reference_module(MultiHeadAttention, 8, 2, bias=bias, seed=100 + 2 * seed)
        state, x = state_of(reference), randn(110 + seed, 2, 4, 8)
        formula = "x Wᵀ + b" if bias else "x Wᵀ"
        hint = "Is .{} a plain nn.Linear(embed_dim, embed_dim, bias=bias), which computes " + formula + "?"
        probes = [linear_probe(state, name, x, "x", hint.format(name)) for name in PROJECTIONS]
        with case(f"MultiHeadAttention(8, 2, bias={bias}), x (2, 4, 8), one projection per call"):
            expect_submodules(
                learner,
                "MultiHeadAttention",
                [8, 2],
                reference,
                probes,
                init_kwargs={"bias": bias},
                where=f"{WHERE}(8, 2, bias={bias})",
                load_hint="Are the four projections nn.Linear(embed_dim, embed_dim, bias=bias), named so?",
            )


@check(points=1)
def check_output_shape(learner):
    """forward returns one tensor of shape (B, L, E)"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=1)
    for shape in ((1, 1, 8), (3, 5, 8)):
        with case(f"MultiHeadAttention(8, 2), x {shape}"):
            got = run(learner, reference, [8, 2], randn(2, *shape), None, values=False)
            if isinstance(got, (tuple, list)):
                fail(f"{WHERE}: output: expected one tensor of shape {shape}, got a {describe(got)}")
            expect_shape(got, shape, f"{WHERE}: output")


@check(points=5)
def check_matches_nn_multihead_attention(learner):
    """without a mask, equals nn.MultiheadAttention(E, H, bias=bias, batch_first=True) with the same weights,
    in float32 and float64"""
    for seed, (embed_dim, num_heads, bias, dtype) in enumerate(CONFIGS):
        reference = reference_module(
            MultiHeadAttention, embed_dim, num_heads, bias=bias, seed=20 + seed, dtype=dtype
        )
        x = randn(30 + seed, 3, 5, embed_dim, dtype=dtype)
        name = str(dtype).removeprefix("torch.")
        with case(f"MultiHeadAttention({embed_dim}, {num_heads}, bias={bias}) {name}, x (3, 5, {embed_dim})"):
            got = first_output(
                run(learner, reference, [embed_dim, num_heads], x, None, init_kwargs={"bias": bias})
            )
            expected, _ = oracles.multihead_attention(reference, num_heads)(x, x, x, need_weights=False)
            expect_close(
                got,
                expected.detach(),
                f"{WHERE} vs nn.MultiheadAttention: output",
                partial(heads_hint, reference, x, got),
            )


@check(points=2)
def check_causal_and_padding_masks_match_cut_sequences(learner):
    """causal (L, L) and padding (B, 1, L) masks: each query gives what the module gives without a mask on
    the keys it may see"""
    reference = reference_module(MultiHeadAttention, 12, 3, seed=40, dtype=torch.float64)
    x = randn(41, 2, 6, 12, dtype=torch.float64)
    masks = [("causal", causal_mask(6)), ("padding", padding_mask([6, 3]))]
    expect_masks_match_cut_sequences(learner, "MultiHeadAttention", [12, 3], reference, x, masks, where=WHERE)


@check(points=1)
def check_mask_applies_to_every_head(learner):
    """a per-batch (B, L, L) mask reaches every head: each query gives what the module gives without a mask
    on the keys it may see"""
    reference = reference_module(MultiHeadAttention, 8, 4, seed=50, dtype=torch.float64)
    x = randn(51, 2, 4, 8, dtype=torch.float64)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[0] = causal_mask(4)
    mask[1, :, 3] = False
    masks = [("per-batch (batch 0 causal, batch 1 keys 0-2)", mask)]
    expect_masks_match_cut_sequences(learner, "MultiHeadAttention", [8, 4], reference, x, masks, where=WHERE)


@check(points=1)
def check_fully_masked_rows_stay_finite(learner):
    """a fully masked query gives a finite output, with finite gradients"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=60, dtype=torch.float64)
    x, grad = randn(61, 2, 3, 8, dtype=torch.float64), randn(62, 2, 3, 8, dtype=torch.float64)
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    mask[0, 1] = False
    calls = [{"args": [x, mask], "grad_wrt": [0], "grad_output": grad}]
    with case("x (2, 3, 8) float64, mask (2, 3, 3) with query 1 of batch 0 fully masked"):
        call = forward(learner, "MultiHeadAttention", [8, 2], reference, calls)
        expect_finite(call.result[0], f"{WHERE}: output")
        if call.grads[0][0] is not None:  # no gradient at all is the gradient check's to report
            expect_finite(call.grads[0][0], f"{WHERE}: gradient of x")


@check(points=1)
def check_gradients_match_finite_differences(learner):
    """gradients with respect to the input and every weight are those of forward's own output (float64)"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=70, dtype=torch.float64)
    x = randn(71, 2, 4, 8, dtype=torch.float64)
    with case("x (2, 4, 8) float64, padding mask, random directions of x and of the weights"):
        expect_gradients_of_own_forward(
            learner, "MultiHeadAttention", [8, 2], reference, x, padding_mask([4, 2]), where=WHERE, seed=72
        )


@check(points=1)
def check_keeps_dtype_and_input(learner):
    """a float64 module returns float64, and the input is not modified in place"""
    reference = reference_module(MultiHeadAttention, 4, 2, seed=80, dtype=torch.float64)
    x = randn(81, 2, 3, 4, dtype=torch.float64)
    with case("x (2, 3, 4) float64"):
        call = forward(learner, "MultiHeadAttention", [4, 2], reference, [{"args": [x, None]}], values=False)
        expect_dtype(first_output(call.result[0]), torch.float64, f"{WHERE}: output")
        expect_close(call.inputs_after[0][0], x, f"{WHERE}: input x modified in place")


@check(points=1)
def check_causality_by_perturbation(learner):
    """under a causal mask, changing later positions never changes earlier outputs"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=90, dtype=torch.float64)
    x = randn(91, 2, 6, 8, dtype=torch.float64)
    changed = x.clone()
    changed[:, 4:] += 3.0
    with case("x (2, 6, 8) float64, causal mask, positions 4-5 changed"):
        (before,) = forward(
            learner, "MultiHeadAttention", [8, 2], reference, [{"args": [x, causal_mask(6)]}]
        ).result
        # Each side in its own sandbox: code that remembered its first answer cannot give it again.
        (after,) = forward(
            learner,
            "MultiHeadAttention",
            [8, 2],
            reference,
            [{"args": [changed, causal_mask(6)]}],
            fresh=True,
        ).result
        expect_close(
            first_output(after)[:, :4],
            first_output(before)[:, :4],
            f"{WHERE}: outputs at positions 0-3 after changing positions 4-5",
            "Which positions of x reach output positions 0-3 in your forward: through the mask, the heads' "
            "split, their merge?",
        )


@check(points=0, on_device=True)
def check_runs_on_cuda(learner):
    """on a CUDA device: with the same weights, the output and its gradient stay on the device and equal the
    reference"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=60, dtype=torch.float64)
    x = randn(61, 2, 5, 8, dtype=torch.float64)
    fully_masked = random_mask(62, 2, 5, 5)
    fully_masked[1, 3] = False
    masks = [
        ("padding mask (2, 1, 5)", padding_mask([5, 3]), True),
        ("mask (2, 5, 5) with query 3 of batch 1 fully masked", fully_masked, False),
    ]
    expect_module_on_device(learner, "MultiHeadAttention", [8, 2], reference, x, masks, where=WHERE)
