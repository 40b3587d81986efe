"""Exercise 3 — causal and padding masks, and attention under a mask (fully masked rows included)."""

from __future__ import annotations

from functools import partial

import torch

from grader.checks import case, check, picture
from grader.checks.compare import (
    Tolerance,
    expect_close,
    expect_equal,
    expect_finite,
    expect_gradients,
    expect_shape,
    fail,
)
from grader.checks.devices import MASK_DEVICE_HINT, expect_on_device, location
from grader.checks.inputs import FLOATS, mask_text, qkv, randn, random_mask, shape_text
from grader.checks.masking_cases import MASK_FORMS, WHERE, attend, causal_hint, fully_masked_case
from grader.checks.reference_gradients import gradients

# The hints for masked weights are chosen where the visible tests choose theirs, by the same signatures.
from learner.mistakes import ZERO_ROWS_HINT, fully_masked_hint, mask_hint
from solutions.masking import causal_mask as reference_causal
from solutions.masking import masked_attention as reference
from solutions.masking import padding_mask as reference_padding


@check(points=2)
def check_causal_mask_values(learner):
    """causal_mask(size) is a bool (size, size) tensor, True where key ≤ query"""
    for size in (3, 1, 5):  # 3 first: at 1 or 2, a wrong triangle and a hidden diagonal look alike
        with case(f"causal_mask({size})"):
            got = learner.call("causal_mask", size).result
            expect_equal(
                got, reference_causal(size), f"masking.causal_mask({size})", partial(causal_hint, size, got)
            )


@check(points=2)
def check_padding_mask_values(learner):
    """padding_mask(lengths, max_len) is a bool (B, 1, max_len) tensor, True at real tokens"""
    cases = [
        ([3], None),
        ([2, 3], None),
        (torch.tensor([4, 1, 3]), None),
        ([2, 0, 1], 4),
        (torch.tensor([1, 1]), 3),
    ]
    for lengths, max_len in cases:
        text = f"padding_mask({lengths!r}, max_len={max_len})"
        with case(text):
            got = learner.call("padding_mask", lengths, max_len=max_len).result
            expect_equal(
                got,
                reference_padding(lengths, max_len=max_len),
                f"masking.{text}",
                "Shape (B, 1, max_len): True where position < length.",
            )


@check(points=1)
def check_padding_mask_rejects_short_max_len(learner):
    """padding_mask raises ValueError when max_len is shorter than a length"""
    with case("padding_mask([2, 5], max_len=4)"):
        raised = learner.raises("padding_mask", [2, 5], max_len=4)
        if raised != "ValueError":
            fail(
                "masking.padding_mask([2, 5], max_len=4): expected ValueError, got "
                f"{raised or 'no exception'}"
            )


@check(points=1)
def check_no_mask_equals_plain_attention(learner):
    """mask=None gives plain scaled dot-product attention"""
    for dtype in FLOATS:
        q, k, v = qkv(100, (2,), 3, 5, 4, 6, dtype)
        with case(shape_text(q, k, v) + ", mask=None"):
            _, output, weights = attend(learner, q, k, v, None)
            expected_output, expected_weights = reference(q, k, v)
            expect_close(weights, expected_weights, f"{WHERE}(mask=None): weights")
            expect_close(output, expected_output, f"{WHERE}(mask=None): output")


@check(points=2)
def check_masked_keys_get_zero_weight(learner):
    """masked keys get weight exactly 0"""
    q, k, v = qkv(110, (2,), 4, 4, 8, 3)
    for mask in (reference_causal(4), random_mask(111, 2, 4, 4)):
        with case(shape_text(q, k, v) + ", " + mask_text(mask)):
            _, _, weights = attend(learner, q, k, v, mask)
            expect_shape(weights, (2, 4, 4), f"{WHERE}: weights")
            leaked = (weights != 0) & ~mask.expand_as(weights)
            if bool(leaked.any()):
                b, i, j = (int(x) for x in torch.nonzero(leaked)[0])
                drawing = picture(
                    "masked keys get weight 0",
                    weights[b],
                    reference(q, k, v, mask)[1][b],
                    mask.expand_as(weights)[b],
                )
                with drawing:
                    fail(
                        f"{WHERE}: masked key got weight: query {i} of batch {b} gives key {j} weight "
                        f"{weights[b, i, j].item():.4g}, expected 0",
                        partial(mask_hint, q, k, mask, weights),
                    )


@check(points=3)
def check_matches_reference_for_every_mask_form(learner):
    """bool, int and float 0/1 masks of any broadcastable shape give the reference's weights and output"""
    for dtype in FLOATS:
        for seed, (form, batch, l_q, l_k, build) in enumerate(MASK_FORMS):
            q, k, v = qkv(120 + seed, batch, l_q, l_k, 8, 5, dtype)
            mask = build(130 + seed)
            with case(shape_text(q, k, v) + f", mask {form}, seed {120 + seed}"):
                _, output, weights = attend(learner, q, k, v, mask)
                expected_output, expected_weights = reference(q, k, v, mask)
                with picture(f"weights with a {form} mask", weights, expected_weights, mask):
                    expect_close(
                        weights,
                        expected_weights,
                        f"{WHERE}: weights",
                        partial(mask_hint, q, k, mask, weights),
                    )
                expect_close(output, expected_output, f"{WHERE}: output")


@check(points=1)
def check_matches_pytorch_with_masks(learner):
    """output agrees with torch.nn.functional.scaled_dot_product_attention given the same boolean mask"""
    q, k, v = qkv(140, (2,), 5, 5, 8, 4, torch.float64)
    for mask in (reference_causal(5), reference_padding([5, 3], max_len=5)):
        with case(shape_text(q, k, v) + ", " + mask_text(mask)):
            _, output, _ = attend(learner, q, k, v, mask)
            expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            expect_close(output, expected, f"{WHERE} vs PyTorch: output")


@check(points=3)
def check_fully_masked_row_gives_zero_weights_and_output(learner):
    """a query whose keys are all masked gets all-zero weights and an all-zero output, never nan"""
    for dtype in FLOATS:
        q, k, v, mask = fully_masked_case(150, dtype)
        with case(
            shape_text(q, k, v)
            + ", mask bool (2, 4, 5) with query 2 of batch 0 and query 0 of batch 1 fully masked"
        ):
            _, output, weights = attend(learner, q, k, v, mask)
            _, expected_weights = reference(q, k, v, mask)
            # Only the fully masked rows are this check's: the others are judged by the checks of masking.
            unseen = ~mask.any(-1)
            expect_shape(weights, expected_weights.shape, f"{WHERE}: weights")
            expect_shape(output, (*q.shape[:-1], v.shape[-1]), f"{WHERE}: output")
            rows, out_rows = weights[unseen], output[unseen]
            hint = partial(fully_masked_hint, rows)
            with picture("query 2 of batch 0 sees no key", weights, expected_weights, mask):
                expect_finite(rows, f"{WHERE}: weights of the fully masked queries", hint)
                expect_close(
                    rows, torch.zeros_like(rows), f"{WHERE}: weights of the fully masked queries", hint
                )
            expect_finite(out_rows, f"{WHERE}: output of the fully masked queries", ZERO_ROWS_HINT)
            expect_close(
                out_rows,
                torch.zeros_like(out_rows),
                f"{WHERE}: output of the fully masked queries",
                "With all-zero weights, what is the weighted sum of the values?",
            )
    q, k, v = qkv(151, (), 3, 3, 4, 4)
    mask = torch.zeros(3, 3, dtype=torch.bool)
    with case("every key masked for every query, mask bool (3, 3) all False"):
        _, output, weights = attend(learner, q, k, v, mask)
        expect_close(
            weights, torch.zeros(3, 3), f"{WHERE}: all-masked weights", partial(fully_masked_hint, weights)
        )
        expect_close(
            output,
            torch.zeros(3, 4),
            f"{WHERE}: all-masked output",
            "With all-zero weights, what is the weighted sum of the values?",
        )


@check(points=2)
def check_fully_masked_row_has_finite_gradients(learner):
    """gradients stay finite (and match the reference) when a row is fully masked"""
    for dtype in FLOATS:
        q, k, v, mask = fully_masked_case(160, dtype)
        grads = [randn(161, 2, 4, 3, dtype=dtype), randn(162, 2, 4, 5, dtype=dtype)]
        inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
        expected = gradients(reference(*inputs, mask), inputs, grads)
        with case(
            shape_text(q, k, v)
            + ", mask (2, 4, 5) with fully masked rows, gradient of (output·g₁ + weights·g₂)"
        ):
            call, _, _ = attend(learner, q, k, v, mask, grad_wrt=(0, 1, 2), grad_outputs=grads)
            nan_hint = (
                "A nan made in the forward pass comes back in the backward pass even after you replace it."
            )
            expect_gradients(
                call.grads, expected, "q k v", WHERE, Tolerance.for_dtype(dtype, scale=10), nan_hint
            )


@check(points=1)
def check_gradients_match_reference(learner):
    """gradients with respect to q, k and v match the reference under a causal mask (float64)"""
    q, k, v = qkv(170, (2,), 4, 4, 6, 5, torch.float64)
    mask = reference_causal(4)
    grads = [randn(171, 2, 4, 5, dtype=torch.float64), randn(172, 2, 4, 4, dtype=torch.float64)]
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
    expected = gradients(reference(*inputs, mask), inputs, grads)
    with case(shape_text(q, k, v) + ", causal mask"):
        call, _, _ = attend(learner, q, k, v, mask, grad_wrt=(0, 1, 2), grad_outputs=grads)
        expect_gradients(call.grads, expected, "q k v", WHERE)


@check(points=1)
def check_inputs_and_mask_not_modified(learner):
    """q, k, v and the mask are not modified in place"""
    q, k, v, mask = fully_masked_case(180, torch.float32)
    int_mask = mask.long()
    with case(shape_text(q, k, v) + ", mask int64 (2, 4, 5)"):
        call = learner.call("masked_attention", q, k, v, int_mask)
        for name, before, after in zip(
            ("q", "k", "v", "mask"), (q, k, v, int_mask), call.inputs_after, strict=True
        ):
            expect_equal(
                after,
                before,
                f"{WHERE}: input {name} modified in place",
                "Do you use an in-place op (masked_fill_, /=) on an input?",
            )


@check(points=1)
def check_causality_by_perturbation(learner):
    """under a causal mask, changing later keys and values never changes earlier outputs"""
    q, k, v = qkv(190, (2,), 6, 6, 4, 4, torch.float64)
    k2, v2 = k.clone(), v.clone()
    k2[:, 3:] += 5.0
    v2[:, 3:] -= 5.0
    mask = reference_causal(6)
    with case(shape_text(q, k, v) + ", causal mask, keys and values 3-5 changed"):
        _, before, _ = attend(learner, q, k, v, mask)
        _, after, _ = attend(learner, q, k2, v2, mask, fresh=True)  # its own sandbox: no remembered answer
        expect_close(
            after[:, :3],
            before[:, :3],
            f"{WHERE}: outputs of queries 0-2 after changing keys 3-5",
            "May query i attend to key j > i?",
        )


@check(points=0, on_device=True)
def check_runs_on_cuda(learner):
    """on a CUDA device: masks are made where asked, and masked attention stays on the device wherever the
    mask lives"""
    device = learner.device
    with case(f"causal_mask(5, device={device!r})"):
        call = learner.call("causal_mask", 5, device=device)
        expect_on_device(
            call,
            device,
            f"masking.causal_mask(5, device={device!r})",
            hint="Pass device on: torch.ones(..., device=device).",
        )
        expect_equal(call.result, reference_causal(5), f"masking.causal_mask(5, device={device!r})")
    lengths = torch.tensor([4, 1, 3])
    with case(f"padding_mask(tensor([4, 1, 3]) {location(learner)}, max_len=5)"):
        call = learner.call("padding_mask", lengths, max_len=5)
        expect_on_device(
            call,
            device,
            "masking.padding_mask(lengths, max_len=5)",
            hint="The mask goes where lengths are: torch.arange(max_len, device=lengths.device).",
        )
        expect_equal(
            call.result, reference_padding(lengths, max_len=5), "masking.padding_mask(lengths, max_len=5)"
        )
    q, k, v, mask = fully_masked_case(200, torch.float64)
    grads = [randn(201, 2, 4, 3, dtype=torch.float64), randn(202, 2, 4, 5, dtype=torch.float64)]
    expected_output, expected_weights = reference(q, k, v, mask)
    for mask_device, stay in (("cpu", ("args.3",)), (device, ())):
        with case(
            shape_text(q, k, v)
            + f", {location(learner)}, mask bool (2, 4, 5) on {mask_device}, fully masked rows"
        ):
            call, output, weights = attend(
                learner, q, k, v, mask, grad_wrt=(0, 1, 2), grad_outputs=grads, stay_on_cpu=stay
            )
            expect_on_device(call, device, f"{WHERE}: (output, weights)", hint=MASK_DEVICE_HINT)
            expect_on_device(call, device, f"{WHERE}: gradients", part="grads", hint=MASK_DEVICE_HINT)
            expect_finite(weights, f"{WHERE}: fully masked query row: weights on {device}", ZERO_ROWS_HINT)
            expect_close(weights, expected_weights, f"{WHERE}: weights on {device}")
            expect_close(output, expected_output, f"{WHERE}: output on {device}")
            for name, grad in zip("qkv", call.grads, strict=True):
                expect_finite(grad, f"{WHERE}: gradient of {name} on {device}", ZERO_ROWS_HINT)
