"""Gradients for given output gradients ``g``, taken as the gradient of the one number Σ output·g.

Passing ``g`` to PyTorch (``torch.autograd.grad(out, x, g)``, ``out.backward(g)``) makes it check the
shapes with its symbolic-shapes module, which imports SymPy and some 480 other modules: 0.4 s of each
fork server's start and 33 MB more in its heap, which every sandbox's two forks then copy and tear
down, or 0.9 s of the grader's own process. The gradient of the scalar Σ out·g is the same tensor, bit
for bit: its backward hands each output exactly ``g`` (1 × g), and the rest of the graph is the same.
The sandbox's tasks take the learner's gradients this way, and the grader its reference's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def weighted_sum(outputs: Sequence[torch.Tensor], output_grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over the pairs of (output · g).sum(): a scalar whose gradient is the one ``output_grads`` ask for.

    A ``g`` of another shape than its output is refused in PyTorch's own words, as passing it would be
    (the product would broadcast instead).
    """
    if len(outputs) != len(output_grads):
        raise ValueError(f"{len(outputs)} outputs but {len(output_grads)} output gradients")
    for index, (output, grad) in enumerate(zip(outputs, output_grads)):
        if output.shape != grad.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{index}] has a shape of {grad.shape} and output[{index}] "
                f"has a shape of {output.shape}."
            )
    return sum((output * grad).sum() for output, grad in zip(outputs, output_grads))
