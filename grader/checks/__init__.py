"""The hidden checks, one module per exercise; each check is a function registered with ``@check``.

A check's docstring (its first paragraph, on one line) is the title the learner sees; its order in the
file is its order in the feedback; its points are what passing it earns. A check takes the ``Learner``
for its exercise, runs the learner's code through it, and raises ``CheckFailed`` (facts + hint) when a
rule is broken.

A device check (``on_device=True``, no points) runs the learner's code on the grading run's
accelerator (``learner.device``, see ``grader.sandbox.accelerator``) in a session of its own, and is
skipped when the run has none; it comes last in its exercise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from grader.checks.compare import CheckFailed


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    points: float
    run: Callable
    on_device: bool = False


_REGISTRY: dict[str, list[Check]] = {}


def check(points: float, *, on_device: bool = False) -> Callable[[Callable], Callable]:
    """Register the decorated ``check_<behaviour>`` function with ``points``; its docstring is its title.

    ``on_device``: a device check, worth no points (grades must not depend on the grading machine).
    """
    if on_device and points:
        raise ValueError("a device check carries no points: a grade must not depend on the grading machine")

    def register(function: Callable) -> Callable:
        module = function.__module__.rsplit(".", 1)[-1]
        paragraph = (function.__doc__ or function.__name__).strip().split("\n\n")[0]
        title = " ".join(line.strip() for line in paragraph.splitlines()).rstrip(".")
        name = function.__name__.removeprefix("check_")
        _REGISTRY.setdefault(module, []).append(Check(name, title, points, function, on_device))
        return function

    return register


def checks_for(module: str, *, device_checks: bool = True) -> list[Check]:
    """The checks of exercise ``module``, in feedback order; ``device_checks=False`` leaves the device checks
    out."""
    importlib.import_module(f"grader.checks.{module}")
    return [c for c in _REGISTRY.get(module, []) if device_checks or not c.on_device]


@contextmanager
def case(description: str) -> Iterator[None]:
    """Add the input that shows a failure ("input: q (2, 3, 4) float32, seed 7") to any ``CheckFailed``
    inside."""
    try:
        yield
    except CheckFailed as failure:
        raise CheckFailed(
            f"{failure.message}\n  input: {description}", failure.hint, failure.picture
        ) from None


@contextmanager
def picture(title: str, got, expected, mask=None) -> Iterator[None]:
    """Attach the first query-by-key slice of the weights (and the mask) to any ``CheckFailed`` inside."""
    try:
        yield
    except CheckFailed as failure:
        if failure.picture is None:
            failure.picture = {
                "title": title,
                "got": _slice(got),
                "expected": _slice(expected),
                "mask": _slice(mask),
            }
        raise


def _slice(values):
    """The first (L_q, L_k) matrix of a tensor, as nested lists of floats; ``None`` if there is none."""
    import torch

    if not isinstance(values, torch.Tensor) or values.dim() < 2 or values.numel() > 1 << 16:
        return None
    while values.dim() > 2:
        values = values[0]
    return values.detach().double().cpu().tolist()
