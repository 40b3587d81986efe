"""Running a command as an ordinary user from a test that runs as root, as most instructors would run it.

The command runs with the given uid, gid and supplementary groups (an instructor in the docker group,
say), no capabilities, in a mount namespace of its own where the folders on the interpreter's path
that other users cannot cross (``/root``, 0700, on machines whose Python lives there) are covered by
an empty tmpfs with the interpreter bound back: that user can start Python and nothing else changes.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

from grader.sandbox.harness import confine

NOBODY = 65534
MS_REC, MS_PRIVATE, MS_BIND = 1 << 14, 1 << 18, 1 << 12


def can_switch_user() -> bool:
    return confine.IS_LINUX and os.geteuid() == 0


def run_as(
    command: list[str], *, uid: int, gid: int, groups: list[int], env: dict, cwd: Path, timeout: float
) -> subprocess.CompletedProcess:
    interpreter = Path(sys.base_prefix).resolve()

    def become_the_user() -> None:  # runs in the child, between fork and exec
        libc = ctypes.CDLL(None, use_errno=True)
        if (
            libc.unshare(confine.CLONE_NEWNS) != 0
            or libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0
        ):
            raise OSError(ctypes.get_errno(), "cannot make a mount namespace")
        for closed in confine.closed_to_others([interpreter]):
            handle = os.open(interpreter, os.O_PATH)
            if libc.mount(b"tmpfs", bytes(closed), b"tmpfs", 0, b"mode=0755") != 0:
                raise OSError(ctypes.get_errno(), f"cannot cover {closed}")
            os.makedirs(interpreter, exist_ok=True)
            if libc.mount(f"/proc/self/fd/{handle}".encode(), bytes(interpreter), None, MS_BIND, None) != 0:
                raise OSError(ctypes.get_errno(), f"cannot bind {interpreter}")
            os.close(handle)
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)

    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        preexec_fn=become_the_user,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
