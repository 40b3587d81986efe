"""Whether this grading run has a GPU for the device checks, found once per run without touching CUDA here.

SPEC: results stay on the input's device, CPU and CUDA. The checks that prove it on a CUDA device
(``@check(points=0, on_device=True)``, one per exercise from 2 to 7) carry no points, so a grade
never depends on the machine that gave it; they run when the grading machine has a GPU the sandbox
can use, and are skipped, saying why, when it has none.

Finding out never initialises CUDA in the grader's process or its fork server (a process forked
after CUDA starts cannot use CUDA): NVIDIA's device files say whether to look further, and a GPU
session of its own then computes a small sum on the device. A GPU the sandbox cannot reach becomes
a reason in the feedback, not a failure of any learner.
"""

from __future__ import annotations

import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.harness.gpu import nvidia_device_files
from grader.settings import Limits

AUTO, OFF = "auto", "off"
CHOICES = (AUTO, OFF)


@dataclass(frozen=True)
class Accelerator:
    """device: the torch device the device checks use ("cuda"), or None when they are skipped.

    detail: what was found ("NVIDIA H100 80GB HBM3, 1 device") or why the checks are skipped.
    """

    device: str | None
    detail: str

    @property
    def gpu(self) -> bool:
        """Whether the device checks' sessions need the GPU grants."""
        return self.device is not None and self.device.startswith("cuda")


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def accelerator_for(runner, choice: str = AUTO, limits=None) -> Accelerator:
    """The accelerator of ``runner``'s run, probed on first use (every thread waits for that one probe).

    choice: ``"auto"`` (CUDA when the machine has a GPU the sandbox can use), ``"off"``, or a torch
    device name to run the device checks on regardless (the tests use ``"cpu"`` to exercise them).
    limits: the probe's session limits: those the device checks will run under (a GPU session's).
    """
    with _LOCK:
        found = _FOUND.setdefault(runner, {})
        if choice not in found:
            found[choice] = _find(runner, choice, limits)
        return found[choice]


def _find(runner, choice: str, limits) -> Accelerator:
    if choice == OFF:
        return Accelerator(None, "the device checks are turned off for this run (--cuda off)")
    if choice != AUTO:
        return Accelerator(choice, f"device checks run on {choice!r}, as this run was asked to")
    if not nvidia_device_files():
        return Accelerator(None, "the grading machine has no CUDA device")
    return probe(runner, "cuda", limits)


def probe(runner, device: str, limits=None) -> Accelerator:
    """Compute a small sum on ``device`` in a session of its own; say what was found or what went wrong."""
    if limits is None:
        limits = Limits(gpu=device.startswith("cuda"))
    with tempfile.TemporaryDirectory(prefix="probe-") as empty:
        try:
            with runner.open_session(Path(empty), limits=limits) as session:
                outcome = session.call("probe_device", {"device": device})
        except Exception as error:  # noqa: BLE001 - a sandbox that cannot start on the GPU must not stop the grading
            return Accelerator(None, f"a CUDA device is present, but a GPU sandbox could not start ({error})")
    if not outcome.ok:
        return Accelerator(
            None, f"a CUDA device is present, but the sandbox cannot use it: {outcome.error.describe()}"
        )
    found = outcome.value.get("result") if isinstance(outcome.value, dict) else None
    if not isinstance(found, dict) or found.get("sum") != 6.0:
        return Accelerator(None, f"a CUDA device is present, but a sum on it came out wrong ({found!r})")
    count = found.get("count", 1)
    return Accelerator(device, f"{found.get('name')}, {count} device{'s' if count != 1 else ''}")
