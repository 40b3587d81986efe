"""Exercise 6, written with containers declared before the SPEC's names: each block keeps its parts in an
``nn.ModuleDict`` (its norms in an ``nn.ModuleList`` inside it) and the encoder its blocks in an
``nn.Sequential`` and its final norm as ``out_norm``; the SPEC's attributes then name the same objects.
PyTorch's iterators list every parameter under the container's name, never under the SPEC's.
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
        self.parts = nn.ModuleDict(
            {
                "attention": MultiHeadAttention(embed_dim, num_heads),
                "expand": nn.Linear(embed_dim, ff_dim),
                "contract": nn.Linear(ff_dim, embed_dim),
                "norms": nn.ModuleList([nn.LayerNorm(embed_dim), nn.LayerNorm(embed_dim)]),
            }
        )
        self.self_attn = self.parts["attention"]
        self.linear1, self.linear2 = self.parts["expand"], self.parts["contract"]
        self.norm1, self.norm2 = self.parts["norms"]
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        parts = self.parts
        first, second = parts["norms"]
        attend = lambda h: self.drop(parts["attention"](h, mask))  # noqa: E731
        feed = lambda h: self.drop(parts["contract"](self.drop(torch.relu(parts["expand"](h)))))  # noqa: E731
        if self.norm_first:
            x = x + attend(first(x))
            return x + feed(second(x))
        x = first(x + attend(x))
        return second(x + feed(x))


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
        self.blocks = nn.Sequential(
            *(EncoderBlock(embed_dim, num_heads, ff_dim, dropout, norm_first) for _ in range(num_layers))
        )
        self.out_norm = nn.LayerNorm(embed_dim) if norm_first else None
        self.layers = nn.ModuleList(self.blocks)
        self.norm = self.out_norm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x if self.out_norm is None else self.out_norm(x)


def sinusoidal_positional_encoding(max_len: int, embed_dim: int) -> torch.Tensor:
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    even_columns = torch.arange(0, embed_dim, 2, dtype=torch.float64)  # (ceil(E/2),)
    angles = positions / torch.pow(10000.0, even_columns / embed_dim)  # (max_len, ceil(E/2))
    encoding = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : embed_dim // 2])
    return encoding.to(torch.float32)
