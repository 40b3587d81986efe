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


GENERIC_HINT = "Where do your values first differ from exp(x) divided by its sum over the axis?"
# The usual wrong softmaxes, each a signature: what it returns for x. A hint names one of them only when
# the learner's output is that one's and no other's (see ``hint_for``).
WRONG_SOFTMAXES = {
    "max over the whole array": (
        lambda x, axis: _normalised(np.exp(x - _finite_max(x, None)), axis),
        "Is the maximum you subtract taken per slice, not over the whole array?",
    ),
    "sum over the whole array": (
        lambda x, axis: _normalised(np.exp(x - _finite_max(x, axis)), None),
        "Is the sum you divide by taken per slice along the axis, not over the whole array?",
    ),
    "no maximum subtracted": (
        lambda x, axis: _normalised(np.exp(x), axis),
        "What is exp(1e4) in floating point? Softmax does not change when you subtract the same number "
        "from a whole slice.",
    ),
}


def _finite_max(x: np.ndarray, axis) -> np.ndarray:
    shift = np.max(x, axis=axis, keepdims=axis is not None)
    return np.where(np.isneginf(shift), 0, shift)


def _normalised(exps: np.ndarray, axis) -> np.ndarray:
    """``exps`` over their sum along ``axis`` (the whole array for ``None``), zero where that sum is."""
    total = np.broadcast_to(np.sum(exps, axis=axis, keepdims=axis is not None), exps.shape)
    return np.divide(exps, total, out=np.zeros_like(exps), where=total > 0)


def hint_for(got: np.ndarray, x: np.ndarray, axis: int, default: str = GENERIC_HINT) -> str:
    """The hint of the one usual mistake whose output ``got`` is (the wrong axis, a maximum or sum over the
    whole array, no maximum subtracted); ``default``, a question that names no mistake, when it is none
    of them or several at once (a mistake the input cannot tell from another gets no name)."""
    got_t = torch.from_numpy(np.asarray(got, dtype=x.dtype))
    named = []
    for other in range(x.ndim):
        if other != axis % x.ndim and is_close(got_t, torch.from_numpy(reference(x, axis=other))):
            named.append(f"Your result sums to one along axis {other}; which axis did the caller ask for?")
    with np.errstate(all="ignore"):
        for signature, hint in WRONG_SOFTMAXES.values():
            wrong = torch.from_numpy(np.asarray(signature(x, axis), dtype=x.dtype))
            if is_close(got_t, wrong) and not is_close(wrong, torch.from_numpy(reference(x, axis=axis))):
                named.append(hint)
    return named[0] if len(named) == 1 else default


def compare(
    got: np.ndarray,
    expected: np.ndarray,
    x: np.ndarray,
    axis: int,
    hint: str = GENERIC_HINT,
    tolerance: Tolerance | None = None,
) -> None:
    """Values against ``expected`` in the input's dtype: a result in another dtype is judged by its values
    here (``check_keeps_shape_and_dtype`` alone costs the dtype), so one slip costs one check."""
    got_t, expected_t = torch.from_numpy(np.asarray(got)), torch.from_numpy(expected)
    expect_shape(got_t, expected_t.shape, WHERE)
    if got.dtype != expected.dtype and np.issubdtype(got.dtype, np.floating):
        got_t = got_t.to(expected_t.dtype)
    expect_close(got_t, expected_t, WHERE, lambda: hint_for(got, x, axis, hint), tolerance, check_dtype=False)


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
                compare(run(learner, x, axis), reference(x, axis=axis), x, axis)


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
                lambda got=got, x=x, axis=axis: hint_for(
                    got, x, axis, "Which sum do you divide each slice by?"
                ),
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
            expect_finite(torch.from_numpy(got), WHERE, lambda got=got, x=x: hint_for(got, x, -1, hint))
            compare(got, reference(x, axis=-1), x, -1, tolerance=large_entry_tolerance(x))


@check(points=1)
def check_minus_inf_entries_get_zero_weight(learner):
    """-inf entries get weight exactly 0"""
    x = np.array([[0.5, -np.inf, 1.5, -np.inf], [-np.inf, 2.0, 2.0, 0.0]])
    with case("x = [[0.5, -inf, 1.5, -inf], [-inf, 2, 2, 0]], axis=-1"):
        got = run(learner, x, -1)
        expect_shape(torch.from_numpy(got), x.shape, WHERE)
        # Only the -inf entries are this check's: the other values are judged by the checks above.
        at_minus_inf = torch.from_numpy(np.asarray(got)[np.isneginf(x)])
        expect_finite(at_minus_inf, f"{WHERE}: weights of the -inf entries", "What is exp(-inf)?")
        expect_close(
            at_minus_inf,
            torch.zeros_like(at_minus_inf),
            f"{WHERE}: weights of the -inf entries",
            "What is exp(-inf)?",
        )


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
