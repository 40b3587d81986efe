"""PyTorch's own modules as independent oracles, loaded with the weights of a module under test.

SPEC: ``MultiHeadAttention`` is numerically ``nn.MultiheadAttention(E, H, bias=bias, batch_first=True)``
and ``EncoderBlock`` / ``Encoder`` in eval mode are ``nn.TransformerEncoderLayer`` /
``nn.TransformerEncoder(..., enable_nested_tensor=False)`` given the same weights. These builders read
only the attribute names the SPEC fixes (``q_proj`` … ``out_proj``, ``linear1``, ``norm1``, ``layers``,
``norm``), so they work on any submission written from the SPEC.

Masks: ours say ``True`` = "may attend"; PyTorch's boolean ``attn_mask`` says ``True`` = "masked".
"""

from __future__ import annotations

import torch
from torch import nn

from grader.rng import global_rng


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
    embed_dim = mha.q_proj.in_features
    has_bias = mha.q_proj.bias is not None
    weight = mha.q_proj.weight
    with global_rng():  # its own initial weights are overwritten; the draws must not disturb other threads
        oracle = nn.MultiheadAttention(embed_dim, num_heads, bias=has_bias, batch_first=True)
    oracle = oracle.to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        oracle.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        oracle.out_proj.weight.copy_(mha.out_proj.weight)
        if has_bias:
            oracle.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
            oracle.out_proj.bias.copy_(mha.out_proj.bias)
    return oracle


def encoder_layer(block: nn.Module, num_heads: int, ff_dim: int, norm_first: bool) -> nn.TransformerEncoderLayer:
    """An ``nn.TransformerEncoderLayer`` (ReLU, batch_first) holding ``block``'s weights, in eval mode."""
    embed_dim = block.linear1.in_features
    weight = block.linear1.weight
    with global_rng():
        oracle = nn.TransformerEncoderLayer(
            embed_dim, num_heads, ff_dim, dropout=0.1, activation="relu", batch_first=True, norm_first=norm_first
        )
    oracle = oracle.to(dtype=weight.dtype, device=weight.device)
    attention = multihead_attention(block.self_attn, num_heads)
    with torch.no_grad():
        oracle.self_attn.load_state_dict(attention.state_dict())
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(oracle, name).load_state_dict(getattr(block, name).state_dict())
    return oracle.eval()


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
