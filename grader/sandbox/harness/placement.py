"""Where a task's tensors and model live (the payload's ``device``), and what their random draws start from.

A device session moves every input tensor to its device (except those the check keeps on the CPU) and
says where each result was before the wire brought it back; a CPU session's payload is left as it is.
"""

from __future__ import annotations

import torch
from torch import nn


def on_device(payload: dict) -> dict:
    """The payload with every tensor on ``payload["device"]``, except those at ``payload["stay_on_cpu"]``.

    A path names one place in the payload, dot-separated: ``"kwargs.mask"`` or ``"calls.0.args.1"``
    (SPEC: a mask may live on another device than the tensors, so the checks leave some masks behind).
    Without a device the payload is unchanged: the CPU checks never pay for this.
    """
    device = payload.get("device")
    if device is None:
        return payload
    stay = set(payload.get("stay_on_cpu") or [])

    def place(value, path: str):
        if path in stay:
            return value
        if isinstance(value, torch.Tensor):
            return value.to(device)
        if isinstance(value, (list, tuple)):
            placed = [place(item, f"{path}.{index}") for index, item in enumerate(value)]
            return tuple(placed) if isinstance(value, tuple) else placed
        if isinstance(value, dict):
            return {key: place(item, f"{path}.{key}") for key, item in value.items()}
        return value

    return {key: value if key == "state" else place(value, key) for key, value in payload.items()}


def devices_of(value) -> list[str]:
    """The device of every tensor in ``value``, in ``tensors_of`` order (the wire brings them all back on the
    CPU)."""
    return [str(tensor.device) for tensor in tensors_of(value)]


def tensors_of(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [tensor for item in value for tensor in tensors_of(item)]
    return []


def model_on_device(model: nn.Module, payload: dict) -> nn.Module:
    """``model`` on the payload's device (unchanged without one)."""
    return model if payload.get("device") is None else model.to(payload["device"])


def seed_for(payload: dict) -> None:
    """Seed what a model's weights are drawn from (and, in a device session, its dropout's masks).

    On the CPU, the CPU generator alone: ``torch.manual_seed`` also queues a seed for CUDA, XPU and MTIA
    (in case they start later), each formatting the caller's stack: about 1.3 ms a model, some 80 models
    a submission. A CPU session cannot start a device, so nothing would ever read those seeds.
    """
    seed = int(payload.get("seed", 0))
    if payload.get("device") is None:
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)
