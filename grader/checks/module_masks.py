"""A module's masks judged against the module itself: a query that may see only keys ``0 .. k-1`` gives
what the same module gives, without a mask, on the sequence cut after key ``k-1``.

Attention over keys ``0 .. k-1`` is attention over the cut sequence; the projections, the heads and
their merge are the same on both sides. So these checks fail for what the mask does (ignored, given to
some heads only, broadcast over the wrong axis) and not for a mistake in the rest of ``forward``, which
the value checks report; a mistake that mixes positions (a reshape without its transpose) does fail
them, since the mask then hides other positions' features. A forward whose output does not depend on
the other positions at all (``return x``) leaves nothing for a mask to do: that is said, and fails.
"""

from __future__ import annotations

import torch

from grader.checks import case
from grader.checks.compare import Tolerance, expect_close, expect_shape, fail, is_close
from grader.checks.inputs import mask_text
from grader.checks.modules import first_output, forward

# Both sides are the learner's own float64 computations, summed in different orders: float32's
# tolerance leaves room for any precision the learner's code keeps, and a masked key moves an output
# by far more.
TOLERANCE = Tolerance.for_dtype(torch.float32)
IGNORED_HINT = (
    "Your output with this mask equals your output without one: is the mask passed on to the attention?"
)
GENERIC_HINT = (
    "Take one query and the keys the mask lets it see: does your output for it change when a hidden "
    "key's input changes?"
)


def prefix_queries(mask: torch.Tensor, batch: int, length: int) -> dict[int, list[tuple[int, int]]]:
    """``{k: [(b, i), ...]}``: each query ``i < k`` of batch ``b`` that sees exactly keys ``0 .. k-1``."""
    allowed = (mask != 0).expand(batch, length, length)
    cuts: dict[int, list[tuple[int, int]]] = {}
    for b in range(batch):
        for i in range(length):
            seen = int(allowed[b, i].sum())
            if i < seen and bool(allowed[b, i, :seen].all()):
                cuts.setdefault(seen, []).append((b, i))
    return cuts


def expect_masks_match_cut_sequences(
    learner, cls: str, init, reference, x: torch.Tensor, masks: list[tuple[str, torch.Tensor]], *, where: str
) -> None:
    """For each ``(text, mask)``: the learner's masked output, at every query that sees a prefix of the
    keys, equals its own unmasked output on that prefix (``x[:, :k]``)."""
    batch, length = x.shape[0], x.shape[1]
    for text, mask in masks:
        cuts = prefix_queries(mask, batch, length)
        calls = [{"args": [x, mask]}, {"args": [x, None]}] + [{"args": [x[:, :k], None]} for k in cuts]
        described = f"x {tuple(x.shape)} float64, {text} {mask_text(mask)}"
        with case(f"{described}; each query vs your output on the sequence cut to its keys"):
            results = forward(learner, cls, init, reference, calls).result
            masked, unmasked, *cut_outputs = (first_output(result) for result in results)
            expect_shape(masked, x.shape, f"{where}: output with {text} mask")
            expect_shape(unmasked, x.shape, f"{where}: output without a mask")
            expected, unmasked_cut = masked.detach().clone(), unmasked.detach().clone()
            for (k, queries), cut in zip(cuts.items(), cut_outputs, strict=True):
                for b, i in queries:
                    expected[b, i] = cut[b, i]
                    if k < length:
                        unmasked_cut[b, i] = cut[b, i]
            if is_close(unmasked, unmasked_cut, TOLERANCE):
                fail(
                    f"{where}: without a mask, your output at each query equals your output on the sequence "
                    "cut to the keys the mask would leave: it does not depend on the other keys, so what the "
                    "mask does cannot be judged",
                    "Does each query attend over all the positions: scores with every key, a softmax, a "
                    "weighted sum of the values?",
                )
            hint = IGNORED_HINT if is_close(masked, unmasked, TOLERANCE) else GENERIC_HINT
            expect_close(
                masked,
                expected,
                f"{where}: output with {text} mask vs your output without a mask on the keys each query sees",
                hint,
                TOLERANCE,
            )
