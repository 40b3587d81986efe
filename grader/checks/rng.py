"""PyTorch's global random generator, one thread at a time, in the grader's own process.

Module constructors draw their initial weights from the global generator, which every thread shares,
and the grading workers build reference modules and oracles at the same moments. Every construction
in the grader's process goes through ``global_rng``: seeded, it gives the same weights whatever the
other workers do; unseeded, it leaves the generator as it found it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_LOCK = threading.RLock()


@contextmanager
def global_rng(seed: int | None = None) -> Iterator[None]:
    """Hold the global generator for this thread (seeded with ``seed`` if given); restore it afterwards."""
    with _LOCK, torch.random.fork_rng(devices=[]):
        if seed is not None:
            # The CPU generator only: torch.manual_seed also queues a seed for CUDA, XPU and MTIA, each
            # formatting the caller's stack (~0.5 ms a call), and the grader's references live on the CPU.
            torch.default_generator.manual_seed(seed)
        yield
