"""Recording what a task's call uses of the built-ins the SPEC forbids, and the warnings it raises.

Two levels: PyTorch functions (a ``TorchFunctionMode`` sees ``F.scaled_dot_product_attention``
however it was reached) and ATen operators (tripwires in the dispatcher, ``operator_tripwires``, see
``aten.scaled_dot_product_attention`` and its fused kernels on every path, TorchScript included), plus
any forbidden ``nn`` module inside a learner's model. On a PyTorch where the tripwires cannot be set,
a ``TorchDispatchMode`` watches the operators instead, as it did before them.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from types import BuiltinFunctionType

import numpy
import torch
import torch.nn.functional as F
from torch import nn
from torch._ops import OpOverload, OpOverloadPacket
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from . import operator_tripwires
from .operator_tripwires import is_forbidden_operator

MAX_WARNINGS = 5
WARNING_ORIGINS = ("numpy", "torch", "code")  # "code": the learner's own, or Python's
_LIBRARY_FOLDERS = {
    "numpy": os.path.dirname(numpy.__file__) + os.sep,
    "torch": os.path.dirname(torch.__file__) + os.sep,
}
# NumPy's floating-point errors are raised from C, at the caller's line: known by NumPy's wording.
_NUMPY_FLOATING_POINT = re.compile(r"(overflow|underflow|invalid value|divide by zero) encountered in ")
FORBIDDEN_FUNCTIONS = {
    F.scaled_dot_product_attention: "torch.nn.functional.scaled_dot_product_attention",
    F.multi_head_attention_forward: "torch.nn.functional.multi_head_attention_forward",
}
for _name in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd"):
    if hasattr(torch, _name):
        FORBIDDEN_FUNCTIONS[getattr(torch, _name)] = f"torch.{_name}"
FORBIDDEN_MODULES = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder)
# Functions that compute no attention: without the tripwires, watched at the function level only. The
# fallback's dispatch mode sends every ATen operator through Python (~10 µs each): a tutorial-style
# positional encoding that assigns entry by entry would run 13 times slower and time out.
NO_ATTENTION_FUNCTIONS = frozenset(
    {"softmax", "padding_mask", "causal_mask", "sinusoidal_positional_encoding"}
)


_OPERATOR_VERDICTS: dict = {}


class _FunctionRecorder(TorchFunctionMode):
    def __init__(self, found: set[str]):
        super().__init__()
        self.found = found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            name = FORBIDDEN_FUNCTIONS.get(func)
        except TypeError:  # an unhashable callable cannot be one of ours
            name = None
        # torch.ops.aten.<op> arrives here by name; composite ops decompose before the dispatch mode sees
        # them.
        if (
            name is None
            and isinstance(func, (OpOverload, OpOverloadPacket))
            and is_forbidden_operator(str(func))
        ):
            name = f"aten operator {func}"
        # torch._scaled_dot_product_flash_attention_for_cpu and its kin: PyTorch's own builtins, by their own
        # name.
        if name is None and isinstance(func, BuiltinFunctionType) and is_forbidden_operator(func.__name__):
            name = f"torch.{func.__name__}"
        if name:
            self.found.add(name)
        return func(*args, **(kwargs or {}))


class _OperatorRecorder(TorchDispatchMode):
    """The fallback where the tripwires cannot be set: sees operators below composite decompositions."""

    def __init__(self, found: set[str]):
        super().__init__()
        self.found = found

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        forbidden = _OPERATOR_VERDICTS.get(func)
        if forbidden is None:  # str(func) builds a new string: once per operator, not once per call
            forbidden = _OPERATOR_VERDICTS[func] = is_forbidden_operator(str(func))
        if forbidden:
            self.found.add(f"aten operator {func}")
        return func(*args, **(kwargs or {}))


class Recorder:
    """Run learner code under both recorders; ``found`` lists the forbidden built-ins it reached.

    ``operators=False`` leaves out the fallback's dispatch mode (the tripwires cost nothing and are
    always armed).
    """

    def __init__(self, operators: bool = True):
        self.found: set[str] = set()
        self.warnings: list[list[str]] = []  # [origin, "Category: message"], origin from WARNING_ORIGINS
        self.operators = operators

    def __enter__(self):
        # Warnings become notes in the feedback, never failures; each is kept with where it came from.
        self._caught = warnings.catch_warnings()
        self._caught.__enter__()
        self._seen: list[tuple[object, type, str]] = []
        warnings.simplefilter("always")
        warnings.showwarning = self._keep
        tripwires = operator_tripwires.is_sealed() or operator_tripwires.install()
        self._modes = [_FunctionRecorder(self.found)]
        if tripwires:
            self._modes.append(operator_tripwires.watching(self.found))
        elif self.operators:
            self._modes.append(_OperatorRecorder(self.found))
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc_info):
        for mode in reversed(self._modes):
            mode.__exit__(*exc_info)
        self._caught.__exit__(*exc_info)
        if exc_info[0] is not None:  # the task's reply will be an error: it carries these instead
            operator_tripwires.keep_for_report(self.found)
        for message, category, origin in self._seen:
            try:
                said = str(message)[:300]
            except Exception:
                said = "(a message that cannot be printed)"
            warned = [origin, f"{category.__name__}: {said}"]
            if warned not in self.warnings and len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(warned)

    def _keep(self, message, category, filename, lineno, file=None, line=None) -> None:
        """``warnings.showwarning`` while recording: keep the warning and who raised it."""
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") == "warnings":
            frame = frame.f_back
        self._seen.append((message, category, _origin(frame, category, message)))

    def report(self) -> dict:
        return {"forbidden": sorted(self.found), "warnings": self.warnings}

    def inspect(self, model: nn.Module) -> None:
        for name, module in model.named_modules():
            if isinstance(module, FORBIDDEN_MODULES):
                self.found.add(f"nn.{type(module).__name__} (at .{name or 'self'})")


def _origin(frame, category: type, message) -> str:
    """Who raised a warning: "numpy", "torch" or "code", from the innermost frame outside ``warnings``.

    That frame is the line that warned; for a warning raised in C, the line that called into C. Every
    PyTorch function the learner's code calls runs inside ``_FunctionRecorder`` (this file), so PyTorch's
    C++ warnings come from here; NumPy's floating-point errors are known by their wording.
    """
    filename = frame.f_code.co_filename if frame is not None else ""
    for origin, folder in _LIBRARY_FOLDERS.items():
        if filename.startswith(folder):
            return origin
    if filename == __file__:
        return "torch"
    try:
        floating_point = issubclass(category, RuntimeWarning) and _NUMPY_FLOATING_POINT.match(str(message))
    except Exception:  # a learner's warning whose message cannot be printed
        floating_point = False
    return "numpy" if floating_point else "code"
