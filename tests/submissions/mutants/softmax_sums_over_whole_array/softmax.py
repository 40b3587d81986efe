"""Exercise 1 — a numerically stable softmax, in NumPy.

Attention turns scores into weights with softmax: every weight is positive and the weights over the
keys sum to one, so the output is a weighted average of the values.

    softmax(x)_i = exp(x_i) / sum_j exp(x_j)

Written literally, this overflows: ``np.exp(1000.0)`` is ``inf`` and ``inf / inf`` is ``nan``. Softmax
does not change when the same number is subtracted from every entry of a slice (the factor
``exp(-m)`` cancels above and below the line), so subtract the slice's maximum first: the largest
exponent becomes ``exp(0) = 1`` and nothing overflows.

Masking (exercise 3) writes ``-inf`` into the scores of keys a query may not see: ``exp(-inf) = 0``,
so those keys get weight 0. A slice that is *all* ``-inf`` has no key to attend to; its maximum is
``-inf`` itself and ``-inf - (-inf)`` is ``nan``, so such a slice needs care: it gets all-zero weights.

Example::

    >>> softmax(np.array([1.0, 1.0, -np.inf]))
    array([0.5, 0.5, 0. ])
"""

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax of ``x`` along ``axis``, stable for large entries.

    Args:
        x: a float32 or float64 array of any shape (integer input is computed in float64).
        axis: the axis whose slices become probability distributions.

    Returns:
        A new array of ``x``'s shape and floating dtype. Every slice along ``axis`` sums to 1,
        except a slice that is all ``-inf``, which gives all zeros. ``-inf`` entries get weight 0;
        entries as large as ±1e4 neither overflow nor give ``nan``. ``x`` is not modified.
    """
    # TODO: subtract each slice's maximum before exp, and give a slice that is all -inf zeros.
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.size == 0:
        return np.zeros_like(x)
    shift = np.max(x, axis=axis, keepdims=True)
    # An all -inf slice has max -inf; shifting by it would give -inf - -inf = nan.
    shift = np.where(np.isneginf(shift), 0, shift).astype(x.dtype)
    exps = np.exp(x - shift)
    total = np.sum(exps)  # the mistake: the whole array, not each slice
    return np.divide(exps, total, out=np.zeros_like(exps), where=total > 0)


# Hints, weakest first: `python -m learner hint` shows the next one each time you are stuck.
HINTS = (
    (
        "Softmax turns the scores into weights. What is np.exp(1000.0) in floating point, and what does inf "
        "/ inf give?"
    ),
    (
        "Softmax does not change when the same number is subtracted from every entry of a slice. Which "
        "number makes the largest exponent exp(0) = 1, and does it still line up with `axis` after you take "
        "it (keepdims)?"
    ),
    (
        "A slice that is all -inf: what is its maximum, and what is -inf - (-inf)? What could such a slice "
        "subtract instead, and how can you divide so that 0 / 0 never happens?"
    ),
)
