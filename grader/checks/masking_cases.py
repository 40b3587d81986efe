"""The cases the masking checks build: one call of masked_attention, the mask forms every submission must
accept, a fully masked row, and the hint that names which triangle or which keys a mask got wrong.
"""

from __future__ import annotations

import torch

from grader.checks.compare import (
    expect_tuple,
)
from grader.checks.inputs import qkv, random_mask
from solutions.masking import causal_mask as reference_causal

WHERE = "masking.masked_attention"


def attend(learner, q, k, v, mask, **options):
    call = learner.call("masked_attention", q, k, v, mask, **options)
    output, weights = expect_tuple(call.result, 2, f"{WHERE}: return value (output, weights)")
    return call, output, weights


def causal_hint(size: int, got) -> str:
    """Which triangle or diagonal a causal mask got wrong, named only when the mask is exactly that
    mistake; a mask of another shape or kind gets a question about that instead."""
    expected = reference_causal(size)
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return f"causal_mask({size}) is one (size, size) grid: where does any other axis or size come from?"
    allowed = got != 0
    variants = {
        "Which triangle: may query i see key j > i?": [
            ~expected,
            ~expected | torch.eye(size, dtype=torch.bool),
        ],
        "May a query see its own position (the diagonal)?": [expected & ~torch.eye(size, dtype=torch.bool)],
    }
    named = [
        hint
        for hint, masks in variants.items()
        if any(torch.equal(allowed, wrong) and not torch.equal(wrong, expected) for wrong in masks)
    ]
    if len(named) == 1:
        return named[0]
    return "Where does your mask first differ from True where key ≤ query (and False above)?"


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
