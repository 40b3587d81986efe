"""Exercise 3 — masks: padding, causality, and rows with nothing to see.

Attention lets every query look at every key. Two situations call for hiding some keys:

* **Padding.** Sequences in a batch have different lengths; the short ones are padded to the longest.
  Padded positions are not real tokens, so no query may attend to them.
* **Causality.** A model that predicts the next token must not peek at the future: query ``i`` may
  attend only to keys ``j <= i``.

A **mask** says which (query, key) pairs are allowed. Here ``True`` (or any nonzero number) means
"this query may attend to this key" and ``False``/``0`` means masked — the convention of
``torch.nn.functional.scaled_dot_product_attention`` for boolean masks. Bool, integer and float 0/1
masks are all accepted (a float mask is a 0/1 flag, not an additive bias). A mask has any shape that
broadcasts to the scores ``(..., L_q, L_k)`` and may live on another device than ``q``.

Masking happens *before* the softmax: a masked score becomes ``-inf``, ``exp(-inf) = 0``, and the
remaining weights still sum to one. Filling with a large negative number such as ``-1e9`` instead
gives a fully masked row *uniform* weights over keys it may not see; filling with ``0`` does not
mask at all.

A query whose keys are all masked (an empty sequence, or padding on both sides) has nothing to
attend to. Softmax over a row of ``-inf`` is ``0 / 0 = nan``, and that ``nan`` spreads through every
later layer and through the gradients. The rule here: such a query gets all-zero weights and an
all-zero output, with finite gradients.

Example::

    >>> causal_mask(3)
    tensor([[ True, False, False],
            [ True,  True, False],
            [ True,  True,  True]])
    >>> padding_mask([2, 3])
    tensor([[[ True,  True, False]],
            [[ True,  True,  True]]])
"""

import math

import torch


def causal_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The mask that lets query ``i`` attend to keys ``j <= i`` only.

    Args:
        size: the sequence length ``L``.
        device: where the mask lives (default: the CPU).

    Returns:
        A bool tensor of shape ``(size, size)``, ``True`` where key ≤ query (on and below the
        diagonal).
    """
    # TODO: True on and below the diagonal, False above it.
    return torch.ones(1, size, size, dtype=torch.bool, device=device).tril()  # the mistake: a batch axis


def padding_mask(lengths: torch.Tensor | list[int], max_len: int | None = None) -> torch.Tensor:
    """The mask that hides padded keys: ``True`` at a sequence's real tokens.

    Args:
        lengths: the real length of each of the ``B`` sequences, a 1-D integer tensor or a list.
        max_len: the padded length ``L`` (default: the longest of ``lengths``).

    Returns:
        A bool tensor of shape ``(B, 1, max_len)``, on ``lengths``' device: position ``t`` of
        sequence ``b`` is ``True`` when ``t < lengths[b]``. The middle axis of size 1 broadcasts
        over the queries, so every query of sequence ``b`` sees the same keys.

    Raises:
        ValueError: when ``max_len`` is shorter than a length, or a length is negative, or
            ``lengths`` is not 1-D.
        TypeError: when ``lengths`` does not hold integers.
    """
    # TODO: compare every position 0..max_len-1 with each sequence's length.
    # An empty list would become a float tensor; no lengths is a valid (empty) batch.
    empty = isinstance(lengths, (list, tuple)) and not lengths
    lengths = torch.zeros(0, dtype=torch.long) if empty else torch.as_tensor(lengths)
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"padding_mask: lengths must hold integers, got dtype {lengths.dtype}")
    if lengths.dim() != 1:
        raise ValueError(f"padding_mask: lengths must be 1-D, got shape {tuple(lengths.shape)}")
    longest = int(lengths.max()) if lengths.numel() else 0
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"padding_mask: lengths must be >= 0, got {int(lengths.min())}")
    if max_len is None:
        max_len = longest
    elif max_len < longest:
        raise ValueError(f"padding_mask: max_len={max_len} is shorter than a length ({longest})")
    positions = torch.arange(max_len, device=lengths.device)  # (L,)
    return (positions < lengths[:, None]).unsqueeze(1)  # (B, 1, L)


def masked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention where ``mask`` says which keys each query may see.

    Args:
        q: queries, shape ``(..., L_q, d_k)``.
        k: keys, shape ``(..., L_k, d_k)``.
        v: values, shape ``(..., L_k, d_v)``.
        mask: ``None`` (every key is visible: the same as exercise 2) or a bool, integer or float
            0/1 tensor that broadcasts to ``(..., L_q, L_k)``; nonzero means "may attend". It may
            live on another device than ``q``.

    Returns:
        ``(output, weights)`` with shapes ``(..., L_q, d_v)`` and ``(..., L_q, L_k)``, in ``q``'s
        dtype and on its device. Masked keys get weight exactly 0. A query whose keys are all
        masked gets all-zero weights and an all-zero output, never ``nan`` — in the gradients
        either.
    """
    # TODO: -inf at masked scores before the softmax; then zero the rows that had no key to see.
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., L_q, L_k)
    if mask is None:
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights
    allowed = mask.to(scores.device) != 0  # bool whatever the mask's dtype
    scores = torch.where(allowed, scores, float("-inf"))
    has_key = allowed.any(dim=-1, keepdim=True)  # (..., L_q, 1)
    # A row of -inf would give softmax 0/0 = nan, and its backward nan too: give such rows finite
    # scores so softmax stays finite, then zero their weights. The zeroing also cuts their gradient.
    scores = torch.where(has_key, scores, 0.0)
    weights = torch.where(has_key, torch.softmax(scores, dim=-1), 0.0)
    return weights @ v, weights


# Hints, weakest first: `python -m learner hint` shows the next one each time you are stuck.
HINTS = (
    (
        "Which value must a masked score take before the softmax so that exp gives exactly 0? Why is -1e9 "
        "not the same once every key of a row is masked?"
    ),
    (
        "What does softmax do with a row that is all -inf? Before the softmax, how can you tell which query "
        "rows have no key left to see?"
    ),
    (
        "If the softmax makes a nan and you replace it afterwards, does the backward pass still meet the "
        "nan? Which finite scores could such a row get before the softmax, so that afterwards you only zero "
        "its weights?"
    ),
)
