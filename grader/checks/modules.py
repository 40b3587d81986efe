"""Running the learner's modules with the reference's weights, and reading back what they did.

A module's structure (its submodules' types and sizes, which parameters it has) is judged from values,
never from what the learner's process says about its objects: ``expect_submodules`` loads weights
under the SPEC's names strictly and calls each SPEC submodule by itself, comparing its output with
what that submodule must give (``x Wᵀ + b``, a LayerNorm, the reference's MultiHeadAttention).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import case
from grader.checks.compare import NO_GRADIENT_HINT, Hint, Tolerance, expect_close, fail, is_close
from grader.checks.devices import MASK_DEVICE_HINT, NEW_TENSOR_HINT, expect_on_device
from grader.checks.inputs import generator, randn
from grader.checks.reference_gradients import weighted_sum
from grader.checks.rng import global_rng
from grader.sandbox.client import LearnerError

MAX_REASON_CHARS = 400  # PyTorch lists every key it could not place; the first few say what went wrong
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, and nn.TransformerEncoderLayer's: the SPEC's norms


def reference_module(cls, *init, seed: int, dtype: torch.dtype = torch.float32, **init_kwargs) -> nn.Module:
    """The reference module with seeded, non-trivial weights (LayerNorm scale and shift randomised too)."""
    with global_rng(seed):
        module = cls(*init, **init_kwargs).to(dtype)
    g = generator(seed + 1)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("bias") or isinstance(_owner(module, name), nn.LayerNorm):
                parameter.copy_(
                    torch.randn(parameter.shape, generator=g, dtype=torch.float64)
                    .mul(0.3)
                    .add(_ln_center(module, name))
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
    values=True,
):
    """Run ``calls`` on the learner's ``cls(*init)`` holding ``reference``'s weights (by the SPEC's names).

    A bias the learner's module has no place for (``nn.Linear(..., bias=False)``) is zeroed in
    ``reference`` as well, so that expected values worked out from it *afterwards* are what the weights
    that did load give: the structure checks report the missing bias, the forward checks judge the
    forward. Any other name that lands nowhere fails, since values cannot be judged without the weights;
    with ``values=False`` (a shape check: a shape does not depend on the weights) nothing fails here.
    With ``grad_params``, ``param_grads`` holds the gradient of each of the reference's parameters, found
    in the learner's module by its SPEC path (an alias or a container never hides one).
    """
    dtype = next(reference.parameters()).dtype
    state = state_of(reference)
    call = learner.forward(
        cls,
        init,
        init_kwargs=init_kwargs,
        state=state,
        train=train,
        dtype=dtype,
        calls=calls,
        grad_params=[name for name, _ in reference.named_parameters()] if grad_params else (),
        seed=seed,
        fresh=fresh,
        stay_on_cpu=stay_on_cpu,
    )
    unexpected = call.extra.get("unexpected") or []
    biases = [name for name in unexpected if _is_lone_bias(name, state, unexpected)]
    with torch.no_grad():
        for name in biases:
            reference.get_parameter(name).zero_()
    unplaced = [name for name in unexpected if name not in biases]
    if values and unplaced:
        fail(
            f"{learner.module}.{cls}: has no parameter {', '.join(unplaced[:4])} (the SPEC's names): the "
            "grader cannot load the weights, so the values cannot be judged",
            "Do your attributes carry exactly the SPEC's names?",
        )
    return call


def first_output(result):
    """What a value check judges of ``forward``'s result: a tuple's first element stands for the output
    (the output's form is the shape check's business)."""
    return result[0] if isinstance(result, (tuple, list)) and result else result


def _is_lone_bias(name: str, state: dict[str, torch.Tensor], unexpected: list[str]) -> bool:
    """A bias whose weight loaded: the learner's layer exists, built with ``bias=False``."""
    owner, _, leaf = name.rpartition(".")
    return leaf == "bias" and f"{owner}.weight" in state and f"{owner}.weight" not in unexpected


@dataclass(frozen=True)
class Probe:
    """One SPEC submodule, called on its own input, and what it must give: judged by its own output.

    ``expected`` is worked out here (float64 where practical, rounded to the module's dtype);
    ``inputs`` names the arguments in the message (``x``, ``h``); ``like`` completes "output vs ...";
    a callable ``hint`` gets the learner's output, when it fails; ``also`` are outputs accepted as well,
    where another check owns that mistake (a block's one LayerNorm held as both norms, in the stack's check).
    """

    path: str
    args: tuple
    inputs: str
    expected: torch.Tensor
    like: str
    hint: str | Callable[[torch.Tensor], str]
    tolerance: Tolerance | None = None
    also: tuple = ()


def expect_submodules(
    learner,
    cls: str,
    init,
    reference: nn.Module,
    probes: list[Probe],
    *,
    where: str,
    load_hint: Hint,
    init_kwargs=None,
) -> None:
    """The learner's ``cls(*init)`` holds the SPEC's submodules: the weights load, each gives its output.

    The weights are ``reference``'s (seeded, distinct per tensor), under the SPEC's names, loaded
    strictly; then each probe's submodule is called by itself, so a mistake in how ``forward`` combines
    them (an activation, a residual) costs the forward checks only. A load that fails names what was
    loaded and PyTorch's reason; a path that leads nowhere says how far it got. The output's form (a
    tuple, say) is the shape checks' business, so a tuple's first element stands for it here.
    """
    state, dtype = state_of(reference), next(reference.parameters()).dtype
    calls = [{"path": probe.path, "args": list(probe.args)} for probe in probes]
    try:
        call = learner.submodules(cls, init, init_kwargs=init_kwargs, state=state, dtype=dtype, calls=calls)
    except LearnerError as error:
        if error.load_failure is not None:
            reason = _one_line(error.load_failure)
            fail(f"{where}: loading a state dict with {state_text(state)} failed: {reason}", load_hint)
        if error.submodule_failure is not None:
            fail(f"{where}: {_one_line(error.submodule_failure)}", load_hint)
        raise
    for probe, got in zip(probes, call.result, strict=True):
        if isinstance(got, (tuple, list)) and got:
            got = got[0]
        if any(is_close(got, other, probe.tolerance) for other in probe.also):
            continue
        hint = partial(probe.hint, got) if callable(probe.hint) else probe.hint
        what = f"{where}.{probe.path}({probe.inputs}): output vs {probe.like}"
        expect_close(got, probe.expected, what, hint, probe.tolerance)


def linear_probe(state: dict[str, torch.Tensor], path: str, x: torch.Tensor, inputs: str, hint) -> Probe:
    """``path`` is an ``nn.Linear`` holding ``state``'s weights: ``x Wᵀ + b``, in float64 from ``state``."""
    weight, bias = state[f"{path}.weight"].double(), state.get(f"{path}.bias")
    expected = x.double() @ weight.T + (0.0 if bias is None else bias.double())
    out_features, in_features = weight.shape
    spec, formula = (f"{in_features}, {out_features}", f"{inputs} Wᵀ + b")
    if bias is None:
        spec, formula = f"{spec}, bias=False", f"{inputs} Wᵀ"
    like = f"nn.Linear({spec}) with the weights loaded, {formula}"
    return Probe(path, (x,), inputs, expected.to(x.dtype), like, hint)


def layer_norm_probe(state: dict[str, torch.Tensor], path: str, x: torch.Tensor, hint) -> Probe:
    """``path`` is an ``nn.LayerNorm(E)`` (eps 1e-5, the SPEC's) holding ``state``'s weight and bias."""
    weight, bias = state[f"{path}.weight"].double(), state[f"{path}.bias"].double()
    expected = F.layer_norm(x.double(), weight.shape, weight, bias, eps=LAYER_NORM_EPS)
    like = f"nn.LayerNorm({weight.shape[0]}) with the weight and bias loaded"
    return Probe(path, (x,), "x", expected.to(x.dtype), like, hint)


def reference_probe(reference: nn.Module, path: str, args: tuple, inputs: str, like: str, hint) -> Probe:
    """``path`` computes what the reference's own submodule there computes, run here in float64."""
    submodule = copy.deepcopy(reference.get_submodule(path)).double().eval()
    with torch.no_grad():
        expected = submodule(*(a.double() if isinstance(a, torch.Tensor) else a for a in args))
    tolerance = Tolerance.for_dtype(args[0].dtype, 5)  # float32 against float64: a softmax and a few sums
    return Probe(path, args, inputs, expected.to(args[0].dtype), like, hint, tolerance)


def state_text(state: dict[str, torch.Tensor], shown: int = 8) -> str:
    """The state dict a structure check loads, in words: each tensor and its shape, or by submodule.

    ``q_proj.weight (8, 8), q_proj.bias (8,), …``; beyond ``shown`` tensors, a submodule holding more
    than two (a block of a ModuleList counts as one) becomes ``layers.0.* (16 tensors)``.
    """
    groups: dict[str, list[str]] = {}
    for name, value in state.items():
        groups.setdefault(_owner_name(name), []).append(f"{name} {tuple(value.shape)}")
    if len(state) <= shown:
        return ", ".join(entry for entries in groups.values() for entry in entries)
    parts = []
    for owner, entries in groups.items():
        parts += entries if len(entries) <= 2 else [f"{owner}.* ({len(entries)} tensors)"]
    return ", ".join(parts)


def _owner_name(name: str) -> str:
    """``self_attn`` for ``self_attn.q_proj.weight``; ``layers.0`` for ``layers.0.linear1.bias``."""
    first, _, rest = name.partition(".")
    index = rest.partition(".")[0]
    return f"{first}.{index}" if index.isdigit() else first


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def expect_module_on_device(
    learner, cls: str, init, reference: nn.Module, x, masks, *, where: str, init_kwargs=None
):
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
    described = "; ".join(f"{text} on {'cpu' if on_cpu else device}" for text, _, on_cpu in masks)
    with case(
        f"x {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')} on {device}, one call per mask: "
        f"{described}"
    ):
        call = forward(learner, cls, init, reference, calls, init_kwargs=init_kwargs, stay_on_cpu=stay)
        # after the call: a bias that found no place in the learner's module is zero in the reference too
        expected, expected_grads, _ = expected_outputs(reference, calls)
        expect_on_device(call, device, f"{where}: output", hint=MASK_DEVICE_HINT if stay else NEW_TENSOR_HINT)
        if any(grads[0] is None for grads in call.grads):
            fail(f"{where}: no gradient flows back to x", NO_GRADIENT_HINT)
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
        args = [
            a.clone().requires_grad_(True) if i in spec.get("grad_wrt", ()) else a
            for i, a in enumerate(spec["args"])
        ]
        out = reference(*args, **spec.get("kwargs", {}))
        grads = []
        if spec.get("grad_output") is not None:
            wrt = [args[i] for i in spec.get("grad_wrt", ())]
            weighted_sum([out], [spec["grad_output"]]).backward(
                inputs=wrt + list(reference.parameters()) if grad_params else wrt or None
            )
            grads = [args[i].grad for i in spec.get("grad_wrt", ())]
        outputs.append(out.detach())
        input_grads.append(grads)
    param_grads = {name: p.grad for name, p in reference.named_parameters()} if grad_params else {}
    return outputs, input_grads, param_grads


def _owner(module: nn.Module, parameter_name: str) -> nn.Module:
    return module.get_submodule(parameter_name.rpartition(".")[0]) if "." in parameter_name else module


def _ln_center(module: nn.Module, name: str) -> float:
    return 1.0 if isinstance(_owner(module, name), nn.LayerNorm) and name.endswith("weight") else 0.0
