"""The reference's gradients of Σ output·g, taken as the gradient of that one number.

Passing the ``g`` as output gradients (``torch.autograd.grad(out, x, g)``, ``out.backward(g)``) makes
PyTorch check their shapes with its symbolic-shapes module, which imports SymPy: 0.9 s of the grader's
own process in the middle of the first exercise of every run. The gradient of the scalar Σ out·g is the
same tensor: its backward hands each output exactly ``g`` (1 × g), and the rest of the graph is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def weighted_sum(outputs: Sequence[torch.Tensor], output_grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over the pairs of (output · g).sum(): a scalar whose gradient is the one ``output_grads`` ask for."""
    if len(outputs) != len(output_grads):
        raise ValueError(f"{len(outputs)} outputs but {len(output_grads)} output gradients")
    return sum((output * grad).sum() for output, grad in zip(outputs, output_grads))


def gradients(
    outputs: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor], output_grads: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """``torch.autograd.grad(outputs, inputs, output_grads)``, without the SymPy import."""
    return torch.autograd.grad(weighted_sum(outputs, output_grads), inputs)
