"""Visible checks for exercise 1, softmax.py."""

import numpy as np
import pytest
import torch

from .softmax import softmax

WHERE = "softmax.softmax"


@pytest.mark.level("shape")
def test_keeps_shape_and_dtype(expect_shape, expect_true):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = softmax(x)
    inputs = "x (3, 4) float32, axis=-1"
    expect_shape(got, (3, 4), WHERE, "Does the sum you divide by keep its axis (keepdims=True)?", inputs)
    expect_true(
        got.dtype == np.float32,
        f"{WHERE}: dtype: expected float32, got {got.dtype}",
        "Which step of yours makes a new array, and in which dtype?",
        inputs,
    )


def test_worked_example(expect_close):
    got = softmax(np.array([1.0, 1.0, -np.inf]))
    expect_close(got, np.array([0.5, 0.5, 0.0]), f"{WHERE}([1, 1, -inf])", hint="What is exp(-inf)?")


def test_matches_torch_softmax_along_each_axis(expect_close):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    for axis in (0, 1, -1):
        expected = torch.softmax(torch.from_numpy(x), dim=axis).numpy()
        expect_close(
            softmax(x, axis=axis),
            expected,
            f"{WHERE}(x of shape (2, 3, 4), axis={axis})",
            hint="Over which axis do you take the maximum and the sum: the one the caller passed?",
            inputs=f"x (2, 3, 4) float64, seed 1, axis={axis}; expected: torch.softmax(x, dim={axis})",
        )


@pytest.mark.level("edge case")
def test_large_entries_do_not_overflow(expect_close):
    got = softmax(np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]]))
    small = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    expect_close(
        got,
        np.array([[1.0, 0.0, 0.0], small]),
        f"{WHERE}([[1e4, 0, -1e4], [1, 2, 3]])",
        hint="What is exp(1e4) in floating point, and what can you subtract from every entry of a row first?",
    )


@pytest.mark.level("edge case")
def test_all_minus_inf_slice_gives_zeros(expect_close):
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    got = softmax(x)

    def hint() -> str:
        if np.isnan(np.asarray(got, dtype=np.float64)[0]).any():
            return "What do exp and the sum give on a row of -inf: 0 / 0? And what is -inf - (-inf)?"
        return "What should a slice with no finite entry give, and what does yours give?"

    expect_close(got, np.array([[0.0, 0.0], [0.5, 0.5]]), f"{WHERE}([[-inf, -inf], [0, 0]])", hint=hint)


@pytest.mark.level("edge case")
def test_input_not_modified(expect_true):
    x = np.array([[3.0, 1.0, -np.inf]])
    before = x.copy()
    softmax(x)
    changed = [int(i) for i in np.argwhere(~((x == before) | (np.isnan(x) & np.isnan(before))))[:1].ravel()]
    expect_true(
        not changed,
        f"{WHERE}: input modified in place: x changed at {changed}: expected {before.ravel().tolist()}, "
        f"got {x.ravel().tolist()}",
        "Does a step of yours write into x (-=, /=, out=x) instead of making a new array?",
        "x = [[3, 1, -inf]], axis=-1",
    )
