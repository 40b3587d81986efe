"""Exercise 5 — multi-head attention: several attentions side by side.

One attention head computes one weighted average per query, so it can follow one kind of relation
at a time. Multi-head attention runs ``H`` smaller attentions in parallel — one head may track
syntax, another coreference — and mixes their results with a final linear map.

The heads do not get separate inputs. The embedding ``E`` is projected once per role (``q_proj``,
``k_proj``, ``v_proj``, each ``E → E``), and the projected features are **split** into ``H`` groups
of ``D = E // H``: head ``h`` uses features ``[h·D, (h+1)·D)``. Each head attends with its own
``D``-dimensional queries and keys (so it scales by √D), the heads' outputs are concatenated back to
``E`` features in the same order, and ``out_proj`` mixes them:

    head_h = attention(q[..., h·D:(h+1)·D], k[..., h·D:(h+1)·D], v[..., h·D:(h+1)·D])
    output = out_proj(concat(head_0, ..., head_{H-1}))

The lesson built each head as a ``SelfAttention(E // H)`` fed the full ``E``-dimensional input — a
shape error. Splitting ``(B, L, E)`` into heads is a reshape to ``(B, L, H, D)`` *and* a transpose to
``(B, H, L, D)``, so that each head attends over the sequence; a reshape straight to
``(B, H, L, D)`` mixes positions and features.

With the same weights this module computes exactly what
``nn.MultiheadAttention(E, H, bias=bias, batch_first=True)`` computes (whose ``in_proj_weight`` is
``cat(q_proj.weight, k_proj.weight, v_proj.weight)``), but with this kit's mask convention: ``True``
means "may attend" and the same mask applies to every head.

Example::

    >>> mha = MultiHeadAttention(embed_dim=8, num_heads=2)
    >>> mha(torch.randn(3, 5, 8), padding_mask([5, 2, 4])).shape
    torch.Size([3, 5, 8])
"""

import torch
from torch import nn

from .masking import masked_attention


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention.

    Args:
        embed_dim: the embedding size ``E`` of the input and the output.
        num_heads: the number of heads ``H``; must divide ``embed_dim``.
        bias: whether the four projections have a bias.

    Attributes:
        q_proj, k_proj, v_proj, out_proj: ``nn.Linear(embed_dim, embed_dim, bias=bias)``.
        num_heads: ``H``. head_dim: ``D = embed_dim // num_heads``.

    Raises:
        ValueError: when ``embed_dim`` is not divisible by ``num_heads``.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        if num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiHeadAttention: embed_dim={embed_dim} is not divisible by num_heads={num_heads}"
            )
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-head self-attention over ``x``.

        Args:
            x: shape ``(B, L, E)``.
            mask: ``None``, ``(L, L)`` or ``(B, L or 1, L)``; nonzero means "may attend". The same
                mask applies to every head.

        Returns:
            Shape ``(B, L, E)``.
        """
        B, L, E = x.shape  # batch, length, embed
        H, D = self.num_heads, self.head_dim  # heads, head dim

        def split_heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(B, L, H, D).transpose(1, 2)  # (B, H, L, D)

        q = split_heads(self.q_proj(x))
        k = split_heads(self.k_proj(x))
        v = split_heads(self.v_proj(x))
        if mask is not None:
            # a head axis, and a batch axis in front (the mask may come without one)
            mask = mask.unsqueeze(-3).unsqueeze(0)
        heads, _ = masked_attention(q, k, v, mask)  # (B, H, L, D)
        merged = heads.transpose(1, 2).reshape(B, L, E)  # (B, L, E)
        return self.out_proj(merged)

