"""Starting the sandbox's fork server (the zygote) without importing PyTorch in this process.

The zygote spends ~2 s importing PyTorch and warming up. ``launch`` only starts its process, so the
grader can import PyTorch and the checks at the same time on another core; ``runner._Zygote`` then
waits for the zygote's hello when the first session needs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.harness.gpu import GPU_ENVIRONMENT
from grader.sandbox.scratch_folders import LockedFolder, sweep

# What runs beside the learner's code, and nothing else: the folder grader/sandbox/harness/. The zygote
# imports it from a copy in its own folder, so neither its package path nor its modules' file names
# lead back to the repository.
HARNESS_DIR = Path(__file__).resolve().parent / "harness"

# Imports nothing but the harness, as the package "sandbox_harness": grader/__init__.py may import
# the checks, and whatever the zygote holds in memory the learner's code can read.
ZYGOTE_BOOTSTRAP = """\
import sys, types
harness = types.ModuleType("sandbox_harness")
harness.__path__ = [sys.argv[1]]
sys.modules["sandbox_harness"] = harness
from sandbox_harness.child import serve_zygote
serve_zygote(int(sys.argv[2]))
"""


@dataclass
class Launched:
    """A zygote process that may still be importing: its control socket, when it was started, and its
    folder."""

    process: subprocess.Popen
    control: socket.socket
    started: float
    folder: LockedFolder

    @property
    def workdir(self) -> Path:
        return self.folder.path

    def close(self) -> None:
        self.control.close()
        self.process.kill()
        self.process.wait()

    def discard(self) -> None:
        """Close it and remove its folder: for a zygote that no ``Runner`` adopted."""
        self.close()
        self.folder.remove()


def make_workdir(parent: Path | None = None) -> LockedFolder:
    """A fresh folder for the zygote and the sessions' scratch copies; first, sweep what dead runs left."""
    sweep(parent)
    return LockedFolder("grader-sandbox-", parent, mode=0o711)  # sandbox users traverse it to their scratch


def launch(folder: LockedFolder) -> Launched:
    """Start ``python -I`` on the zygote bootstrap in ``workdir``, with a bare environment; do not wait.

    Bare but for ``gpu.GPU_ENVIRONMENT``: the loader reads LD_LIBRARY_PATH once, at start-up, and
    only a GPU session keeps them (the CPU sessions clear their environment).
    """
    workdir = folder.path
    harness = _copy_harness(workdir)
    control, child_end = socket.socketpair()
    environment = {
        "PATH": os.defpath,
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **{name: os.environ[name] for name in GPU_ENVIRONMENT if name in os.environ},
    }
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", ZYGOTE_BOOTSTRAP, str(harness), str(child_end.fileno())],
            pass_fds=[child_end.fileno()],
            env=environment,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
    except BaseException:
        control.close()
        raise
    finally:
        child_end.close()
    return Launched(process, control, started, folder)


def _copy_harness(workdir: Path) -> Path:
    harness = workdir / "harness"
    harness.mkdir(mode=0o700, exist_ok=True)
    for module in HARNESS_DIR.glob("*.py"):
        shutil.copyfile(module, harness / module.name)
    return harness


def launch_in_new_workdir() -> Launched:
    """``launch`` in a fresh ``make_workdir`` folder, for a ``Runner`` to adopt later."""
    folder = make_workdir()
    try:
        return launch(folder)
    except BaseException:
        folder.remove()
        raise
