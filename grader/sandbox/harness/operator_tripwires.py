"""Tripwires on the ATen operators the SPEC forbids, set in PyTorch's dispatcher.

Every call of an operator passes the dispatcher, whoever makes it: Python, ``torch.ops``, TorchScript
(a ``CompilationUnit`` built from a string included), inference mode, a backward pass. Each forbidden
operator gets a kernel on a dispatch key of its own, above autograd and above every composite
operator's decomposition. The kernel notes the call and hands it on unchanged, below that key. Every
other operator falls through the key, at no cost.

This replaces a ``TorchDispatchMode``, which saw too little and cost too much:
- ``aten.scaled_dot_product_attention`` is a composite operator. Under a dispatch mode it decomposes
  before the mode sees it, into ``bmm`` and ``softmax``. So built-in attention called from TorchScript
  was found by neither recorder.
- The mode sent every operator through Python, about 10 µs each. A multi-head forward and backward
  took three to four times as long (``bench/recorder_overhead.py``).

The key is switched on, per thread, only inside ``watching`` (while a ``Recorder`` records). So the
grader's own uses of these operators never meet it: its oracles in a notebook kernel.

The key is ``TESTING_ONLY_GenericMode``: c10 reserves it for its own tests, and nothing in PyTorch
registers on it. ``install`` refuses, and the recorder falls back to the dispatch mode, when the key
already holds a registration, or when this PyTorch lacks what the tripwires need.

In the sandbox, where nothing but the learner's code runs, ``seal`` goes further: every kernel of every
forbidden operator is replaced by one that notes the call and refuses it, on every thread (a thread the
learner's code starts has no armed key, nor the recorder's function mode) and whether or not a recorder
is armed. A forbidden operator does not run there at all. A note made outside any recorder waits for the
next one to arm (``watching``).

The learner's code runs in this process. Code that sets out to switch the key off, or to find these
registrations and remove them, can do so, as it could pop a mode. What the tripwires guarantee is that
no way of *calling* these operators escapes them.
"""

from __future__ import annotations

import contextlib
import threading
import warnings

import torch

KEY_NAME = "TESTING_ONLY_GenericMode"
FORBIDDEN_OPERATOR_PARTS = (
    "scaled_dot_product",
    "multi_head_attention",
    "transformer_encoder_layer",
    "flash_attention",
    "efficient_attention",
)

_lock = threading.Lock()
_state: dict = {"installed": None, "sealed": False, "libraries": [], "key": None}
# Where ``seal`` puts its refusing kernels: a composite operator's where it decomposes; an explicit one's
# wherever it can run (autograd, each backend, inference mode's path straight to them).
COMPOSITE_KEY = "CompositeImplicitAutograd"
EXPLICIT_KEYS = (
    "CompositeExplicitAutograd",
    "Autograd",
    "CPU",
    "CUDA",
    "NestedTensorCPU",
    "NestedTensorCUDA",
    "QuantizedCPU",
    "QuantizedCUDA",
)
# Where a tripped wire writes: every armed recorder's set. A wire tripped with none armed (a thread that
# inherited the key, say) is kept for the next recorder to arm.
_receivers: list[set[str]] = []
_unclaimed: set[str] = set()


def is_forbidden_operator(name: str) -> bool:
    return any(part in name for part in FORBIDDEN_OPERATOR_PARTS)


def forbidden_operators() -> list[str]:
    """``["aten::_native_multi_head_attention.out", "aten::scaled_dot_product_attention", ...]``: every
    forbidden operator and overload this PyTorch has registered."""
    names = torch._C._dispatch_get_all_op_names()
    return sorted(name for name in names if name.startswith("aten::") and is_forbidden_operator(name))


def install() -> bool:
    """Set the tripwires, once per process; returns whether they are set."""
    with _lock:
        if _state["installed"] is None:
            _state["installed"] = _install()
        return _state["installed"]


def _install() -> bool:
    try:
        key = torch._C._parse_dispatch_key(KEY_NAME)
        if key is None or torch._C._dispatch_get_registrations_for_dispatch_key(KEY_NAME):
            return False  # someone else's key after all
        everything_else = torch.library.Library("_", "IMPL")
        everything_else.fallback(torch.library.fallthrough_kernel, dispatch_key=KEY_NAME)
        wires = torch.library.Library("aten", "IMPL")
        keyset = torch._C.DispatchKeySet(key)
        for name, operator in _reachable_forbidden_operators():
            wires.impl(name, _tripwire(operator, keyset), KEY_NAME)
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return False
    _state.update(libraries=[everything_else, wires], key=key)
    return True


def _reachable_forbidden_operators():
    """``("op.overload", OpOverload)`` for each forbidden operator Python can reach."""
    for qualified in forbidden_operators():
        name = qualified.removeprefix("aten::")
        base, _, overload = name.partition(".")
        try:
            yield name, getattr(getattr(torch.ops.aten, base), overload or "default")
        except (AttributeError, RuntimeError):
            continue


def _tripwire(operator, keyset):
    note = f"aten operator {operator}"

    def kernel(*args, **kwargs):
        _note(note)
        with torch._C._ExcludeDispatchKeyGuard(keyset):
            return operator(*args, **kwargs)

    return kernel


def seal() -> bool:
    """In the sandbox's fork server, once: every forbidden operator notes its caller and refuses to run,
    everywhere. Returns whether it is sealed. Never in a process that runs the grader's own code."""
    with _lock:
        if not _state["sealed"]:
            _state["sealed"] = _seal()
        return _state["sealed"]


def _seal() -> bool:
    try:
        refusals = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Overriding a previously registered kernel": that is the point
            for name, operator in _reachable_forbidden_operators():
                composite = torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{name}", COMPOSITE_KEY)
                for key in (COMPOSITE_KEY,) if composite else EXPLICIT_KEYS:
                    refusals.impl(name, _refusal(operator), key)
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return False
    _state["libraries"].append(refusals)
    return True


def is_sealed() -> bool:
    return _state["sealed"]


def _refusal(operator):
    note = f"aten operator {operator}"

    def kernel(*args, **kwargs):
        _note(note)
        raise RuntimeError(
            f"{operator} is PyTorch's built-in attention, which this lesson forbids: it does not run here"
        )

    return kernel


def _note(note: str) -> None:
    for found in _receivers or [_unclaimed]:
        found.add(note)


def keep_for_report(found: set[str]) -> None:
    """A call that raised noted ``found``: keep it for its error reply, or else the next recorder."""
    _unclaimed.update(found)


def take_notes() -> list[str]:
    """What was noted with no recorder to report it (a call that raised, a thread): handed over once."""
    notes = sorted(_unclaimed)
    _unclaimed.clear()
    return notes


@contextlib.contextmanager
def watching(found: set[str]):
    """While inside: every forbidden operator that trips a wire is added to ``found``, as
    ``"aten operator aten.<name>.<overload>"``, with any noted since the last recorder. Arms this
    thread's key when the wires are installed and not sealed."""
    found.update(take_notes())
    _receivers.append(found)
    try:
        if _state["installed"] and not _state["sealed"]:
            with torch._C._IncludeDispatchKeyGuard(_state["key"]):
                yield found
        else:
            yield found
    finally:
        # By identity: two recorders' sets may be equal.
        del _receivers[next(i for i, receiver in enumerate(_receivers) if receiver is found)]
