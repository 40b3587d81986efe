"""Exercise 1 — softmax (NumPy): numerically stable, -inf aware, dtype kept, input untouched."""

from __future__ import annotations

import numpy as np
import torch

from grader.checks import case, check
from grader.checks.compare import (
    Tolerance,
    describe,
    expect_close,
    expect_finite,
    expect_shape,
    fail,
    is_close,
)
from solutions.softmax import softmax as reference

CASES = [
    ((4,), -1),
    ((3, 5), -1),
    ((3, 5), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), -1),
    ((1, 1), -1),
    ((2, 1, 3), -2),
]
WHERE = "softmax.softmax"


def random_input(shape, dtype, seed: int, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def run(learner, x: np.ndarray, axis: int):
    got = learner.call("softmax", x, axis=axis).result
    if not isinstance(got, np.ndarray):
        fail(
            f"{WHERE}: expected a NumPy array, got {describe(got)}",
            "Do np.exp and np.sum give you a NumPy array back?",
        )
    return got


def large_entry_tolerance(x: np.ndarray) -> Tolerance:
    """Entries near ±1e4 carry float rounding of eps·|x| into every exponent (x - logsumexp(x), as SciPy
    does)."""
    finite = np.abs(x[np.isfinite(x)])
    scale = 4 * np.finfo(x.dtype).eps * (float(finite.max()) if finite.size else 0.0)
    default = Tolerance.for_dtype(torch.from_numpy(x).dtype)
    return Tolerance(max(default.rtol, scale), max(default.atol, scale))


def compare(
    got: np.ndarray,
    expected: np.ndarray,
    x: np.ndarray,
    axis: int,
    hint: str,
    tolerance: Tolerance | None = None,
) -> None:
    got_t, expected_t = torch.from_numpy(got), torch.from_numpy(expected)
    expect_shape(got_t, expected_t.shape, WHERE)
    if got.dtype != expected.dtype:
        fail(
            f"{WHERE}: dtype: expected {expected.dtype}, got {got.dtype}",
            "Does a float32 input stay float32?",
        )
    for other in range(x.ndim):
        if other != axis % x.ndim and is_close(got_t, torch.from_numpy(reference(x, axis=other))):
            hint = f"Your result sums to one along axis {other}; which axis did the caller ask for?"
    expect_close(got_t, expected_t, WHERE, hint, tolerance)


@check(points=1)
def check_keeps_shape_and_dtype(learner):
    """returns a new array of the input's shape and dtype"""
    for seed, (shape, axis) in enumerate(CASES):
        for dtype in (np.float32, np.float64):
            x = random_input(shape, dtype, seed)
            with case(f"x {shape} {np.dtype(dtype)}, axis={axis}"):
                got = run(learner, x, axis)
                expect_shape(torch.from_numpy(got), shape, WHERE)
                if got.dtype != x.dtype:
                    fail(
                        f"{WHERE}: dtype: expected {x.dtype}, got {got.dtype}",
                        "Does a float32 input stay float32?",
                    )


@check(points=2)
def check_matches_reference_on_random_inputs(learner):
    """matches softmax along the requested axis on random inputs"""
    for seed, (shape, axis) in enumerate(CASES):
        for dtype in (np.float32, np.float64):
            x = random_input(shape, dtype, 100 + seed)
            with case(f"x {shape} {np.dtype(dtype)}, axis={axis}, seed {100 + seed}"):
                compare(
                    run(learner, x, axis),
                    reference(x, axis=axis),
                    x,
                    axis,
                    "Is exp normalised by the sum over the axis?",
                )


@check(points=1)
def check_slices_sum_to_one(learner):
    """every slice along the axis sums to one"""
    for seed, (shape, axis) in enumerate(CASES):
        x = random_input(shape, np.float64, 200 + seed)
        with case(f"x {shape} float64, axis={axis}, seed {200 + seed}"):
            got = run(learner, x, axis)
            sums = torch.from_numpy(np.asarray(np.asarray(got, dtype=np.float64).sum(axis=axis)))
            expect_close(
                sums,
                torch.ones_like(sums),
                f"{WHERE}: sums along axis {axis}",
                "Do you divide by the sum over the same axis?",
            )


@check(points=2)
def check_stable_for_large_entries(learner):
    """large entries (±1e4) neither overflow nor give nan"""
    rows = [[1e4, 0.0, -1e4], [0.0, 1.0, 2.0], [1000.0, 999.0, 998.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]
    hint = (
        "What is exp(1e4) in floating point? Softmax does not change when you subtract the same number "
        "from a whole slice."
    )
    for dtype in (np.float64, np.float32):
        x = np.array(rows, dtype=dtype)
        with case(f"x = {rows} as {np.dtype(dtype)}, axis=-1"):
            got = run(learner, x, -1)
            expect_finite(torch.from_numpy(got), WHERE, hint)
            compare(
                got,
                reference(x, axis=-1),
                x,
                -1,
                "Is the maximum you subtract taken per slice, not over the whole array?",
                large_entry_tolerance(x),
            )


@check(points=1)
def check_minus_inf_entries_get_zero_weight(learner):
    """-inf entries get weight exactly 0"""
    x = np.array([[0.5, -np.inf, 1.5, -np.inf], [-np.inf, 2.0, 2.0, 0.0]])
    with case("x = [[0.5, -inf, 1.5, -inf], [-inf, 2, 2, 0]], axis=-1"):
        compare(run(learner, x, -1), reference(x, axis=-1), x, -1, "What is exp(-inf)?")


@check(points=2)
def check_all_minus_inf_slice_gives_zeros(learner):
    """a slice that is all -inf gives all zeros, not nan"""
    hint = "What is the maximum of a slice of -inf, and what is -inf - (-inf)?"
    cases = [
        (
            np.array([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]]),
            -1,
            "x = [[-inf, -inf, -inf], [1, 2, 3]], axis=-1",
        ),
        (
            np.array([[-np.inf, 1.0], [-np.inf, 2.0]], dtype=np.float32),
            0,
            "x = [[-inf, 1], [-inf, 2]] float32, axis=0",
        ),
        (np.full((2, 2), -np.inf), -1, "x = 2×2 of -inf, axis=-1"),
    ]
    for x, axis, text in cases:
        with case(text):
            got = run(learner, x, axis)
            expect_finite(torch.from_numpy(got), WHERE, hint)
            compare(got, reference(x, axis=axis), x, axis, hint)


@check(points=1)
def check_input_not_modified(learner):
    """the input array is not modified in place"""
    for x, text in [
        (random_input((3, 4), np.float64, 300), "x (3, 4) float64"),
        (np.array([[1e4, 3.0, -np.inf]]), "x = [[1e4, 3, -inf]]"),
    ]:
        with case(text):
            call = learner.call("softmax", x.copy(), axis=-1)
            after = np.asarray(call.inputs_after[0])
            changed = ~((after == x) | (np.isnan(after) & np.isnan(x)))
            if changed.any():
                index = [int(i) for i in np.argwhere(changed)[0]]
                fail(
                    f"{WHERE}: input modified in place: x changed at {index} (was {x[tuple(index)]}, now "
                    f"{after[tuple(index)]})",
                    "Do you subtract into x itself (x -= ...) or write into it with out=x?",
                )
