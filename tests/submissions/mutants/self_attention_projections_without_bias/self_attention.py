"""Exercise 4 — self-attention: queries, keys and values from the same sequence.

In self-attention a sequence attends to itself: every token asks a question of every other token of
the same sentence ("which word is my subject?"). Queries, keys and values all come from the same
input ``x``, each through its own learned linear map, so the model learns *what to look for*
(``query``), *how to be found* (``key``) and *what to pass on* (``value``) separately:

    q = x W_qᵀ + b_q,   k = x W_kᵀ + b_k,   v = x W_vᵀ + b_v
    output = masked_attention(q, k, v, mask)

``x`` has shape ``(B, L, E)`` (batch, length, embedding). The mask is 2-D ``(L, L)`` (e.g.
``causal_mask(L)``) or 3-D ``(B, L or 1, L)`` (e.g. ``padding_mask(lengths)``); it broadcasts over the
batch against the scores ``(B, L, L)``.

The lesson's version returned the attention of the projections and had no mask; here ``forward``
returns only the output, and takes the mask.

Example::

    >>> attn = SelfAttention(8)
    >>> attn(torch.randn(2, 5, 8), causal_mask(5)).shape
    torch.Size([2, 5, 8])
"""

import torch
from torch import nn

from .masking import masked_attention


class SelfAttention(nn.Module):
    """Single-head self-attention with learned query, key and value projections.

    Args:
        embed_dim: the embedding size ``E`` of the input and the output.

    Attributes:
        query, key, value: ``nn.Linear(embed_dim, embed_dim)``, the three projections.
    """

    def __init__(self, embed_dim: int):
        super().__init__()
        self.query = nn.Linear(embed_dim, embed_dim, bias=False)
        self.key = nn.Linear(embed_dim, embed_dim, bias=False)
        self.value = nn.Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from every position of ``x`` to every (unmasked) position of ``x``.

        Args:
            x: shape ``(B, L, E)``.
            mask: ``None``, ``(L, L)`` or ``(B, L or 1, L)``; nonzero means "may attend".

        Returns:
            The attention output, shape ``(B, L, E)``.
        """
        output, _ = masked_attention(self.query(x), self.key(x), self.value(x), mask)
        return output

