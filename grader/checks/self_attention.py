"""Exercise 4 — SelfAttention: three projections, then masked attention (the reference stands in for 1–3).

Each check judges one behaviour: the structure (the weights load into query, key and value), the output's
shape, its values without a mask, what the masks do (against the module's own unmasked output), fully
masked queries, the gradients (against the module's own forward) and the dtype.
"""

from __future__ import annotations

from functools import partial

import torch

from grader.checks import case, check
from grader.checks.compare import (
    describe,
    expect_close,
    expect_dtype,
    expect_finite,
    expect_shape,
    fail,
    is_close,
)
from grader.checks.inputs import mask_text, randn
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
from grader.checks.own_gradients import expect_gradients_of_own_forward
from solutions.masking import causal_mask, masked_attention, padding_mask
from solutions.self_attention import SelfAttention

WHERE = "self_attention.SelfAttention"
GENERIC_HINT = (
    "Which step first differs from the SPEC's: the three projections, the scores and their scale, the "
    "softmax over keys, or the weighted sum of the values?"
)


def run(learner, reference, x, mask, **options):
    calls = [{"args": [x, mask]}]
    call = forward(learner, "SelfAttention", [x.shape[-1]], reference, calls, **options)
    return call.result[0]


def per_batch_mask() -> torch.Tensor:
    """(3, 5, 5), one mask per batch element: causal; keys 0-1 only; keys 0-3 only."""
    mask = torch.ones(3, 5, 5, dtype=torch.bool)
    mask[0] = causal_mask(5)
    mask[1, :, 2:] = False
    mask[2, :, 4:] = False
    return mask


def values_hint(reference, x, got) -> str:
    """Name a usual mistake only when the output is that mistake's and no other's."""
    q, k, v = reference.query(x), reference.key(x), reference.value(x)
    scores = q @ k.transpose(-2, -1)
    variants = {
        "Your output is attention with the query projection used for keys and values too: does each of q, "
        "k and v come from its own projection?": masked_attention(q, q, q)[0],
        "Your output is attention without the 1/√d_k scale: are the scores scaled?": (
            torch.softmax(scores, -1) @ v
        ),
        "Your output is attention scaled by 1/d_k: is it the square root of d_k?": (
            torch.softmax(scores / x.shape[-1], -1) @ v
        ),
    }
    correct = reference(x)
    matches = [hint for hint, out in variants.items() if is_close(got, out) and not is_close(out, correct)]
    return matches[0] if len(matches) == 1 else GENERIC_HINT


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
    """forward returns one tensor of shape (B, L, E)"""
    reference = reference_module(SelfAttention, 8, seed=1)
    for shape in ((1, 1, 8), (3, 5, 8)):
        x = randn(2, *shape)
        with case(f"x {shape}"):
            got = run(learner, reference, x, None, values=False)
            if isinstance(got, (tuple, list)):
                fail(
                    f"{WHERE}: output: expected one tensor of shape {shape}, got a {describe(got)}",
                    "Does forward hand back the attention output alone?",
                )
            expect_shape(got, shape, f"{WHERE}: output")


@check(points=3)
def check_matches_reference_without_mask(learner):
    """with the same weights and no mask, the output equals the reference's"""
    for dtype in (torch.float32, torch.float64):
        reference = reference_module(SelfAttention, 8, seed=3, dtype=dtype)
        x = randn(4, 3, 5, 8, dtype=dtype)
        with case(f"x (3, 5, 8) {str(dtype)[6:]}, no mask"):
            got = first_output(run(learner, reference, x, None))
            with torch.no_grad():
                expect_close(got, reference(x), f"{WHERE}: output", partial(values_hint, reference, x, got))


@check(points=2)
def check_masks_match_the_module_on_cut_sequences(learner):
    """causal (L, L), padding (B, 1, L) and per-batch (B, L, L) masks: each query gives what the module gives
    without a mask on the keys it may see"""
    reference = reference_module(SelfAttention, 8, seed=5, dtype=torch.float64)
    x = randn(6, 3, 5, 8, dtype=torch.float64)
    masks = [
        ("causal", causal_mask(5)),
        ("padding", padding_mask([5, 2, 4])),
        ("per-batch", per_batch_mask()),
    ]
    expect_masks_match_cut_sequences(learner, "SelfAttention", [8], reference, x, masks, where=WHERE)


@check(points=1)
def check_fully_masked_rows_stay_finite(learner):
    """a fully masked query gives an all-zero output, never nan"""
    reference = reference_module(SelfAttention, 4, seed=8)
    x = randn(9, 2, 3, 4)
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    mask[1, 2] = False
    with case("x (2, 3, 4), " + mask_text(mask) + " with query 2 of batch 1 fully masked"):
        got = first_output(run(learner, reference, x, mask))
        expect_shape(got, x.shape, f"{WHERE}: output")
        expect_finite(got, f"{WHERE}: output")
        expect_close(got[1, 2], torch.zeros(4), f"{WHERE}: output of the fully masked query [1, 2]")


@check(points=1)
def check_gradients_match_finite_differences(learner):
    """gradients with respect to the input and every weight are those of forward's own output (float64)"""
    reference = reference_module(SelfAttention, 6, seed=10, dtype=torch.float64)
    x = randn(11, 2, 4, 6, dtype=torch.float64)
    with case("x (2, 4, 6) float64, causal mask, random directions of x and of the weights"):
        expect_gradients_of_own_forward(
            learner, "SelfAttention", [6], reference, x, causal_mask(4), where=WHERE, seed=12
        )


@check(points=1)
def check_keeps_dtype_and_input(learner):
    """a float64 module returns float64, and the input is not modified in place"""
    reference = reference_module(SelfAttention, 4, seed=13, dtype=torch.float64)
    x = randn(14, 2, 3, 4, dtype=torch.float64)
    with case("x (2, 3, 4) float64"):
        call = forward(learner, "SelfAttention", [4], reference, [{"args": [x, None]}], values=False)
        expect_dtype(first_output(call.result[0]), torch.float64, f"{WHERE}: output")
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
