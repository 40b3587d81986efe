"""Gradients judged against the learner's own forward, not against the reference's gradients.

Along a random direction ``u`` of the input (and ``U`` of all the weights), the gradient autograd gives
must be the rate at which the forward's own output changes: central finite differences of
``Σ g · forward(x ± εu)`` in float64. So a gradient check fails for what is wrong with the gradients
(something detached, computed outside autograd, a backward that disagrees with its forward) and never
merely because the forward's values are off, which the value checks report.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from grader.checks.compare import NO_GRADIENT_HINT, describe, fail
from grader.checks.inputs import generator, randn
from grader.checks.modules import forward

EPS = 1e-6  # float64: the central difference is off by ~EPS² and rounds by ~1e-16 / EPS
RTOL, ATOL = 1e-5, 1e-7
WEIGHTS_HINT = "Is every weight used through autograd (no .data, .detach() or NumPy on the way)?"


def expect_gradients_of_own_forward(
    learner, cls: str, init, reference: nn.Module, x: torch.Tensor, mask, *, where: str, seed: int, **options
) -> None:
    """The gradients of ``x`` and of every weight agree with the learner's own forward, in float64."""
    u = randn(seed, *x.shape, dtype=torch.float64)
    calls = [{"args": [x + EPS * u, mask]}, {"args": [x - EPS * u, mask]}]
    moved = forward(learner, cls, init, reference, calls, **options).result
    if not isinstance(moved[0], torch.Tensor):
        fail(
            f"{where}: gradients cannot be taken: forward returns a {describe(moved[0])}, not one tensor "
            "(the output-shape check says what it should be)"
        )
    g = randn(seed + 1, *moved[0].shape, dtype=torch.float64)
    calls = [{"args": [x, mask], "grad_wrt": [0], "grad_output": g}]
    call = forward(learner, cls, init, reference, calls, grad_params=True, **options)
    grad_x = call.grads[0][0]
    if grad_x is None:
        fail(f"{where}: no gradient flows back to x", NO_GRADIENT_HINT)
    _expect_rate(where, "x", _rate(moved, g), float((grad_x.double() * u).sum()), NO_GRADIENT_HINT)

    unplaced = set(call.extra.get("unexpected") or [])  # no place in the module: moving it moves nothing
    directions = _weight_directions(reference, call.param_grads, unplaced, seed + 2)
    outputs = [
        forward(learner, cls, init, _moved(reference, directions, sign), [{"args": [x, mask]}], **options)
        for sign in (1.0, -1.0)
    ]
    predicted = sum(
        float((call.param_grads[name].double() * direction).sum())
        for name, direction in directions.items()
        if name in call.param_grads
    )
    unreached = [name for name in directions if name not in call.param_grads]
    hint = WEIGHTS_HINT + (f" No gradient reaches {', '.join(unreached[:4])}." if unreached else "")
    rate = _rate([o.result[0] for o in outputs], g)
    if directions and rate == 0.0 and not call.param_grads:
        fail(
            f"{where}: the output does not change when the weights do, so their gradients cannot be judged",
            "Does forward use the SPEC's layers (self.<name>(x)) on the input?",
        )
    _expect_rate(where, "every weight", rate, predicted, hint)


def _rate(outputs: list, g: torch.Tensor) -> float:
    """d/dε of Σ g · output along the direction, from the outputs at +ε and -ε."""
    plus, minus = (torch.as_tensor(o).double() for o in outputs)
    return float(((plus - minus) * g).sum()) / (2 * EPS)


def _expect_rate(where: str, what: str, expected: float, got: float, hint: str) -> None:
    allowed = ATOL + RTOL * max(abs(expected), abs(got))
    if not abs(expected - got) <= allowed:  # not <=, so that nan fails too
        fail(
            f"{where}: gradient of {what} along a random direction: expected {expected:.6g} (how your "
            f"forward's output changes), got {got:.6g} (autograd's gradient; allowed {allowed:.1g})",
            hint,
        )


def _weight_directions(reference: nn.Module, grads: dict, unplaced: set, seed: int) -> dict:
    """A random direction per weight that loaded; none for weights sharing one gradient with another name.

    A module held under two SPEC names (``[block] * num_layers``) keeps only one of the weights loaded
    into it, so moving either name says nothing clear; its structure check reports the sharing.
    """
    g = generator(seed)
    shared = set()
    # Only gradients of one shape can be equal: an encoder's ~40 weights make a dozen small groups.
    alike: dict[tuple, list[str]] = {}
    for name, _ in reference.named_parameters():
        if name in grads and bool(grads[name].abs().sum() > 0):
            alike.setdefault(tuple(grads[name].shape), []).append(name)
    for names in alike.values():
        shared.update(
            name
            for name in names
            for other in names
            if name != other and torch.equal(grads[name], grads[other])
        )
    return {
        name: torch.randn(parameter.shape, generator=g, dtype=torch.float64)
        for name, parameter in reference.named_parameters()
        if name not in shared and name not in unplaced
    }


def _moved(reference: nn.Module, directions: dict[str, torch.Tensor], sign: float) -> nn.Module:
    moved = copy.deepcopy(reference)
    with torch.no_grad():
        for name, direction in directions.items():
            moved.get_parameter(name).add_(sign * EPS * direction)
    return moved
