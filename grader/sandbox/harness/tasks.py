"""What the sandbox can be asked to do with a learner's modules.

A task is a function ``(package, payload) -> value``: it receives decoded inputs, runs the
learner's code and returns what came out, to be sent back as-is. Tasks judge nothing and hold
no expected values: every comparison happens in the grader's own process. To add a task, write
the function and list it in ``TASKS``.
"""

import importlib
from collections.abc import Callable
from types import ModuleType

from .lesson_tasks import LESSON_TASKS, warm_up

__all__ = ["TASKS", "MissingPart", "Package", "call_unwatched", "import_earlier", "probe_device", "warm_up"]


class MissingPart(LookupError):
    """The submission lacks a module or a name that the grader asked for."""


class Package:
    """The learner's modules, imported on demand as ``<package_name>.<module>``."""

    def __init__(self, package_name: str):
        self.package_name = package_name

    def module(self, name: str) -> ModuleType:
        """The learner's module ``name`` (``"masking"``), imported once; MissingPart if there is none."""
        if not name.isidentifier():
            raise MissingPart(f"{name!r} is not a module name")
        full_name = f"{self.package_name}.{name}"
        try:
            return importlib.import_module(full_name)
        except ModuleNotFoundError as error:
            if error.name == full_name:
                raise MissingPart(f"{name}.py is missing from the submission") from None
            raise

    def attribute(self, module_name: str, name: str):
        """``module_name.name`` from the learner's code; MissingPart if the module does not define it."""
        module = self.module(module_name)
        try:
            return getattr(module, name)
        except AttributeError:
            raise MissingPart(f"{module_name}.py defines no {name}") from None

    def put_in_place(self, name: str) -> dict:
        """How the earlier module ``name`` was put in place for a later exercise (``submission_package``)."""
        raise MissingPart(f"{name}.py is no earlier module of this exercise")


def call_unwatched(package: Package, payload: dict) -> dict:
    """Call ``module.function(*args, **kwargs)`` and return ``{"result": what it returned}``.

    Nothing watches it: the lesson's own ``call`` task (``lesson_tasks``) also records forbidden
    built-ins and warnings. This one serves the sandbox's tests and benchmarks, on any module.
    """
    function = package.attribute(payload["module"], payload["function"])
    return {"result": function(*payload.get("args", []), **payload.get("kwargs", {}))}


def import_earlier(package: Package, payload: dict) -> dict:
    """Put the earlier modules in place through ``payload["module"]``, and say how that one was put.

    The grader asks for each earlier module of a later exercise in turn, each under a short limit of
    its own and before any check's call, so one that hangs or ends the process while importing costs
    only that limit; the grader then has the reference stand in for it whole in the sessions that
    follow. ``{"result": {"whole": bool, "why": str}}``.
    """
    return {"result": package.put_in_place(payload["module"])}


def probe_device(package: Package, payload: dict) -> dict:
    """Whether this sandbox can compute on ``payload["device"]``: a tiny sum there, and the device's name.

    It runs in a session of its own (a GPU session, for "cuda") before any learner's code needs the
    device, so a driver the sandbox cannot reach shows up as a reason, never as a learner's failure.
    """
    import torch

    device = torch.device(payload["device"])
    total = torch.arange(4.0, device=device).sum().item()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    count = torch.cuda.device_count() if device.type == "cuda" else 1
    return {"result": {"sum": total, "name": name, "count": count}}


TASKS: dict[str, Callable[[Package, dict], object]] = {
    "call_unwatched": call_unwatched,
    "import_earlier": import_earlier,
    "probe_device": probe_device,
    **LESSON_TASKS,
}
