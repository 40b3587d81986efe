"""The usual ways multi-head attention goes wrong, worked out here so that a hint names one only when the
learner's output is that mistake's and no other's.

The variants are computed without a mask, as the check that asks for them runs without one: a mask
given the wrong shape cannot then match a heads mistake by accident (the mask checks have their own
hints).
"""

from __future__ import annotations

import copy
import math

import torch

from grader.checks.compare import Tolerance, is_close

GENERIC_HINT = (
    "Go through your forward step by step beside the SPEC's: project, split into heads, attend, merge the "
    "heads, out_proj. Which step first gives something else?"
)
HINTS = {
    "one_head": "Your output is one head attending over all E features: are the features split into heads?",
    "sqrt_embed_dim": "Your output is the heads with scores scaled by 1/√embed_dim: each head works in D = "
    "embed_dim // num_heads dimensions; which square root does it take?",
    "split_without_transpose": "Your output is heads split by a reshape straight to (B, H, L, D): which axes "
    "does a split to (B, L, H, D) then swap, so that each head attends over the sequence?",
    "merge_without_transpose": "Your output is the heads merged by a reshape of (B, H, L, D) straight to "
    "(B, L, E): which axes must swap back before the reshape?",
    "merge_interleaved": "Your output is the heads merged with their features interleaved: does head h's "
    "output fill features [h·D, (h+1)·D) of the merged E?",
    "no_out_proj": "Your output is the merged heads before out_proj: is out_proj applied?",
}


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale_dim: int) -> torch.Tensor:
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(scale_dim), dim=-1) @ v


def head_variants(reference, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each usual mistake gives, with ``reference``'s weights, on ``x`` (no mask); in float64."""
    module = copy.deepcopy(reference).double()
    B, L, E = x.shape  # batch, length, embed
    H = module.num_heads
    D = E // H  # head dim
    with torch.no_grad():
        q, k, v = (projection(x.double()) for projection in (module.q_proj, module.k_proj, module.v_proj))

        def split(t):
            return t.reshape(B, L, H, D).transpose(1, 2)  # (B, H, L, D)

        def merge(t):
            return t.transpose(1, 2).reshape(B, L, E)  # (B, L, E)

        heads = _attend(split(q), split(k), split(v), D)  # (B, H, L, D)
        viewed = _attend(q.reshape(B, H, L, D), k.reshape(B, H, L, D), v.reshape(B, H, L, D), D)
        outputs = {
            "one_head": _attend(q, k, v, E),
            "sqrt_embed_dim": merge(_attend(split(q), split(k), split(v), E)),
            "split_without_transpose": viewed.reshape(B, L, E),
            "merge_without_transpose": heads.reshape(B, L, E),
            "merge_interleaved": heads.permute(0, 2, 3, 1).reshape(B, L, E),
        }
        variants = {name: module.out_proj(merged) for name, merged in outputs.items()}
        variants["no_out_proj"] = merge(heads)
        variants["correct"] = module.out_proj(merge(heads))
    return variants


def heads_hint(reference, x: torch.Tensor, got) -> str:
    """The hint of the one usual mistake whose output ``got`` is; else a question that names none."""
    variants = head_variants(reference, x)
    correct = variants.pop("correct")
    got = got.detach().double() if isinstance(got, torch.Tensor) else got
    tolerance = Tolerance.for_dtype(x.dtype, 10)  # the variants are float64; the learner ran in x's dtype
    matches = [
        name
        for name, output in variants.items()
        if is_close(got, output, tolerance) and not is_close(output, correct, tolerance)
    ]
    return HINTS[matches[0]] if len(matches) == 1 else GENERIC_HINT
