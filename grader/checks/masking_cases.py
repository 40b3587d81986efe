"""The cases the masking checks build: one call of masked_attention, the mask forms every submission must
accept, a fully masked row, and the hint that names which triangle or which keys a mask got wrong.
"""

from __future__ import annotations

import torch

from grader.checks.compare import (
    expect_tuple,
    is_close,
)
from grader.checks.inputs import qkv, random_mask
from solutions.masking import causal_mask as reference_causal
from solutions.masking import masked_attention as reference

WHERE = "masking.masked_attention"
ZERO_ROWS_HINT = "What does softmax do with a row that is all -inf? Such a query should get all-zero weights."


def attend(learner, q, k, v, mask, **options):
    call = learner.call("masked_attention", q, k, v, mask, **options)
    output, weights = expect_tuple(call.result, 2, f"{WHERE}: return value (output, weights)")
    return call, output, weights


def mask_hint(q, k, mask, got_weights) -> str:
    """A question aimed at the likeliest masking mistake, found by trying the usual wrong variants."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    try:
        allowed = torch.broadcast_to(mask != 0, scores.shape)
    except RuntimeError:
        return "Masked keys get -inf before the softmax; nonzero mask entries mean 'may attend'."
    variants = {
        "Is the mask inverted? True (nonzero) means 'may attend'.": reference(q, k, k, ~allowed)[1],
        (
            "Is the mask applied before the softmax? Zeroing weights afterwards leaves rows that do not "
            "sum to one."
        ): torch.softmax(scores, -1) * allowed,
        (
            "Masked scores filled with 0 still get weight: which value makes exp() give exactly 0?"
        ): torch.softmax(scores.masked_fill(~allowed, 0.0), -1),
        (
            "A fully masked row filled with a large negative number gets uniform weights: should it not "
            "get zeros?"
        ): torch.softmax(scores.masked_fill(~allowed, -1e9), -1),
    }
    for hint, wrong in variants.items():
        if is_close(got_weights, wrong.to(got_weights.dtype)):
            return hint
    return "Masked keys get -inf before the softmax; nonzero mask entries mean 'may attend'."


MASK_FORMS = [  # (description, batch, L_q, L_k, mask builder)
    ("bool (L_q, L_k)", (2,), 4, 5, lambda s: random_mask(s, 4, 5)),
    ("int (B, 1, L_k)", (2,), 3, 5, lambda s: random_mask(s, 2, 1, 5).long()),
    ("float 0/1 (B, L_q, L_k)", (2,), 4, 3, lambda s: random_mask(s, 2, 4, 3).double()),
    ("bool (L_k,)", (3,), 2, 6, lambda s: random_mask(s, 6)),
    ("bool (1, 1, L_k), 2 batch dims", (2, 3), 4, 4, lambda s: random_mask(s, 1, 1, 4)),
    ("uint8 causal (L, L), no batch", (), 5, 5, lambda s: reference_causal(5).to(torch.uint8)),
    ("bool (B, H, L_q, L_k), 2 batch dims", (2, 2), 3, 4, lambda s: random_mask(s, 2, 2, 3, 4)),
    (
        "int 0/3 (B, L_q, L_k): any nonzero value may attend",
        (2,),
        3,
        4,
        lambda s: random_mask(s, 2, 3, 4).long() * 3,
    ),
    (
        "float 0/0.5 (L_q, L_k): any nonzero value may attend",
        (2,),
        3,
        4,
        lambda s: random_mask(s, 3, 4).double() / 2,
    ),
]


def fully_masked_case(seed: int, dtype):
    q, k, v = qkv(seed, (2,), 4, 5, 8, 3, dtype)
    mask = random_mask(seed + 1, 2, 4, 5)
    mask[0, 2] = False  # query 2 of batch 0 sees nothing
    mask[1, 0] = False
    return q, k, v, mask
