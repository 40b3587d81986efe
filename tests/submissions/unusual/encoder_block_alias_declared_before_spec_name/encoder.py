"""Exercise 6, written with an alias: the block names its attention ``attn`` first, then gives it the
SPEC's name too (``self.self_attn = self.attn``), and calls it by the first name. The same object is
reachable under both names: PyTorch's ``named_parameters()`` lists it once, under ``attn``.
"""

import torch
from torch import nn

from .multi_head import MultiHeadAttention


class EncoderBlock(nn.Module):
    def __init__(
        self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float = 0.1, norm_first: bool = False
    ):
        super().__init__()
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(embed_dim, num_heads)
        self.self_attn = self.attn
        self.linear1 = nn.Linear(embed_dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:
            x = x + self.dropout1(self.attn(self.norm1(x), mask))
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self.dropout1(self.attn(x, mask)))
        return self.norm2(x + self._feed_forward(x))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(torch.relu(self.linear1(x)))))


class Encoder(nn.Module):
    def __init__(
        self,
        num_layers: int,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.1,
        norm_first: bool = False,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderBlock(embed_dim, num_heads, ff_dim, dropout, norm_first) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(embed_dim) if norm_first else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x if self.norm is None else self.norm(x)


def sinusoidal_positional_encoding(max_len: int, embed_dim: int) -> torch.Tensor:
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    even_columns = torch.arange(0, embed_dim, 2, dtype=torch.float64)  # (ceil(E/2),)
    angles = positions / torch.pow(10000.0, even_columns / embed_dim)  # (max_len, ceil(E/2))
    encoding = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : embed_dim // 2])
    return encoding.to(torch.float32)
