"""Exercise 4, written with tied parameters: the weights and biases live in two ``nn.ParameterList``s
declared first, and ``query``, ``key``, ``value`` are ``nn.Linear`` modules whose ``weight`` and ``bias``
are those same parameters. PyTorch's ``named_parameters()`` lists each once, as ``weights.0`` and so on.
"""

import torch
from torch import nn

from .masking import masked_attention


class SelfAttention(nn.Module):
    def __init__(self, embed_dim: int):
        super().__init__()
        linears = [nn.Linear(embed_dim, embed_dim) for _ in range(3)]
        self.weights = nn.ParameterList([linear.weight for linear in linears])
        self.biases = nn.ParameterList([linear.bias for linear in linears])
        self.query, self.key, self.value = (nn.Linear(embed_dim, embed_dim) for _ in range(3))
        for index, linear in enumerate((self.query, self.key, self.value)):
            linear.weight, linear.bias = self.weights[index], self.biases[index]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = (torch.nn.functional.linear(x, w, b) for w, b in zip(self.weights, self.biases))
        output, _ = masked_attention(q, k, v, mask)
        return output
