"""The cases the classifier's architecture checks build, and the hints that name a mistake by its signature.

The SPEC's classifier (embed → self-attention, padded keys masked → mean over the real positions → linear,
no positional encoding) implies, for any weights:

* reordering a sequence's real tokens changes no logits: nothing knows a token's position;
* writing the real tokens twice changes no logits: with every key twice, each query's attention
  distribution is the same, and a mean of outputs that each appear twice is the same mean;
* with one head, the logits of ``[a, b]`` lie on the segment between those of ``[a]`` and ``[b]``: each
  attention output is a weighted average of the two tokens' values, the mean of two such averages is
  another, and the output projection and the linear layer keep weighted averages (their weights sum
  to one). A max over positions, or anything non-linear after the attention, leaves the segment.

Each hint runs the learner's model once more, in a sandbox of its own, and only when its check has
failed; it names a mistake only when the logits show that mistake's signature.
"""

from __future__ import annotations

import torch

from grader.checks.compare import Tolerance, is_close
from grader.checks.inputs import randn

CLASSIFIER = "AttentionClassifier"
# Three float32 outputs of the model meet in each comparison: ten times the float32 tolerance.
LOOSE = Tolerance.for_dtype(torch.float32, 10)


def reorder_case() -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, lengths)``: 4 sequences of 7 positions, 3 of them padded."""
    return randn(9, 4, 7, 4), torch.tensor([7, 3, 5, 4])


def repeat_case() -> torch.Tensor:
    """``x``: 4 sequences of 4 real tokens, no padding (a padding mistake is the padding checks' to find)."""
    return randn(10, 4, 4, 4)


def pair_case() -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, b)``: 6 tokens each, ``(6, 1, 4)``; twice the usual scale, so attention prefers one of them."""
    return randn(11, 6, 1, 4, scale=2.0), randn(12, 6, 1, 4, scale=2.0)


def reversed_real(x: torch.Tensor, lengths: torch.Tensor, keep: str | None = None) -> torch.Tensor:
    """``x`` with each sequence's real tokens in reverse order, padding unchanged; ``keep="first"`` or
    ``"last"`` leaves that real token in place and reverses the others."""
    flipped = x.clone()
    for b, length in enumerate(lengths.tolist()):
        start, stop = int(keep == "first"), length - int(keep == "last")
        flipped[b, start:stop] = x[b, start:stop].flip(0)
    return flipped


def copies(x: torch.Tensor, times: int) -> list:
    """Args for a call on ``x`` (every position real), each sequence's tokens written ``times`` times."""
    B, L, _ = x.shape  # batch, length, input features
    return [x.repeat(1, times, 1), torch.full((B,), times * L)]


def nearest_on_segments(pair: torch.Tensor, one_a: torch.Tensor, one_b: torch.Tensor) -> torch.Tensor:
    """For each row, the point of the segment from ``one_b`` to ``one_a`` nearest to ``pair``, in float64."""
    pair, one_a, one_b = (t.detach().to(torch.float64) for t in (pair, one_a, one_b))
    direction = one_a - one_b  # (B, C)
    share = ((pair - one_b) * direction).sum(dim=1) / (direction * direction).sum(dim=1).clamp(min=1e-300)
    return one_b + share.clamp(0.0, 1.0)[:, None] * direction  # (B, C)


def _run(learner, init: list, calls: list[list]) -> list:
    return learner.forward(CLASSIFIER, init, calls=[{"args": a} for a in calls], seed=0, fresh=True).result


def position_hint(learner, init: list, x: torch.Tensor, lengths: torch.Tensor, before: torch.Tensor) -> str:
    """Which position reaches the logits: reversing all real tokens but the first (or the last) changes
    nothing when only that position's output is pooled."""
    but_first, but_last = _run(
        learner,
        init,
        [[reversed_real(x, lengths, "first"), lengths], [reversed_real(x, lengths, "last"), lengths]],
    )
    for kept, got in (("first", but_first), ("last", but_last)):
        if is_close(got, before, LOOSE):
            where = "position 0 (as a [CLS] token's)" if kept == "first" else "the last real position"
            return (
                f"Reversing every real token but the {kept} changes no logits: is the pooled vector the mean "
                f"over every real position, or the output at {where}?"
            )
    return (
        "Does anything in the model depend on where a token sits (a positional encoding, a position picked "
        "for pooling)? The SPEC's classifier has none, so only which real tokens there are can matter."
    )


def count_hint(learner, init: list, x: torch.Tensor, once: torch.Tensor, twice: torch.Tensor) -> str:
    """Whether the logits grow by one step per copy of the tokens, as a sum over the positions makes them."""
    (thrice,) = _run(learner, init, [copies(x, 3)])
    if is_close(thrice - twice, twice - once, LOOSE):
        return (
            "Each copy of the tokens moves the logits by the same step, as a sum over the positions does: is "
            "that sum divided by the number of real positions?"
        )
    return (
        "Does every real position count once in the pooled vector, divided by how many there are, and "
        "nothing else join it (a learned token, a position)?"
    )


def pooling_hint(learner, init: list, a: torch.Tensor, b: torch.Tensor, pair: torch.Tensor) -> str:
    """When the logits of [a, b] ignore order and copies yet leave the segment, the pooling is not a mean."""
    both = torch.full((a.shape[0],), 2)
    swapped, twice = _run(
        learner, init, [[torch.cat([b, a], dim=1), both], copies(torch.cat([a, b], dim=1), 2)]
    )
    if is_close(swapped, pair, LOOSE) and is_close(twice, pair, LOOSE):
        return (
            "These logits ignore the order and the number of copies of a and b, as a mean does; yet a "
            "mean of the attention outputs through one linear layer would land between [a] and [b]. Is "
            "the pooled vector a mean, or a max over the positions? Does anything (an activation, a norm, "
            "a residual) stand between the attention, the mean and the linear layer?"
        )
    return (
        "Is the pooled vector the mean of the attention outputs over the real positions, fed straight to "
        "one linear layer?"
    )
