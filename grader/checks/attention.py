"""Exercise 2 — scaled dot-product attention: shapes, values, gradients, dtypes, inputs untouched."""

from __future__ import annotations

import math
from functools import partial

import torch

from grader.checks import case, check, picture
from grader.checks.compare import (
    Tolerance,
    expect_close,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tuple,
    is_close,
)
from grader.checks.devices import expect_on_device, location
from grader.checks.inputs import FLOATS, qkv, randn, shape_text
from grader.checks.reference_gradients import gradients
from solutions.attention import scaled_dot_product_attention as reference

WHERE = "attention.scaled_dot_product_attention"
SHAPES = [  # (batch, L_q, L_k, d_k, d_v): from the smallest up
    ((), 1, 1, 2, 2),
    ((), 3, 4, 8, 6),
    ((2,), 4, 5, 8, 3),
    ((2, 3), 2, 6, 4, 5),
    ((3,), 5, 2, 16, 7),
]


def outputs(learner, q, k, v, **options):
    call = learner.call("scaled_dot_product_attention", q, k, v, **options)
    output, weights = expect_tuple(call.result, 2, f"{WHERE}: return value (output, weights)")
    return call, output, weights


GENERIC_WEIGHTS_HINT = (
    "Where do your weights first differ from softmax(q kᵀ / √d_k) over the keys (the last axis)?"
)
FLOAT32_SCALE_HINT = (
    "Is √d_k computed in float32 (torch.tensor(d_k, dtype=torch.float32))? math.sqrt keeps full precision."
)


def weights_hint(q, k, got_weights) -> str:
    """The usual wrong variant the weights are, tried here; named only when they are that one and no
    other (a shape where two variants agree names neither), else a question that names no mistake."""
    scores = q @ k.transpose(-2, -1)
    d_k, l_q, l_k = q.shape[-1], q.shape[-2], k.shape[-2]
    variants = {
        "Are you dividing by √d_k? The weights match no scaling at all.": torch.softmax(scores, -1),
        "Are you dividing by √d_k or by d_k?": torch.softmax(scores / d_k, -1),
        "Which axis holds the keys? The weights look normalised over the queries.": torch.softmax(
            scores / math.sqrt(d_k), -2
        ),
        "Which axis of q holds d_k? The weights are scaled by the square root of a sequence length.": [
            torch.softmax(scores / math.sqrt(length), -1) for length in {l_q, l_k} - {d_k}
        ],
    }
    expected = reference(q, k, k)[1]
    named = [
        hint
        for hint, wrong in variants.items()
        if any(is_close(got_weights, w) and not is_close(w, expected) for w in _each(wrong))
    ]
    return named[0] if len(named) == 1 else GENERIC_WEIGHTS_HINT


def float64_precision_hint(q, k, got_weights) -> str:
    """For float64 weights right at the usual tolerance but not at float64's: the float32-√d_k hint only
    for weights that are exactly what that mistake gives."""
    d_k = q.shape[-1]
    scale = float(torch.sqrt(torch.tensor(d_k, dtype=torch.float32)))
    lesson = torch.softmax(q @ k.transpose(-2, -1) / scale, -1)
    if is_close(got_weights, lesson, Tolerance(1e-12, 1e-14)):
        return FLOAT32_SCALE_HINT
    return "Which step of your computation runs below float64 precision (a float32 constant or tensor)?"


def shapes_hint(q, k, v, output, weights) -> str:
    """The pair returned the other way round, named only on its own signature (the two shapes swapped);
    else a question that names no mistake."""
    expected_weights, expected_output = (*q.shape[:-1], k.shape[-2]), (*q.shape[:-1], v.shape[-1])
    got = (tuple(weights.shape), tuple(output.shape))
    if expected_weights != expected_output and got == (expected_output, expected_weights):
        return (
            "Your weights have the output's shape, and the output the weights': in which order is the "
            "pair returned?"
        )
    return "Which axes of q and k meet in q kᵀ, and does your code keep any number of leading batch axes?"


def _each(wrong) -> list:
    return wrong if isinstance(wrong, list) else [wrong]


@check(points=1)
def check_returns_output_and_weights(learner):
    """returns a pair (output, weights) of tensors"""
    q, k, v = qkv(0)
    with case(shape_text(q, k, v)):
        outputs(learner, q, k, v)


@check(points=2)
def check_shapes_with_any_batch_dims(learner):
    """shapes: output (..., L_q, d_v) and weights (..., L_q, L_k) for 0 to 2 batch dimensions"""
    for seed, (batch, l_q, l_k, d_k, d_v) in enumerate(SHAPES):
        q, k, v = qkv(seed, batch, l_q, l_k, d_k, d_v)
        with case(shape_text(q, k, v)):
            _, output, weights = outputs(learner, q, k, v)
            hint = partial(shapes_hint, q, k, v, output, weights)
            expect_shape(weights, (*batch, l_q, l_k), f"{WHERE}: weights", hint)
            expect_shape(output, (*batch, l_q, d_v), f"{WHERE}: output", hint)


@check(points=3)
def check_weights_match_reference(learner):
    """weights equal softmax(q kᵀ / √d_k) over the keys"""
    for dtype in FLOATS:
        for seed, (batch, l_q, l_k, d_k, d_v) in enumerate(SHAPES):
            q, k, v = qkv(10 + seed, batch, l_q, l_k, d_k, d_v, dtype)
            with case(shape_text(q, k, v) + f", seed {10 + seed}"):
                _, _, weights = outputs(learner, q, k, v)
                expected = reference(q, k, v)[1]
                with picture("attention weights", weights, expected):
                    expect_close(weights, expected, f"{WHERE}: weights", partial(weights_hint, q, k, weights))


@check(points=3)
def check_output_matches_reference(learner):
    """output equals the returned weights @ v"""
    for dtype in FLOATS:
        for seed, (batch, l_q, l_k, d_k, d_v) in enumerate(SHAPES):
            q, k, v = qkv(20 + seed, batch, l_q, l_k, d_k, d_v, dtype)
            with case(shape_text(q, k, v) + f", seed {20 + seed}"):
                _, output, weights = outputs(learner, q, k, v)
                # The learner's own weights: a mistake in the weights is the weights checks' to cost.
                expect_shape(weights, (*batch, l_q, l_k), f"{WHERE}: weights")
                expect_close(
                    output,
                    weights.to(dtype) @ v,
                    f"{WHERE}: output against your weights @ v",
                    "Is the output your weights times v (weights @ v), with nothing else in between?",
                )


@check(points=1)
def check_weights_sum_to_one_over_keys(learner):
    """each query's weights sum to one over the keys"""
    q, k, v = qkv(30, (2,), 4, 7, 8, 3, torch.float64)
    with case(shape_text(q, k, v)):
        _, _, weights = outputs(learner, q, k, v)
        expect_close(
            weights.sum(-1),
            torch.ones(2, 4, dtype=torch.float64),
            f"{WHERE}: weights summed over keys",
            "Which axis holds the keys?",
        )


@check(points=1)
def check_matches_pytorch_scaled_dot_product_attention(learner):
    """output agrees with torch.nn.functional.scaled_dot_product_attention"""
    q, k, v = qkv(40, (2, 2), 3, 6, 8, 4, torch.float64)
    with case(shape_text(q, k, v)):
        _, output, _ = outputs(learner, q, k, v)
        expect_close(
            output, torch.nn.functional.scaled_dot_product_attention(q, k, v), f"{WHERE} vs PyTorch: output"
        )


@check(points=2)
def check_gradients_match_reference(learner):
    """gradients with respect to q, k and v match the reference"""
    for dtype in FLOATS:
        q, k, v = qkv(50, (2,), 3, 4, 6, 5, dtype)
        grad_output, grad_weights = randn(51, 2, 3, 5, dtype=dtype), randn(52, 2, 3, 4, dtype=dtype)
        expected_inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
        expected_output, expected_weights = reference(*expected_inputs)
        expected = gradients(
            (expected_output, expected_weights), expected_inputs, (grad_output, grad_weights)
        )
        with case(shape_text(q, k, v) + ", gradient of (output·g₁ + weights·g₂)"):
            call, _, _ = outputs(
                learner, q, k, v, grad_wrt=(0, 1, 2), grad_outputs=[grad_output, grad_weights]
            )
            expect_gradients(call.grads, expected, "q k v", WHERE, Tolerance.for_dtype(dtype, scale=10))


@check(points=1)
def check_keeps_dtype_and_precision(learner):
    """results keep the input's dtype (float32, float64, bfloat16) and right float64 weights full precision"""
    for dtype in (*FLOATS, torch.bfloat16):
        q, k, v = qkv(60, (2,), 3, 4, 8, 8, dtype)
        with case(shape_text(q, k, v)):
            _, output, weights = outputs(learner, q, k, v)
            expect_dtype(weights, dtype, f"{WHERE}: weights")
            expect_dtype(output, dtype, f"{WHERE}: output")
            expected = reference(q, k, v)[1]
            if dtype == torch.float64 and is_close(weights, expected):
                # Float64 sums in any order agree to ~1e-15; a float32 constant shows at ~1e-8. Weights that
                # are wrong at the usual tolerance are the value checks' to judge: not a second time here.
                expect_close(
                    weights,
                    expected,
                    f"{WHERE}: float64 weights, at float64 precision",
                    partial(float64_precision_hint, q, k, weights),
                    tolerance=Tolerance(1e-12, 1e-14),
                )


@check(points=1)
def check_inputs_not_modified(learner):
    """q, k and v are not modified in place"""
    q, k, v = qkv(70, (2,), 3, 4, 8, 5)
    with case(shape_text(q, k, v)):
        call = learner.call("scaled_dot_product_attention", q, k, v)
        for name, before, after in zip("qkv", (q, k, v), call.inputs_after, strict=True):
            expect_close(
                after,
                before,
                f"{WHERE}: input {name} modified in place",
                "Do you scale q with an in-place op such as q /= ...?",
            )


@check(points=0, on_device=True)
def check_runs_on_cuda(learner):
    """on a CUDA device: output, weights and gradients stay on the device and equal the reference"""
    q, k, v = qkv(80, (2,), 3, 5, 8, 4, torch.float64)
    grad_output, grad_weights = (
        randn(81, 2, 3, 4, dtype=torch.float64),
        randn(82, 2, 3, 5, dtype=torch.float64),
    )
    with case(shape_text(q, k, v) + f", {location(learner)}"):
        call, output, weights = outputs(
            learner, q, k, v, grad_wrt=(0, 1, 2), grad_outputs=[grad_output, grad_weights]
        )
        expect_on_device(call, learner.device, f"{WHERE}: (output, weights)")
        expect_on_device(call, learner.device, f"{WHERE}: gradients", part="grads")
        expected_output, expected_weights = reference(q, k, v)
        expect_close(weights, expected_weights, f"{WHERE}: weights on {learner.device}")
        expect_close(output, expected_output, f"{WHERE}: output on {learner.device}")
