"""Exercise 5 — MultiHeadAttention, against the reference and against nn.MultiheadAttention."""

from __future__ import annotations

import copy
from functools import partial

import torch

from grader.checks import case, check, oracles
from grader.checks.compare import Tolerance, expect_close, expect_finite, expect_shape, fail, is_close
from grader.checks.inputs import randn, random_mask
from grader.checks.modules import (
    expect_module_on_device,
    expect_submodules,
    expected_outputs,
    forward,
    linear_probe,
    reference_module,
    state_of,
)
from grader.checks.rng import global_rng
from solutions.masking import causal_mask, padding_mask
from solutions.multi_head import MultiHeadAttention

WHERE = "multi_head.MultiHeadAttention"
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
CONFIGS = [(8, 1, True), (8, 2, True), (12, 4, False), (16, 4, True)]  # (embed_dim, num_heads, bias)


def run(learner, reference, init, x, mask, **options):
    return forward(learner, "MultiHeadAttention", init, reference, [{"args": [x, mask]}], **options).result[0]


def heads_hint(reference, x, mask, got) -> str:
    """Tell a missing head split or a √embed_dim scale apart from other mistakes, by trying them here."""
    embed_dim, num_heads = reference.q_proj.in_features, reference.num_heads
    with torch.no_grad():
        with global_rng():
            one_head = MultiHeadAttention(embed_dim, 1, bias=reference.q_proj.bias is not None).to(x.dtype)
        one_head.load_state_dict(reference.state_dict())
        wrong_scale = copy.deepcopy(reference)
        wrong_scale.q_proj.weight.mul_((reference.head_dim / embed_dim) ** 0.5)
        if wrong_scale.q_proj.bias is not None:
            wrong_scale.q_proj.bias.mul_((reference.head_dim / embed_dim) ** 0.5)
        if num_heads > 1 and is_close(got, one_head(x, mask)):
            return "Your output matches a single head over all features: are the features split into heads?"
        if num_heads > 1 and is_close(got, wrong_scale(x, mask)):
            return "Each head works in D = embed_dim // num_heads dimensions: scale by √D, not √embed_dim."
    return (
        "Split (B, L, E) → (B, L, H, D) → transpose → (B, H, L, D); merge back in the same order; then "
        "out_proj."
    )


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
    """forward returns (B, L, E)"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=1)
    for shape in ((1, 1, 8), (3, 5, 8)):
        with case(f"MultiHeadAttention(8, 2), x {shape}"):
            expect_shape(run(learner, reference, [8, 2], randn(2, *shape), None), shape, f"{WHERE}: output")


@check(points=3)
def check_matches_nn_multihead_attention(learner):
    """with the same weights, equals nn.MultiheadAttention(E, H, bias=bias, batch_first=True)"""
    for seed, (embed_dim, num_heads, bias) in enumerate(CONFIGS):
        reference = reference_module(MultiHeadAttention, embed_dim, num_heads, bias=bias, seed=20 + seed)
        oracle = oracles.multihead_attention(reference, num_heads)
        x = randn(30 + seed, 3, 5, embed_dim)
        for text, mask in (
            ("no", None),
            ("causal (5, 5)", causal_mask(5)),
            ("padding (3, 1, 5)", padding_mask([5, 2, 4])),
        ):
            with case(
                f"MultiHeadAttention({embed_dim}, {num_heads}, bias={bias}), x (3, 5, {embed_dim}), {text} "
                "mask"
            ):
                expected, _ = oracle(
                    x, x, x, attn_mask=oracles.to_torch_mask(mask, 3, num_heads, 5), need_weights=False
                )
                got = run(learner, reference, [embed_dim, num_heads], x, mask, init_kwargs={"bias": bias})
                expect_close(
                    got,
                    expected.detach(),
                    f"{WHERE} vs nn.MultiheadAttention: output",
                    partial(heads_hint, reference, x, mask, got),
                )


@check(points=2)
def check_matches_reference_in_float64(learner):
    """in float64, equals the reference for every mask form"""
    reference = reference_module(MultiHeadAttention, 12, 3, seed=40, dtype=torch.float64)
    x = randn(41, 2, 6, 12, dtype=torch.float64)
    for text, mask in (
        ("none", None),
        ("causal (6, 6)", causal_mask(6)),
        ("random (2, 6, 6)", random_mask(42, 2, 6, 6)),
        ("padding (2, 1, 6)", padding_mask([6, 3])),
    ):
        with case(f"MultiHeadAttention(12, 3) float64, x (2, 6, 12), mask {text}"):
            got = run(learner, reference, [12, 3], x, mask)
            expect_close(
                got,
                reference(x, mask).detach(),
                f"{WHERE}: output",
                partial(heads_hint, reference, x, mask, got),
            )


@check(points=2)
def check_mask_applies_to_every_head(learner):
    """a per-batch (B, L, L) mask applies to every head, as in nn.MultiheadAttention"""
    reference = reference_module(MultiHeadAttention, 8, 4, seed=50)
    oracle = oracles.multihead_attention(reference, 4)
    x = randn(51, 2, 4, 8)
    mask = random_mask(52, 2, 4, 4, keep=0.5)
    with case("MultiHeadAttention(8, 4), x (2, 4, 8), random mask (2, 4, 4)"):
        expected, _ = oracle(x, x, x, attn_mask=oracles.to_torch_mask(mask, 2, 4, 4), need_weights=False)
        got = run(learner, reference, [8, 4], x, mask)
        expect_close(
            got,
            expected.detach(),
            f"{WHERE} vs nn.MultiheadAttention: output",
            "A (B, L, L) mask needs a head axis to broadcast over (B, H, L, L).",
        )


@check(points=1)
def check_fully_masked_rows_stay_finite(learner):
    """a fully masked query gives a finite output, with finite gradients"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=60, dtype=torch.float64)
    x, grad = randn(61, 2, 3, 8, dtype=torch.float64), randn(62, 2, 3, 8, dtype=torch.float64)
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    mask[0, 1] = False
    calls = [{"args": [x, mask], "grad_wrt": [0], "grad_output": grad}]
    outputs, grads, _ = expected_outputs(reference, calls)
    with case("x (2, 3, 8) float64, mask (2, 3, 3) with query 1 of batch 0 fully masked"):
        call = forward(learner, "MultiHeadAttention", [8, 2], reference, calls)
        expect_finite(call.result[0], f"{WHERE}: output")
        expect_close(call.result[0], outputs[0], f"{WHERE}: output")
        expect_finite(call.grads[0][0], f"{WHERE}: gradient of x")
        expect_close(call.grads[0][0], grads[0][0], f"{WHERE}: gradient of x")


@check(points=2)
def check_gradients_match_reference(learner):
    """gradients with respect to the input and every weight match the reference"""
    reference = reference_module(MultiHeadAttention, 8, 2, seed=70, dtype=torch.float64)
    x, grad = randn(71, 2, 4, 8, dtype=torch.float64), randn(72, 2, 4, 8, dtype=torch.float64)
    calls = [{"args": [x, padding_mask([4, 2])], "grad_wrt": [0], "grad_output": grad}]
    _, grads, params = expected_outputs(reference, calls, grad_params=True)
    with case("x (2, 4, 8) float64, padding mask"):
        call = forward(learner, "MultiHeadAttention", [8, 2], reference, calls, grad_params=True)
        expect_close(call.grads[0][0], grads[0][0], f"{WHERE}: gradient of x")
        for name, want in params.items():
            got = call.param_grads.get(name)
            if got is None:
                fail(f"{WHERE}: no gradient reaches {name}")
            expect_close(
                got, want, f"{WHERE}: gradient of {name}", tolerance=Tolerance.for_dtype(torch.float64, 10)
            )


@check(points=1)
def check_keeps_dtype_and_input(learner):
    """a float64 module keeps float64, and the input is not modified in place"""
    reference = reference_module(MultiHeadAttention, 4, 2, seed=80, dtype=torch.float64)
    x = randn(81, 2, 3, 4, dtype=torch.float64)
    with case("x (2, 3, 4) float64"):
        call = forward(learner, "MultiHeadAttention", [4, 2], reference, [{"args": [x, None]}])
        expect_close(call.result[0], reference(x).detach(), f"{WHERE}: output")
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
            after[:, :4],
            before[:, :4],
            f"{WHERE}: outputs at positions 0-3 after changing positions 4-5",
            "Does every head get the mask?",
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
