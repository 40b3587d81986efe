"""The tasks the lesson's checks ask the sandbox to run: call, forward, submodules, raises, train.

They run in the child, on the learner's code, and send back plain values only. Each also records
any use of the built-ins the SPEC forbids, at two levels: PyTorch functions (a ``TorchFunctionMode``
sees ``F.scaled_dot_product_attention`` however it was reached) and ATen operators (tripwires in the
dispatcher see ``aten.scaled_dot_product_attention`` and its kernels on any path, ``torch.ops`` and
TorchScript included), plus any forbidden ``nn`` module inside a learner's model.
"""

from __future__ import annotations

import builtins

import torch
from torch import nn

from .output_gradients import weighted_sum
from .placement import devices_of, model_on_device, on_device, seed_for, tensors_of
from .recorder import NO_ATTENTION_FUNCTIONS, Recorder


def plain(value):
    """Detached tensors, lists for lists, the rest unchanged: what the wire format will then check."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (list, tuple)):
        converted = [plain(item) for item in value]
        return tuple(converted) if isinstance(value, tuple) else converted
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def call(package, payload: dict) -> dict:
    """``module.function(*args, **kwargs)``; with ``grad_wrt``, gradients of Σ outputs·grad_outputs."""
    function = package.attribute(payload["module"], payload["function"])
    payload = on_device(payload)
    args = list(payload.get("args", []))
    wrt = list(payload.get("grad_wrt") or [])
    for index in wrt:
        args[index].requires_grad_(True)
    recorder = Recorder(operators=payload["function"] not in NO_ATTENTION_FUNCTIONS)
    with recorder:
        result = function(*args, **payload.get("kwargs", {}))
    grads: list = []
    if wrt:
        outputs = tensors_of(result)
        grad_outputs = payload.get("grad_outputs") or [torch.ones_like(t) for t in outputs]
        pairs = [
            (o, g) for o, g in zip(outputs, grad_outputs) if isinstance(o, torch.Tensor) and o.requires_grad
        ]
        if pairs:
            with recorder:
                total = weighted_sum([o for o, _ in pairs], [g for _, g in pairs])
                found = torch.autograd.grad(total, [args[i] for i in wrt], allow_unused=True)
            grads = [None if g is None else g.detach() for g in found]
        else:
            grads = [None] * len(wrt)
    devices = {"result": devices_of(result), "grads": devices_of(grads)}
    return {
        "result": plain(result),
        "grads": grads,
        "inputs_after": plain(args),
        "devices": devices,
        **recorder.report(),
    }


def _build(package, payload: dict) -> nn.Module:
    cls = package.attribute(payload["module"], payload["cls"])
    seed_for(payload)
    model = cls(*payload.get("init", []), **payload.get("init_kwargs", {}))
    if not isinstance(model, nn.Module):
        raise TypeError(f"{payload['cls']}(...) gave a {type(model).__name__}, not an nn.Module")
    if payload.get("dtype"):
        model = model.to(getattr(torch, payload["dtype"]))
    return model


class LoadFailed(Exception):
    """The grader's state dict could not be loaded strictly into the learner's module; the text says why."""


def load_by_spec_names(model: nn.Module, state: dict) -> tuple[list[str], list[str]]:
    """Load ``state`` by attribute paths: (names that land nowhere, parameters that no name set).

    An alias never hides a name: ``load_state_dict`` walks every name a submodule is registered under,
    and a parameter counts as set when any name reaches it (``named_parameters()`` lists a shared one
    under its first name only). A name PyTorch does not list but ``getattr`` reaches is copied there.
    """
    report = model.load_state_dict(state, strict=False)
    parameters = dict(model.named_parameters(remove_duplicate=False))
    loaded = {id(parameters[name]) for name in state if name in parameters}
    unplaced = []
    for name in report.unexpected_keys:
        target = _tensor_at(model, name)
        if target is None:
            unplaced.append(name)
            continue
        if target.shape != state[name].shape:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(model).__name__}: size mismatch for {name}: "
                f"copying a param with shape {state[name].shape} from checkpoint, the shape in current "
                f"model is {target.shape}."
            )
        with torch.no_grad():
            target.copy_(state[name])
        loaded.add(id(target))
    return unplaced, [name for name, parameter in parameters.items() if id(parameter) not in loaded]


def load_strictly(model: nn.Module, state: dict) -> None:
    """Load ``state`` so that each of its tensors lands in ``model`` and each parameter comes from it.

    Stricter than the default load and looser than PyTorch's ``strict=True``, which also asks for the
    learner's own buffers and for the second name of a submodule held twice
    (``self.ff = nn.Sequential(self.linear1, ...)``): the SPEC allows both. A failure, PyTorch's own
    (a size mismatch) or ours, becomes ``LoadFailed`` with the reason, so the grader can say that the
    weights did not load rather than that the code crashed.
    """
    try:
        unplaced, unset = load_by_spec_names(model, state)
    except Exception as error:  # noqa: BLE001 - whatever refuses the weights is the answer
        raise LoadFailed(f"{type(error).__name__}: {error}") from None
    problems = []
    if unplaced:
        problems.append(f"unexpected key(s) in state_dict: {', '.join(unplaced)}")
    if unset:
        problems.append(f"parameters the state dict does not set: {', '.join(unset)}")
    if problems:
        raise LoadFailed(f"Error(s) in loading state_dict for {type(model).__name__}: {'; '.join(problems)}")


def forward(package, payload: dict) -> dict:
    """Build the module, load the given weights, then run each call (with gradients where asked)."""
    model = _build(package, payload)
    payload = on_device(payload)
    unexpected, missing = [], []
    if payload.get("state") is not None:
        unexpected, missing = load_by_spec_names(model, payload["state"])
    model = model_on_device(model, payload)
    model.train(bool(payload.get("train")))
    recorder = Recorder()
    recorder.inspect(model)
    outputs, grads, inputs_after = [], [], []
    for spec in payload.get("calls", []):
        args = list(spec.get("args", []))
        wrt = list(spec.get("grad_wrt") or [])
        for index in wrt:
            args[index].requires_grad_(True)
        with recorder:
            output = model(*args, **spec.get("kwargs", {}))
            if spec.get("grad_output") is not None:
                if not isinstance(output, torch.Tensor):
                    raise TypeError(
                        f"forward returned a {type(output).__name__}; expected one tensor, so no gradient "
                        "could be taken"
                    )
                weighted_sum([output], [spec["grad_output"]]).backward()
        grads.append([None if args[i].grad is None else args[i].grad.detach() for i in wrt])
        outputs.append(plain(output))
        inputs_after.append(plain(args))
    return {
        "result": outputs,
        "grads": grads,
        "param_grads": _gradients_at(model, payload.get("grad_params")),
        "inputs_after": inputs_after,
        "missing": missing,
        "unexpected": unexpected,
        "devices": {"result": devices_of(outputs), "grads": devices_of(grads)},
        **recorder.report(),
    }


class NoSuchSubmodule(AttributeError):
    """A dotted path the SPEC names leads nowhere in the learner's module."""


class NotASubmodule(TypeError):
    """A dotted path the SPEC names leads to something that cannot be called on a tensor."""


def submodules(package, payload: dict) -> dict:
    """Build the module, load ``state`` strictly, switch to eval mode, then call the submodules asked for.

    Each of ``calls`` is ``{"path": "layers.1.linear1", "args": [x]}``: the path is followed attribute
    by attribute (``getattr``, as ``self.layers[1]`` is ``getattr(self.layers, "1")`` for a ModuleList)
    and what it leads to is called on ``args``. So each submodule is judged by its own outputs, not by
    how the learner's ``forward`` combines them. A path that leads nowhere or to something that cannot
    be called raises ``NoSuchSubmodule`` / ``NotASubmodule``: the grader reports it as the learner's.
    """
    model = _build(package, payload)
    payload = on_device(payload)
    load_strictly(model, payload["state"])
    model = model_on_device(model, payload)
    model.eval()
    recorder = Recorder()
    recorder.inspect(model)
    outputs = []
    for spec in payload.get("calls", []):
        submodule = _follow(model, spec["path"])
        with recorder:
            outputs.append(plain(submodule(*spec.get("args", []))))
    return {"result": outputs, "devices": {"result": devices_of(outputs)}, **recorder.report()}


def _follow(model: nn.Module, path: str):
    """``model.a.b.c`` for ``"a.b.c"``, or the learner's error that says how far the path got."""
    found = _walk(model, path)
    if not callable(found):
        raise NotASubmodule(f".{path} is a {type(found).__name__}, not a module that can be called")
    return found


def _walk(model: nn.Module, path: str):
    """What the attribute path leads to, step by step with ``getattr``: never PyTorch's iterators, which
    list an object reachable under two names (an alias, a container and its attribute) under one only."""
    found, walked = model, ""
    for step in path.split("."):
        walked = f"{walked}.{step}"
        try:
            found = getattr(found, step)
        except AttributeError:
            raise NoSuchSubmodule(f"has no attribute {walked}") from None
    return found


def _tensor_at(model: nn.Module, name: str) -> torch.Tensor | None:
    try:
        return found if isinstance(found := _walk(model, name), torch.Tensor) else None
    except NoSuchSubmodule:
        return None


def _gradients_at(model: nn.Module, names) -> dict:
    """The gradient of each parameter the grader names, found by its attribute path."""
    tensors = {name: _tensor_at(model, name) for name in names or []}
    return {name: t.grad.detach() for name, t in tensors.items() if t is not None and t.grad is not None}


def raises(package, payload: dict) -> dict:
    """The built-in exception class (``ValueError``) that the call raises, or ``None``."""
    function = package.attribute(payload["module"], payload["function"])
    try:
        function(*payload.get("args", []), **payload.get("kwargs", {}))
    except NotImplementedError:
        raise  # a stub: "not implemented yet", not an answer
    except Exception as error:  # noqa: BLE001 - which exception is exactly what is asked
        builtin = next(c.__name__ for c in type(error).__mro__ if getattr(builtins, c.__name__, None) is c)
        return {"result": builtin}
    return {"result": None}


def train(package, payload: dict) -> dict:
    """Build the classifier, train it with the learner's ``train_classifier``, then predict held-out data."""
    cls = package.attribute(payload["module"], "AttentionClassifier")
    train_classifier = package.attribute(payload["module"], "train_classifier")
    seed_for(payload)
    model = cls(*payload["init"])
    payload = on_device(payload)
    model = model_on_device(model, payload)
    recorder = Recorder(
        operators=False
    )  # the forward checks already watch this model's operators; training is the hot path
    recorder.inspect(model)
    with recorder:
        losses = train_classifier(
            model,
            payload["X"],
            payload["y"],
            payload.get("lengths"),
            epochs=payload["epochs"],
            lr=payload["lr"],
        )
        model.eval()
        with torch.no_grad():
            logits = model(payload["X_test"], payload.get("lengths_test"))
    return {
        "result": plain(logits),
        "losses": plain(losses),
        "devices": {"result": devices_of(logits)},
        **recorder.report(),
    }


def warm_up() -> None:
    """Pay, once in the fork server, for what the sessions' first calls would import lazily.

    A recorded product, its gradient for given output gradients (taken as the tasks take it, so SymPy
    stays out: ``output_gradients``) and an optimizer step, as the tasks above do.
    One thread and 2×2 tensors: enough to load the machinery, too small to start a thread pool.
    """
    torch.set_num_threads(1)
    weight = nn.Parameter(torch.ones(2, 2))
    optimizer = torch.optim.Adam([weight])
    with Recorder():
        product = weight @ weight
        (gradient,) = torch.autograd.grad(weighted_sum([product], [torch.ones_like(product)]), [weight])
        weight.grad = gradient
        optimizer.step()


LESSON_TASKS = {
    "call": call,
    "forward": forward,
    "submodules": submodules,
    "raises": raises,
    "train": train,
}
