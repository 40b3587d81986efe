"""Exercise 4 — SelfAttention: three projections, then masked attention (the reference stands in for 1–3)."""

from __future__ import annotations

import torch

from grader.checks import case, check
from grader.checks.compare import Tolerance, expect_close, expect_finite, expect_shape, fail
from grader.checks.inputs import mask_text, randn, random_mask
from grader.checks.modules import (
    expect_module_on_device,
    expect_submodules,
    expected_outputs,
    forward,
    linear_probe,
    reference_module,
    state_of,
)
from solutions.masking import causal_mask, padding_mask
from solutions.self_attention import SelfAttention

WHERE = "self_attention.SelfAttention"
MASKS = [
    ("no mask", lambda: None),
    ("causal (5, 5)", lambda: causal_mask(5)),
    ("padding (3, 1, 5)", lambda: padding_mask([5, 2, 4])),
    ("random (3, 5, 5)", lambda: random_mask(7, 3, 5, 5)),
]


def run(learner, reference, x, mask, **options):
    calls = [{"args": [x, mask]}]
    call = forward(learner, "SelfAttention", [x.shape[-1]], reference, calls, **options)
    return call.result[0]


@check(points=1)
def check_has_query_key_value_projections(learner):
    """has query, key and value, each nn.Linear(embed_dim, embed_dim)"""
    reference = reference_module(SelfAttention, 6, seed=17)
    state, x = state_of(reference), randn(19, 2, 4, 6)
    hint = "Is .{} a plain nn.Linear(embed_dim, embed_dim), which computes x Wᵀ + b?"
    probes = [linear_probe(state, name, x, "x", hint.format(name)) for name in ("query", "key", "value")]
    with case("SelfAttention(6), x (2, 4, 6), one projection per call"):
        expect_submodules(
            learner,
            "SelfAttention",
            [6],
            reference,
            probes,
            where=f"{WHERE}(6)",
            load_hint="Are query, key and value each nn.Linear(embed_dim, embed_dim), named exactly so?",
        )


@check(points=1)
def check_output_shape(learner):
    """forward returns (B, L, E)"""
    reference = reference_module(SelfAttention, 8, seed=1)
    for shape in ((1, 1, 8), (3, 5, 8)):
        x = randn(2, *shape)
        with case(f"x {shape}"):
            expect_shape(
                run(learner, reference, x, None),
                shape,
                f"{WHERE}: output",
                "forward returns only the attention output, not (output, weights).",
            )


@check(points=2)
def check_matches_reference_without_mask(learner):
    """with the same weights and no mask, the output equals the reference's"""
    for dtype in (torch.float32, torch.float64):
        reference = reference_module(SelfAttention, 8, seed=3, dtype=dtype)
        x = randn(4, 3, 5, 8, dtype=dtype)
        with case(f"x (3, 5, 8) {str(dtype)[6:]}, no mask"):
            expect_close(
                run(learner, reference, x, None),
                reference(x).detach(),
                f"{WHERE}: output",
                "Queries, keys and values each through their own projection?",
            )


@check(points=2)
def check_matches_reference_with_masks(learner):
    """causal (L, L), padding (B, 1, L) and full (B, L, L) masks give the reference's output"""
    reference = reference_module(SelfAttention, 8, seed=5)
    x = randn(6, 3, 5, 8)
    for text, build in MASKS[1:]:
        mask = build()
        with case(f"x (3, 5, 8), {text} mask"):
            expect_close(
                run(learner, reference, x, mask),
                reference(x, mask).detach(),
                f"{WHERE}: output with {text} mask",
                "Is the mask passed on to the attention?",
            )


@check(points=1)
def check_fully_masked_rows_stay_finite(learner):
    """a fully masked query gives a finite output (its value is the value projection's bias)"""
    reference = reference_module(SelfAttention, 4, seed=8)
    x = randn(9, 2, 3, 4)
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    mask[1, 2] = False
    with case("x (2, 3, 4), " + mask_text(mask) + " with query 2 of batch 1 fully masked"):
        got = run(learner, reference, x, mask)
        expect_finite(got, f"{WHERE}: output")
        expect_close(got, reference(x, mask).detach(), f"{WHERE}: output")


@check(points=2)
def check_gradients_match_reference(learner):
    """gradients with respect to the input and every weight match the reference"""
    reference = reference_module(SelfAttention, 6, seed=10, dtype=torch.float64)
    x, grad = randn(11, 2, 4, 6, dtype=torch.float64), randn(12, 2, 4, 6, dtype=torch.float64)
    calls = [{"args": [x, causal_mask(4)], "grad_wrt": [0], "grad_output": grad}]
    _, expected_grads, expected_params = expected_outputs(reference, calls, grad_params=True)
    with case("x (2, 4, 6) float64, causal mask"):
        call = forward(learner, "SelfAttention", [6], reference, calls, grad_params=True)
        expect_close(call.grads[0][0], expected_grads[0][0], f"{WHERE}: gradient of x")
        for name, want in expected_params.items():
            got = call.param_grads.get(name)
            if got is None:
                fail(f"{WHERE}: no gradient reaches {name}", "Is every projection used in forward?")
            expect_close(
                got, want, f"{WHERE}: gradient of {name}", tolerance=Tolerance.for_dtype(torch.float64, 10)
            )


@check(points=1)
def check_keeps_dtype_and_input(learner):
    """a float64 module keeps float64, and the input is not modified in place"""
    reference = reference_module(SelfAttention, 4, seed=13, dtype=torch.float64)
    x = randn(14, 2, 3, 4, dtype=torch.float64)
    with case("x (2, 3, 4) float64"):
        call = forward(learner, "SelfAttention", [4], reference, [{"args": [x, None]}])
        expect_close(call.result[0], reference(x).detach(), f"{WHERE}: output")
        expect_close(call.inputs_after[0][0], x, f"{WHERE}: input x modified in place")


@check(points=0, on_device=True)
def check_runs_on_cuda(learner):
    """on a CUDA device: with the same weights, the output and its gradient stay on the device and equal the
    reference"""
    reference = reference_module(SelfAttention, 6, seed=15, dtype=torch.float64)
    x = randn(16, 3, 5, 6, dtype=torch.float64)
    masks = [
        ("padding mask (3, 1, 5)", padding_mask([5, 2, 4]), True),
        ("causal mask (5, 5)", causal_mask(5), False),
    ]
    expect_module_on_device(learner, "SelfAttention", [6], reference, x, masks, where=WHERE)
