"""The reference's gradients of Σ output·g, taken as the gradient of that one number, without SymPy
(``grader/sandbox/harness/output_gradients.py`` says why; the sandbox takes the learner's the same way).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from grader.sandbox.harness.output_gradients import weighted_sum

__all__ = ["gradients", "weighted_sum"]


def gradients(
    outputs: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor], output_grads: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """``torch.autograd.grad(outputs, inputs, output_grads)``, without the SymPy import."""
    return torch.autograd.grad(weighted_sum(outputs, output_grads), inputs)
