"""Visible checks for exercise 1, softmax.py."""

import numpy as np
import torch

from .softmax import softmax


def test_keeps_shape_and_dtype(expect_shape):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = softmax(x)
    expect_shape(got, (3, 4), "softmax.softmax")
    assert got.dtype == np.float32, f"softmax.softmax: dtype: expected float32, got {got.dtype}"


def test_worked_example(expect_close):
    got = softmax(np.array([1.0, 1.0, -np.inf]))
    expect_close(got, np.array([0.5, 0.5, 0.0]), "softmax.softmax([1, 1, -inf])", hint="What is exp(-inf)?")


def test_matches_torch_softmax_along_each_axis(expect_close):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    for axis in (0, 1, -1):
        expected = torch.softmax(torch.from_numpy(x), dim=axis).numpy()
        expect_close(softmax(x, axis=axis), expected, f"softmax.softmax(x of shape (2, 3, 4), axis={axis})")


def test_large_entries_do_not_overflow(expect_close):
    got = softmax(np.array([[1e4, 0.0, -1e4]]))
    expect_close(
        got,
        np.array([[1.0, 0.0, 0.0]]),
        "softmax.softmax([[1e4, 0, -1e4]])",
        hint="What is exp(1e4) in floating point, and what can you subtract from every entry first?",
    )


def test_all_minus_inf_slice_gives_zeros(expect_close):
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    expect_close(
        softmax(x),
        np.array([[0.0, 0.0], [0.5, 0.5]]),
        "softmax.softmax([[-inf, -inf], [0, 0]])",
        hint="What is the maximum of a row of -inf, and what is -inf - (-inf)?",
    )


def test_input_not_modified():
    x = np.array([[3.0, 1.0, -np.inf]])
    before = x.copy()
    softmax(x)
    assert np.array_equal(x, before), f"softmax.softmax: input modified in place: x is now {x}, was {before}"
