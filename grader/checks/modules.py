"""Running the learner's modules with the reference's weights, and reading back what they did."""

from __future__ import annotations

import torch
from torch import nn

from grader.checks import case
from grader.checks.devices import MASK_DEVICE_HINT, NEW_TENSOR_HINT, expect_on_device
from grader.checks.inputs import generator, randn
from grader.compare import expect_close, fail
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
    stay_on_cpu=(),
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
        stay_on_cpu=stay_on_cpu,
    )
    unexpected = call.extra.get("unexpected") or []
    if unexpected:
        fail(
            f"{learner.module}.{cls}: has no parameter {', '.join(unexpected[:4])} (the SPEC's names): the grader cannot load weights",
            "Do your attributes carry exactly the SPEC's names?",
        )
    return call


def expect_module_on_device(learner, cls: str, init, reference: nn.Module, x, masks, *, where: str, init_kwargs=None):
    """The device check of a module: ``reference``'s weights, ``x`` on ``learner.device``, one call per mask.

    masks: ``[(description, mask, mask stays on the CPU)]``. Each call also takes the gradient of the
    input; outputs and gradients must stay on the device and equal the reference's (float64 on the CPU).
    """
    device = learner.device
    calls = [
        {"args": [x, mask], "grad_wrt": [0], "grad_output": randn(90 + i, *x.shape, dtype=x.dtype)}
        for i, (_, mask, _) in enumerate(masks)
    ]
    stay = [f"calls.{i}.args.1" for i, (_, mask, on_cpu) in enumerate(masks) if on_cpu and mask is not None]
    expected, expected_grads, _ = expected_outputs(reference, calls)
    described = "; ".join(f"{text} on {'cpu' if on_cpu else device}" for text, _, on_cpu in masks)
    with case(f"x {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')} on {device}, one call per mask: {described}"):
        call = forward(learner, cls, init, reference, calls, init_kwargs=init_kwargs, stay_on_cpu=stay)
        expect_on_device(call, device, f"{where}: output", hint=MASK_DEVICE_HINT if stay else NEW_TENSOR_HINT)
        expect_on_device(call, device, f"{where}: gradient of x", part="grads")
        for (text, _, _), got, want, grads, want_grads in zip(
            masks, call.result, expected, call.grads, expected_grads, strict=True
        ):
            expect_close(got, want, f"{where}: output on {device}, {text}")
            expect_close(grads[0], want_grads[0], f"{where}: gradient of x on {device}, {text}")


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
