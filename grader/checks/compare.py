"""Closeness and the messages a learner reads when a value is off.

Comparisons run in a fixed order and stop at the first mismatch (STYLE: structure → shape → dtype →
device → finite → values → gradients). Every failure raises ``CheckFailed`` whose first line says
where, what was checked, what was expected and what came out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from learner import lesson

# (rtol, atol) by dtype: the table the visible tests use too (learner/lesson.py says why these).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    getattr(torch, name): pair for name, pair in lesson.TOLERANCES.items()
}


class CheckFailed(AssertionError):
    """A check's rule is broken. ``message`` is the facts; ``hint`` an optional question for the learner.

    ``picture`` optionally carries small 2-D lists (``title``, ``mask``, ``got``, ``expected``) that the
    HTML feedback draws side by side.
    """

    def __init__(self, message: str, hint: str | None = None, picture: dict | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.picture = picture


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    @classmethod
    def for_dtype(cls, dtype: torch.dtype, scale: float = 1.0) -> Tolerance:
        rtol, atol = TOLERANCES.get(dtype, (0.0, 0.0))
        return cls(rtol * scale, atol * scale)


Hint = (
    str | Callable[[], str] | None
)  # a callable is asked only when the check fails: some hints run the usual mistakes


def fail(message: str, hint: Hint = None):
    __tracebackhide__ = True
    if callable(hint):
        try:
            hint = hint()
        except Exception:  # noqa: BLE001 - a hint that cannot be worked out must not hide the failure itself
            hint = None
    raise CheckFailed(message, hint)


def describe(value) -> str:
    """A short description of a value: ``tensor (2, 3) float32`` or ``list of 3``."""
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def as_tensor(value, what: str) -> torch.Tensor:
    """``value`` as a tensor (NumPy arrays converted); anything else fails with its type."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        fail(f"{what}: expected a tensor, got {describe(value)}")
    return value


def expect_tuple(value, arity: int, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != arity:
        fail(f"{what}: expected a tuple of {arity} tensors, got {describe(value)}")
    return tuple(value)


def expect_shape(got, expected_shape, what: str, hint: Hint = None) -> None:
    got_shape = tuple(as_tensor(got, what).shape)
    if got_shape != tuple(expected_shape):
        fail(f"{what}: shape: expected {tuple(expected_shape)}, got {got_shape}", hint)


def expect_dtype(got, expected_dtype, what: str) -> None:
    got_dtype = as_tensor(got, what).dtype
    if got_dtype != expected_dtype:
        fail(f"{what}: dtype: expected {_dtype_name(expected_dtype)}, got {_dtype_name(got_dtype)}")


def expect_finite(got, what: str, hint: Hint = None) -> None:
    tensor = as_tensor(got, what)
    if tensor.is_floating_point() or tensor.is_complex():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            index = _first_index(bad)
            fail(f"{what}: expected finite values, got {tensor[tuple(index)].item()} at {index}", hint)


def expect_equal(got, expected, what: str, hint: Hint = None) -> None:
    """Exact equality, for masks and integer results; shape and dtype first."""
    got_t, expected_t = as_tensor(got, what), as_tensor(expected, what)
    expect_shape(got_t, expected_t.shape, what, hint)
    expect_dtype(got_t, expected_t.dtype, what)
    differs = got_t.cpu() != expected_t.cpu()
    if bool(differs.any()):
        index = _first_index(differs)
        fail(
            f"{what}: {int(differs.sum())} of {expected_t.numel()} values differ; first at {index}: "
            f"expected {_scalar(expected_t, index)}, got {_scalar(got_t, index)}",
            hint,
        )


def expect_close(
    got, expected, what: str, hint: Hint = None, tolerance: Tolerance | None = None, check_dtype: bool = True
) -> None:
    """Shape, dtype, then values within ``tolerance`` (default: by the expected dtype); nan only where
    expected."""
    got_t, expected_t = as_tensor(got, what), as_tensor(expected, what)
    expect_shape(got_t, expected_t.shape, what, hint)
    if check_dtype:
        expect_dtype(got_t, expected_t.dtype, what)
    tolerance = tolerance or Tolerance.for_dtype(expected_t.dtype)
    message = mismatch(got_t, expected_t, tolerance)
    if message:
        fail(f"{what}: {message}", hint)


NO_GRADIENT_HINT = "Is anything detached, or computed outside autograd (NumPy, .item())?"


def expect_gradients(
    got: list,
    expected: list,
    names: str,
    where: str,
    tolerance: Tolerance | None = None,
    finite_hint: Hint = None,
) -> None:
    """Each input's gradient: present, finite (when ``finite_hint`` says why it matters), then close."""
    for name, grad, want in zip(names.split(), got, expected, strict=True):
        if grad is None:
            fail(f"{where}: no gradient flows back to {name}", NO_GRADIENT_HINT)
        if finite_hint:
            expect_finite(grad, f"{where}: gradient of {name}", finite_hint)
        expect_close(grad, want, f"{where}: gradient of {name}", tolerance=tolerance)


def mismatch(got: torch.Tensor, expected: torch.Tensor, tolerance: Tolerance) -> str | None:
    """``None`` when close, else "N of M values differ; worst at [i, j]: expected a, got b (allowed ...)"."""
    got64 = got.detach().cpu().to(torch.float64)
    expected64 = expected.detach().cpu().to(torch.float64)
    allowed = tolerance.atol + tolerance.rtol * expected64.abs()
    excess = (got64 - expected64).abs() - allowed
    same_special = (got64 == expected64) | (got64.isnan() & expected64.isnan())
    excess = torch.where(excess.isnan(), torch.inf, excess)
    excess = torch.where(same_special, -1.0, excess)
    bad = excess > 0
    if not bool(bad.any()):
        return None
    flat = int(torch.argmax(torch.where(bad, excess, -torch.inf).flatten()))
    index = [int(i) for i in np.unravel_index(flat, tuple(expected.shape))] if expected.dim() else []
    expected_value, got_value = expected64[tuple(index)].item(), got64[tuple(index)].item()
    difference = abs(got_value - expected_value)
    return (
        f"{int(bad.sum())} of {expected.numel()} values differ; worst at {index}: expected "
        f"{_number(expected_value)}, "
        f"got {_number(got_value)} (off by {_number(difference)}; allowed {tolerance.atol:.1g} + "
        f"{tolerance.rtol:.1g} × |expected|)"
    )


def is_close(got, expected, tolerance: Tolerance | None = None) -> bool:
    """Whether ``got`` matches ``expected`` (same shape, values within tolerance); never raises."""
    if (
        not isinstance(got, torch.Tensor)
        or not isinstance(expected, torch.Tensor)
        or got.shape != expected.shape
    ):
        return False
    return mismatch(got, expected, tolerance or Tolerance.for_dtype(expected.dtype)) is None


def _first_index(flags: torch.Tensor) -> list[int]:
    if flags.dim() == 0:
        return []
    return [int(i) for i in torch.nonzero(flags.cpu())[0]]


def _scalar(tensor: torch.Tensor, index: list[int]):
    value = tensor.detach().cpu()[tuple(index)].item()
    return _number(value) if isinstance(value, float) else value


def _number(value: float) -> str:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    return f"{value:.6g}"


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")
