"""Exercise 2 — scaled dot-product attention.

An RNN reads a sequence one step at a time, so a word far back reaches the present only through a
long chain of updates. Attention lets every position look at every other position directly, in one
parallel step, and decide how much each one matters.

Each position asks a **query** ("what am I looking for?"); each position offers a **key** ("what do
I contain?") and a **value** ("what do I pass on?"). A query scores every key with a dot product,
softmax turns the scores into weights that sum to one over the keys, and the output is the weighted
average of the values:

    weights = softmax(q kᵀ / √d_k)      (softmax over the keys: the last axis)
    output  = weights v

Why divide by √d_k? A dot product of two random d_k-dimensional vectors with unit-variance entries
has variance d_k. Large scores push softmax into a near one-hot corner where its gradients vanish;
dividing by √d_k brings the variance back to 1 (Vaswani et al., 2017).

Shapes: ``q (..., L_q, d_k)``, ``k (..., L_k, d_k)``, ``v (..., L_k, d_v)`` with the same leading
batch dimensions ``...`` (possibly none); ``weights (..., L_q, L_k)``, ``output (..., L_q, d_v)``.

Example: with ``q = k = [[1., 0.], [0., 1.]]`` each query scores its own key 1/√2 and the other 0, so
row 0 of the weights is ``softmax([0.7071, 0]) = [0.6698, 0.3302]``.

You may use ``torch.softmax``; you may not use ``torch.nn.functional.scaled_dot_product_attention``.
"""

import math

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attend from every query to every key.

    Args:
        q: queries, shape ``(..., L_q, d_k)``.
        k: keys, shape ``(..., L_k, d_k)``.
        v: values, shape ``(..., L_k, d_v)``.

    Returns:
        ``(output, weights)``: ``output (..., L_q, d_v)`` and ``weights (..., L_q, L_k)``, in the
        inputs' dtype and on their device. Each row of ``weights`` sums to 1 over the keys.
        Any number of leading batch dimensions works, including none.
    """
    # TODO: scores from q and k (which axes meet?), scale by √d_k, softmax over the keys, weigh v.
    d_k = k.size(-2)  # the mistake: the keys' length, not their width
    # transpose(-2, -1), not .T or bmm: those break with zero or several batch dimensions.
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L_q, L_k)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights  # (..., L_q, d_v), (..., L_q, L_k)


# Hints, weakest first: `python -m learner hint` shows the next one each time you are stuck.
HINTS = (
    (
        "A query scores every key with a dot product. q is (..., L_q, d_k) and k is (..., L_k, d_k): for "
        "scores of shape (..., L_q, L_k), which two axes of k have to swap?"
    ),
    (
        "Each query's weights sum to one over the keys. Along which axis of the (..., L_q, L_k) scores does "
        "the softmax run?"
    ),
    (
        "Which number is d_k: the last axis of q, or the number of keys? Do you divide by it or by its "
        "square root, and does your transpose still work with no batch dimension, or with two?"
    ),
)
