"""Exercise 5, written with a container declared before the SPEC's names: the four projections live in
an ``nn.ModuleDict`` keyed ``q``, ``k``, ``v``, ``out``, and ``q_proj`` ... ``out_proj`` name the same
``nn.Linear`` objects. PyTorch's ``named_parameters()`` lists them as ``proj.q.weight`` and so on.
"""

import torch
from torch import nn

from .masking import masked_attention


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        if num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.proj = nn.ModuleDict({role: nn.Linear(embed_dim, embed_dim, bias=bias) for role in "q k v out".split()})
        self.q_proj, self.k_proj = self.proj["q"], self.proj["k"]
        self.v_proj, self.out_proj = self.proj["v"], self.proj["out"]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, L, E = x.shape  # batch, length, embed
        H, D = self.num_heads, self.head_dim  # heads, head dim
        q, k, v = (self.proj[role](x).reshape(B, L, H, D).transpose(1, 2) for role in "qkv")  # (B, H, L, D)
        if mask is not None:
            mask = mask.unsqueeze(-3)  # one mask for every head
        heads, _ = masked_attention(q, k, v, mask)  # (B, H, L, D)
        return self.proj["out"](heads.transpose(1, 2).reshape(B, L, E))
