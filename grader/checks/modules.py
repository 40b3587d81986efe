"""Running the learner's modules with the reference's weights, and reading back what they did."""

from __future__ import annotations

import torch
from torch import nn

from grader.checks.inputs import generator
from grader.compare import fail
from grader.rng import global_rng


def reference_module(cls, *init, seed: int, dtype: torch.dtype = torch.float32, **init_kwargs) -> nn.Module:
    """The reference module with seeded, non-trivial weights (LayerNorm scale and shift randomised too)."""
    with global_rng(seed):
        module = cls(*init, **init_kwargs).to(dtype)
    g = generator(seed + 1)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("bias") or isinstance(_owner(module, name), nn.LayerNorm):
                parameter.copy_(
                    torch.randn(parameter.shape, generator=g, dtype=torch.float64).mul(0.3).add(_ln_center(module, name))
                )
    return module.eval()


def state_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def forward(
    learner,
    cls: str,
    init,
    reference: nn.Module,
    calls: list[dict],
    *,
    init_kwargs=None,
    train=False,
    grad_params=False,
    seed=0,
    fresh=False,
):
    """Run ``calls`` on the learner's ``cls(*init)`` holding ``reference``'s weights; fail on unknown names."""
    dtype = next(reference.parameters()).dtype
    call = learner.forward(
        cls,
        init,
        init_kwargs=init_kwargs,
        state=state_of(reference),
        train=train,
        dtype=dtype,
        calls=calls,
        grad_params=grad_params,
        seed=seed,
        fresh=fresh,
    )
    unexpected = call.extra.get("unexpected") or []
    if unexpected:
        fail(
            f"{learner.module}.{cls}: has no parameter {', '.join(unexpected[:4])} (the SPEC's names): the grader cannot load weights",
            "Do your attributes carry exactly the SPEC's names?",
        )
    return call


def expected_outputs(reference: nn.Module, calls: list[dict], grad_params: bool = False):
    """The reference's outputs, input gradients and parameter gradients for the same ``calls``."""
    outputs, input_grads = [], []
    reference.zero_grad(set_to_none=True)
    for spec in calls:
        args = [a.clone().requires_grad_(True) if i in spec.get("grad_wrt", ()) else a for i, a in enumerate(spec["args"])]
        out = reference(*args, **spec.get("kwargs", {}))
        grads = []
        if spec.get("grad_output") is not None:
            wrt = [args[i] for i in spec.get("grad_wrt", ())]
            out.backward(spec["grad_output"], inputs=wrt + list(reference.parameters()) if grad_params else wrt or None)
            grads = [args[i].grad for i in spec.get("grad_wrt", ())]
        outputs.append(out.detach())
        input_grads.append(grads)
    param_grads = {name: p.grad for name, p in reference.named_parameters()} if grad_params else {}
    return outputs, input_grads, param_grads


def _owner(module: nn.Module, parameter_name: str) -> nn.Module:
    return module.get_submodule(parameter_name.rpartition(".")[0]) if "." in parameter_name else module


def _ln_center(module: nn.Module, name: str) -> float:
    return 1.0 if isinstance(_owner(module, name), nn.LayerNorm) and name.endswith("weight") else 0.0
