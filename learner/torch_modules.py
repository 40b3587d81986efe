"""PyTorch's own modules holding the weights of yours: the independent answer your module must match.

SPEC: ``MultiHeadAttention`` is numerically ``nn.MultiheadAttention(E, H, bias=bias, batch_first=True)``
and ``EncoderBlock`` in eval mode is ``nn.TransformerEncoderLayer`` (ReLU, batch_first) given the same
weights. These read only the attribute names the SPEC fixes (``q_proj`` … ``out_proj``, ``linear1``,
``linear2``, ``norm1``, ``norm2``, ``self_attn``), so they work on any module written from the SPEC.
The visible tests, the learner's pictures, the nbgrader notebook and the hidden grader all use them.
"""

from __future__ import annotations

import torch


def torch_multihead(mha, num_heads: int) -> torch.nn.MultiheadAttention:
    """``nn.MultiheadAttention`` holding the weights of your MultiHeadAttention ``mha``,
    same dtype and device.

    Its ``in_proj`` is ``cat(q_proj, k_proj, v_proj)``. Left in training mode: with dropout 0 it
    computes the same, on PyTorch's plain path rather than its fused inference kernel.
    """
    weight = mha.q_proj.weight
    has_bias = mha.q_proj.bias is not None
    theirs = torch.nn.MultiheadAttention(mha.q_proj.in_features, num_heads, bias=has_bias, batch_first=True)
    theirs = theirs.to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        theirs.out_proj.weight.copy_(mha.out_proj.weight)
        if has_bias:
            theirs.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
            theirs.out_proj.bias.copy_(mha.out_proj.bias)
    return theirs


def torch_encoder_layer(
    block, num_heads: int, ff_dim: int, norm_first: bool
) -> torch.nn.TransformerEncoderLayer:
    """``nn.TransformerEncoderLayer`` (ReLU, batch_first) holding the weights of your EncoderBlock ``block``,
    in eval mode."""
    weight = block.linear1.weight
    theirs = torch.nn.TransformerEncoderLayer(
        block.linear1.in_features,
        num_heads,
        ff_dim,
        dropout=0.1,
        activation="relu",
        batch_first=True,
        norm_first=norm_first,
    )
    theirs = theirs.to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        theirs.self_attn.load_state_dict(torch_multihead(block.self_attn, num_heads).state_dict())
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(theirs, name).load_state_dict(getattr(block, name).state_dict())
    return theirs.eval()
