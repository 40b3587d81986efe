"""Which usual masking mistake an output shows: the hints the visible tests and the hidden grader share.

A hint names a mistake only when the learner's output has that mistake's signature, worked out here on
the same inputs; any other output gets a question that names no mistake. For a query whose keys are all
masked, ``nan`` weights are the signature of filling with ``-inf`` and never zeroing the row, uniform
weights that of a finite fill (``-1e9``, ``finfo.min``, ``0``). The visible tests
(``exercises/test_masking.py``) and the grader's masking checks call these functions, so one output gets
one hint in both. Only wrong variants are computed here, never a full answer: this module ships with the
learner's kit. It imports PyTorch and ``learner.lesson`` only.
"""

from __future__ import annotations

import torch

from learner import lesson

ZERO_ROWS_HINT = "What does softmax do with a row that is all -inf? Such a query should get all-zero weights."
FINITE_FILL_HINT = (
    "A fully masked row filled with a large negative number gets uniform weights: should it not get zeros?"
)
FULLY_MASKED_QUESTION = "What should a query that may see no key get: which weights, and so which output?"
MASK_QUESTION = (
    "For the first query whose weights differ, which keys does its mask let it see, and which keys got "
    "weight?"
)


def _sees_a_key(allowed: torch.Tensor) -> torch.Tensor:
    return allowed.any(-1)  # (..., L_q)


def _sees_a_key_either_way(allowed: torch.Tensor) -> torch.Tensor:
    """Inverted, a query that sees every key sees none: judge inversion on queries left a key both ways."""
    return allowed.any(-1) & (~allowed).any(-1)


# (hint, the wrong weights from (scores, allowed), the queries it is judged on): on queries that see a key
# the right weights are the softmax over the visible keys alone, which the lesson's own masked_fill gives.
MASK_VARIANTS = (
    (
        "Is the mask inverted? True (nonzero) means 'may attend'.",
        lambda scores, allowed: torch.softmax(scores.masked_fill(allowed, float("-inf")), -1),
        _sees_a_key_either_way,
    ),
    (
        "Is the mask applied before the softmax? Zeroing weights afterwards leaves rows that do not sum to "
        "one.",
        lambda scores, allowed: torch.softmax(scores, -1) * allowed,
        _sees_a_key,
    ),
    (
        "Masked scores filled with 0 still get weight: which value makes exp() give exactly 0?",
        lambda scores, allowed: torch.softmax(scores.masked_fill(~allowed, 0.0), -1),
        _sees_a_key,
    ),
)


def close(got, expected) -> bool:
    """Same shape, and values within the lesson's tolerance for ``expected``'s dtype (``nan`` matches
    ``nan``); never raises."""
    if not isinstance(got, torch.Tensor) or not isinstance(expected, torch.Tensor):
        return False
    if got.shape != expected.shape:
        return False
    rtol, atol = lesson.tolerance(expected.dtype)
    got64, expected64 = got.detach().cpu().double(), expected.detach().cpu().double()
    return bool(torch.isclose(got64, expected64, rtol=rtol, atol=atol, equal_nan=True).all())


def fully_masked_hint(got_rows) -> str:
    """For the weights of queries that see no key: ``nan`` means ``-inf`` filled and the row never
    zeroed; uniform weights mean a finite fill; anything else gets a question that names neither."""
    if not isinstance(got_rows, torch.Tensor) or not got_rows.is_floating_point() or got_rows.dim() == 0:
        return FULLY_MASKED_QUESTION
    if not bool(torch.isfinite(got_rows).all()):
        return ZERO_ROWS_HINT
    uniform = torch.full_like(got_rows, 1.0 / got_rows.shape[-1])
    if close(got_rows, uniform):
        return FINITE_FILL_HINT
    return FULLY_MASKED_QUESTION


def mask_hint(q, k, mask, got_weights) -> str:
    """The one usual masking mistake the weights show: an inverted mask, a mask applied after the softmax,
    masked scores filled with 0 (judged on the queries that see a key), then the fully masked queries'
    signatures (``fully_masked_hint``); ``MASK_QUESTION`` when the weights are none of them, or several."""
    try:
        scores = q.detach() @ k.detach().transpose(-2, -1) / q.shape[-1] ** 0.5  # (..., L_q, L_k)
        allowed = torch.broadcast_to(torch.as_tensor(mask).to(scores.device) != 0, scores.shape)
        got = got_weights.detach().to(scores.device)
        if got.shape != scores.shape:
            return MASK_QUESTION
        right = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1).to(got.dtype)
        named = []
        for hint, variant, judged_on in MASK_VARIANTS:
            wrong, rows = variant(scores, allowed).to(got.dtype), judged_on(allowed)
            if bool(rows.any()) and close(got[rows], wrong[rows]) and not close(wrong[rows], right[rows]):
                named.append(hint)
        if len(named) == 1:
            return named[0]
        if named:
            return MASK_QUESTION
        unseen = got[~allowed.any(-1)]
        if unseen.numel() and not close(unseen, torch.zeros_like(unseen)):
            return fully_masked_hint(unseen)
    except (RuntimeError, TypeError, ValueError, AttributeError):
        pass  # an output or mask these signatures cannot even be tried on: ask the question
    return MASK_QUESTION
