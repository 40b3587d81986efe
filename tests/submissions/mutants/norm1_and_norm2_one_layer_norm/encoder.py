"""Exercise 6 — the transformer encoder block, the encoder, and positional encoding.

Attention mixes information *between* positions; a transformer block alternates it with a small
feed-forward network that transforms each position on its own, and wraps both in the two tricks
that make deep stacks trainable: **residual connections** (each sub-layer adds its result to its
input, so gradients have a short path back) and **layer normalisation** (each position's features
are rescaled to mean 0 and variance 1, then to a learned scale and shift).

Post-norm (``norm_first=False``, the original transformer)::

    x = norm1(x + dropout1(self_attn(x, mask)))
    x = norm2(x + dropout2(linear2(dropout(relu(linear1(x))))))

Pre-norm (``norm_first=True``, more stable for deep stacks; the stack then ends with a final norm)::

    x = x + dropout1(self_attn(norm1(x), mask))
    x = x + dropout2(linear2(dropout(relu(linear1(norm2(x))))))

An ``Encoder`` is ``num_layers`` such blocks one after another, each with its **own** weights.
Dropout is active only in training mode; in eval mode (``model.eval()``) these modules compute
exactly what ``nn.TransformerEncoderLayer`` / ``nn.TransformerEncoder`` compute with the same weights.

Attention ignores order: shuffle the tokens and each output moves with its token. Order has to be
written into the input. The sinusoidal positional encoding (Vaswani et al., 2017) gives position
``pos`` the vector (interleaved: sine in even columns, cosine in odd ones)

    PE[pos, 2i]   = sin(pos / 10000^(2i / embed_dim))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / embed_dim))

Each pair of columns is a clock of its own frequency, from one turn every 2π positions to one turn
every 10000·2π, so every position gets a distinct pattern and nearby positions similar ones. An odd
``embed_dim`` ends with a sine column.

Example::

    >>> block = EncoderBlock(embed_dim=8, num_heads=2, ff_dim=16).eval()
    >>> block(torch.randn(2, 5, 8), causal_mask(5)).shape
    torch.Size([2, 5, 8])
    >>> sinusoidal_positional_encoding(4, 6)[0]
    tensor([0., 1., 0., 1., 0., 1.])
"""

import torch
from torch import nn

from .multi_head import MultiHeadAttention


class EncoderBlock(nn.Module):
    """One transformer encoder layer: self-attention and a feed-forward network, each residual.

    Args:
        embed_dim: the embedding size ``E``.
        num_heads: the number of attention heads (must divide ``embed_dim``).
        ff_dim: the hidden size of the feed-forward network.
        dropout: the dropout probability (active in training mode only).
        norm_first: pre-norm (``True``) or post-norm (``False``) residual blocks.

    Attributes:
        self_attn: a ``MultiHeadAttention(embed_dim, num_heads)``.
        linear1: ``nn.Linear(embed_dim, ff_dim)``; linear2: ``nn.Linear(ff_dim, embed_dim)``.
        norm1, norm2: ``nn.LayerNorm(embed_dim)``.
        dropout, dropout1, dropout2: ``nn.Dropout(dropout)`` (feed-forward, after attention,
            after the feed-forward network).
    """

    def __init__(
        self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float = 0.1, norm_first: bool = False
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(embed_dim, num_heads)
        self.linear1 = nn.Linear(embed_dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, embed_dim)
        self.norm1 = self.norm2 = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One encoder layer over ``x`` of shape ``(B, L, E)``; returns ``(B, L, E)``.

        ``mask`` is ``None``, ``(L, L)`` or ``(B, L or 1, L)``; nonzero means "may attend".
        """
        if self.norm_first:
            x = x + self._attend(self.norm1(x), mask)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._attend(x, mask))
        return self.norm2(x + self._feed_forward(x))

    def _attend(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.dropout1(self.self_attn(x, mask))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(torch.relu(self.linear1(x)))))


class Encoder(nn.Module):
    """A stack of ``num_layers`` encoder blocks, each with its own weights.

    Args:
        num_layers: how many ``EncoderBlock``s.
        embed_dim, num_heads, ff_dim, dropout, norm_first: passed to every block.

    Attributes:
        layers: an ``nn.ModuleList`` of the blocks.
        norm: when ``norm_first``, a final ``nn.LayerNorm(embed_dim)``; otherwise ``None``.
    """

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
        # Pre-norm blocks leave the residual stream unnormalised, hence one last norm.
        self.norm = nn.LayerNorm(embed_dim) if norm_first else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Every block in turn over ``x`` of shape ``(B, L, E)``, with the same mask;
        returns ``(B, L, E)``."""
        for layer in self.layers:
            x = layer(x, mask)
        if self.norm is not None:
            x = self.norm(x)
        return x


def sinusoidal_positional_encoding(max_len: int, embed_dim: int) -> torch.Tensor:
    """The sinusoidal positional encodings of positions ``0 .. max_len - 1``.

    Returns:
        A float32 tensor of shape ``(max_len, embed_dim)``: column ``2i`` is
        ``sin(pos / 10000^(2i / embed_dim))`` and column ``2i + 1`` the matching cosine.
    """
    # Computed in float64 then rounded once: float32 angles lose digits at large positions.
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    even_columns = torch.arange(0, embed_dim, 2, dtype=torch.float64)  # (ceil(E/2),)
    angles = positions / torch.pow(10000.0, even_columns / embed_dim)  # (max_len, ceil(E/2))
    encoding = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : embed_dim // 2])
    return encoding.to(torch.float32)


# Hints, weakest first: `python -m learner hint` shows the next one each time you are stuck.
HINTS = (
    (
        "A residual sub-layer adds its result to its input. In post-norm, is the norm applied to the sum or "
        "to the sub-layer's result alone? Where does it go in pre-norm?"
    ),
    (
        "If you build one EncoderBlock and put it in the ModuleList num_layers times, how many sets of "
        "weights does the stack really have? When does the stack need its final norm?"
    ),
    (
        "Positional encoding: which angle does position pos get in column pair i, which columns take the "
        "sine and which the cosine, and how many cosine columns does an odd embed_dim have?"
    ),
)
