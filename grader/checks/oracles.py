"""PyTorch's own modules as independent oracles, loaded with the weights of a module under test.

SPEC: ``MultiHeadAttention`` is numerically ``nn.MultiheadAttention(E, H, bias=bias, batch_first=True)``
and ``EncoderBlock`` / ``Encoder`` in eval mode are ``nn.TransformerEncoderLayer`` /
``nn.TransformerEncoder(..., enable_nested_tensor=False)`` given the same weights. The loading itself is
``learner/torch_modules.py`` (the visible tests use it too); here each construction holds the global
random generator (``rng.global_rng``), since grading threads build oracles at the same time.

Masks: ours say ``True`` = "may attend"; PyTorch's boolean ``attn_mask`` says ``True`` = "masked".
"""

from __future__ import annotations

import torch
from torch import nn

from grader.checks.rng import global_rng
from learner.torch_modules import torch_encoder_layer, torch_multihead


def to_torch_mask(mask: torch.Tensor | None, batch: int, num_heads: int, length: int) -> torch.Tensor | None:
    """Our module mask (``(L, L)`` or ``(B, L or 1, L)``, nonzero = may attend) as PyTorch's ``attn_mask``.

    PyTorch takes a 2-D ``(L, L)`` or a 3-D ``(B·H, L, L)`` boolean mask in which ``True`` means masked.
    """
    if mask is None:
        return None
    blocked = mask == 0
    if blocked.dim() == 2:
        return blocked
    blocked = blocked.expand(batch, length, length)  # (B, L, L)
    return blocked.repeat_interleave(num_heads, dim=0)  # (B·H, L, L), batch-major as PyTorch wants


def multihead_attention(mha: nn.Module, num_heads: int) -> nn.MultiheadAttention:
    """An ``nn.MultiheadAttention`` holding ``mha``'s weights (``in_proj = cat(q, k, v)``), same dtype."""
    with global_rng():  # its own initial weights are overwritten; the draws must not disturb other threads
        return torch_multihead(mha, num_heads)


def encoder_layer(
    block: nn.Module, num_heads: int, ff_dim: int, norm_first: bool
) -> nn.TransformerEncoderLayer:
    """An ``nn.TransformerEncoderLayer`` (ReLU, batch_first) holding ``block``'s weights, in eval mode."""
    with global_rng():
        return torch_encoder_layer(block, num_heads, ff_dim, norm_first)


def encoder(model: nn.Module, num_heads: int, ff_dim: int, norm_first: bool) -> nn.TransformerEncoder:
    """An ``nn.TransformerEncoder`` whose every layer holds the matching block's weights, in eval mode."""
    blocks = list(model.layers)
    first = encoder_layer(blocks[0], num_heads, ff_dim, norm_first)
    final_norm = None
    if norm_first:
        final_norm = nn.LayerNorm(first.linear1.in_features).to(
            dtype=first.linear1.weight.dtype, device=first.linear1.weight.device
        )
        final_norm.load_state_dict(model.norm.state_dict())
    # enable_nested_tensor=False: SPEC, "Notes for graders" (the nested fast path is no oracle).
    with global_rng():
        oracle = nn.TransformerEncoder(first, len(blocks), norm=final_norm, enable_nested_tensor=False)
    for layer, block in zip(oracle.layers, blocks):
        layer.load_state_dict(encoder_layer(block, num_heads, ff_dim, norm_first).state_dict())
    return oracle.eval()
