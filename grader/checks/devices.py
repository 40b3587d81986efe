"""What the device checks share: where the results were, and the hints for tensors left on the CPU.

SPEC: results stay on the input's device (CPU and CUDA), and a mask may live on another device than
the tensors. The sandbox reports each result's device before the results travel back (on the CPU,
like everything on the wire); the values are then compared here with the reference on the CPU, in
float64, where a GPU's other summation order is far inside the tolerance.
"""

from __future__ import annotations

from grader.checks.compare import Hint, fail

NEW_TENSOR_HINT = (
    "A tensor made inside your code (torch.ones, torch.arange, torch.tril, torch.zeros …) lives on the CPU "
    "unless you pass device=x.device; results must stay on the input's device."
)
MASK_DEVICE_HINT = "A mask may live on another device than q: move it first, mask.to(scores.device)."


def expect_on_device(
    call, device: str, what: str, part: str = "result", hint: Hint = NEW_TENSOR_HINT
) -> None:
    """Every tensor in ``call``'s ``part`` ("result" or "grads") was on ``device``'s type ("cuda" matches
    "cuda:0")."""
    devices = call.devices.get(part)
    if not isinstance(devices, list) or not devices:
        fail(f"{what}: the sandbox did not say where the {part} were; was the grader's harness altered?")
    wanted = device.split(":")[0]
    for index, found in enumerate(devices):
        if not isinstance(found, str) or found.split(":")[0] != wanted:
            which = f" (tensor {index + 1} of {len(devices)})" if len(devices) > 1 else ""
            fail(f"{what}: device: expected {device}, got {found}{which}", hint)


def location(learner) -> str:
    """ "on cuda" for a case description."""
    return f"on {learner.device}"
