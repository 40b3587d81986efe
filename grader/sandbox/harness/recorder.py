"""Recording what a task's call uses of the built-ins the SPEC forbids, and the warnings it raises.

Two levels: PyTorch functions (a ``TorchFunctionMode`` sees ``F.scaled_dot_product_attention``
however it was reached) and ATen operators (a ``TorchDispatchMode`` sees ``aten._scaled_dot_product_*``
even when called through ``torch.ops``), plus any forbidden ``nn`` module inside a learner's model.
"""

from __future__ import annotations

import warnings
from types import BuiltinFunctionType

import torch
import torch.nn.functional as F
from torch import nn
from torch._ops import OpOverload, OpOverloadPacket
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

MAX_WARNINGS = 5
FORBIDDEN_FUNCTIONS = {
    F.scaled_dot_product_attention: "torch.nn.functional.scaled_dot_product_attention",
    F.multi_head_attention_forward: "torch.nn.functional.multi_head_attention_forward",
}
for _name in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd"):
    if hasattr(torch, _name):
        FORBIDDEN_FUNCTIONS[getattr(torch, _name)] = f"torch.{_name}"
FORBIDDEN_OPERATOR_PARTS = (
    "scaled_dot_product",
    "multi_head_attention",
    "transformer_encoder_layer",
    "flash_attention",
    "efficient_attention",
)
FORBIDDEN_MODULES = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder)
# Functions that compute no attention: watched at the function level only. The operator recorder sends
# every ATen operator through Python (~10 µs each): a tutorial-style positional encoding that assigns
# entry by entry would run 13 times slower and time out, and built-in attention would gain nothing here.
NO_ATTENTION_FUNCTIONS = frozenset(
    {"softmax", "padding_mask", "causal_mask", "sinusoidal_positional_encoding"}
)


_OPERATOR_VERDICTS: dict = {}


def _is_forbidden_operator(name: str) -> bool:
    return any(part in name for part in FORBIDDEN_OPERATOR_PARTS)


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
            and _is_forbidden_operator(str(func))
        ):
            name = f"aten operator {func}"
        # torch._scaled_dot_product_flash_attention_for_cpu and its kin: PyTorch's own builtins, by their own
        # name.
        if name is None and isinstance(func, BuiltinFunctionType) and _is_forbidden_operator(func.__name__):
            name = f"torch.{func.__name__}"
        if name:
            self.found.add(name)
        return func(*args, **(kwargs or {}))


class _OperatorRecorder(TorchDispatchMode):
    def __init__(self, found: set[str]):
        super().__init__()
        self.found = found

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        forbidden = _OPERATOR_VERDICTS.get(func)
        if forbidden is None:  # str(func) builds a new string: once per operator, not once per call
            forbidden = _OPERATOR_VERDICTS[func] = _is_forbidden_operator(str(func))
        if forbidden:
            self.found.add(f"aten operator {func}")
        return func(*args, **(kwargs or {}))


class Recorder:
    """Run learner code under both recorders; ``found`` lists the forbidden built-ins it reached."""

    def __init__(self, operators: bool = True):
        self.found: set[str] = set()
        self.warnings: list[str] = []
        self.operators = operators

    def __enter__(self):
        # PyTorch warnings become notes in the feedback, never failures.
        self._caught = warnings.catch_warnings(record=True)
        self._seen = self._caught.__enter__()
        warnings.simplefilter("always")
        self._modes = [_FunctionRecorder(self.found)] + [_OperatorRecorder(self.found)] * self.operators
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc_info):
        for mode in reversed(self._modes):
            mode.__exit__(*exc_info)
        self._caught.__exit__(*exc_info)
        for caught in self._seen:
            text = f"{caught.category.__name__}: {str(caught.message)[:300]}"
            if text not in self.warnings and len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(text)

    def report(self) -> dict:
        return {"forbidden": sorted(self.found), "warnings": self.warnings}

    def inspect(self, model: nn.Module) -> None:
        for name, module in model.named_modules():
            if isinstance(module, FORBIDDEN_MODULES):
                self.found.add(f"nn.{type(module).__name__} (at .{name or 'self'})")
