"""A stand-in for ``torch._dynamo``: eager code's two calls answered here, anything else by the real one.

Eager PyTorch calls into ``torch._dynamo`` in two places a session reaches: ``torch._disable_dynamo``
(every ``TorchDispatchMode``, the recorder's among them, and the optimizers' methods) asks it for
``disable(fn)``, and each optimizer step calls ``graph_break()``. Importing the real package for that
took the fork server's warm-up 1.2 s instead of 0.4 s (the compiler's own modules; SymPy, which autograd
needs too, is still loaded), paid again by every grading run and every Gradescope container. Outside
``torch.compile`` both calls are no-ops: a function with compilation disabled is the function, and
there is no graph to break.

``install()`` puts a stand-in module under that name which answers those two itself and, for anything
else (``torch.compile``, a submodule such as ``torch._dynamo.config``), imports the real package, puts it
in place and answers from it: code that needs the compiler gets it, at the old price, once per session.
(``torch.compile`` fails in the sandbox either way: its cache folder is outside the session's scratch.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import torch

NAME = "torch._dynamo"


class _StandIn(types.ModuleType):
    """The stand-in's state: the real module, once something asked for more than the two calls."""

    real: types.ModuleType | None = None


def install() -> bool:
    """Put the stand-in in place unless the real module is loaded already (or this PyTorch has none);
    returns whether it did."""
    if NAME in sys.modules:
        return False
    spec = importlib.util.find_spec(NAME)  # finds the package without running it: torch is loaded
    if spec is None:
        return False
    stand_in = _StandIn(NAME, __doc__)
    stand_in.__spec__, stand_in.__file__ = spec, spec.origin
    stand_in.__package__ = NAME

    def disable(fn=None, *args, **kwargs):  # (fn, recursive, *, reason, wrapping), as PyTorch calls it
        if stand_in.real is not None:  # passed on as given: older releases take fewer keywords
            return stand_in.real.disable(fn, *args, **kwargs)
        if fn is None:  # used as @disable(recursive=...)
            return lambda function: function
        return fn

    def graph_break(*args, **kwargs) -> None:
        if stand_in.real is not None:
            stand_in.real.graph_break(*args, **kwargs)

    def __getattr__(name: str):
        # Code that looks over every module (``__file__``, ``__loader__``, …) must not pay for the import,
        # nor see sys.modules change under it. Importing a submodule asks for ``__path__``, and
        # ``import *`` for ``__all__``: those need the real package.
        if name.startswith("__") and name.endswith("__") and name not in ("__path__", "__all__"):
            raise AttributeError(f"module {NAME!r} has no attribute {name!r}")
        return getattr(_real(stand_in), name)

    stand_in.disable, stand_in.graph_break, stand_in.__getattr__ = disable, graph_break, __getattr__
    sys.modules[NAME] = stand_in
    torch._dynamo = stand_in
    return True


def _real(stand_in: _StandIn) -> types.ModuleType:
    if stand_in.real is None:
        if sys.modules.get(NAME) is stand_in:
            del sys.modules[NAME]
        if torch.__dict__.get("_dynamo") is stand_in:
            del torch._dynamo
        stand_in.real = importlib.import_module(NAME)  # sets torch._dynamo to it, as any first import does
    return stand_in.real
