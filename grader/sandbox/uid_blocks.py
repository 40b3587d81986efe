"""Which unused uids a grading run's sessions get, so that two runs on one machine never share one.

RLIMIT_NPROC counts every process of a uid, machine-wide: a session's process limit holds only if no
other process has its uid. Within a run, each worker slot has its own uid; between runs (two courses
graded at once, or the kit's own tests on every core) each run claims a block of ``BLOCK_SIZE`` uids
by holding an exclusive lock on that block's file for as long as it lives. The kernel drops the lock
when the run's process ends, however it ends, so a killed run never keeps its block.

Only a grader running as root gives sessions real uids; an ordinary user's sessions map the user's
own uid inside their user namespace, and share that user's process count whatever their number.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from grader.sandbox.protections import SandboxError

FIRST_UID = 2_000_000_000  # far above any real account
BLOCK_SIZE = 1_000  # sessions one run may have open at once (its worker slots, and a probe)
BLOCKS = 100  # runs graded at once on one machine
# One place per machine, whatever TMPDIR a run has (two runs with two lock folders could share a block),
# and outside the temporary folder, whose grader-sandbox-* folders dead runs leave are swept.
LOCKS = Path("/run/grader-uid-blocks") if Path("/run").is_dir() else Path("/var/tmp/grader-uid-blocks")


class UidBlock:
    """A run's uids: ``FIRST_UID + number * BLOCK_SIZE`` onwards, its own until ``release``."""

    def __init__(self, number: int, lock_fd: int | None):
        self.number = number
        self.base = FIRST_UID + number * BLOCK_SIZE
        self._lock_fd = lock_fd

    def uid(self, slot: int) -> int:
        if not 0 <= slot < BLOCK_SIZE:
            raise ValueError(f"slot {slot} is outside this run's {BLOCK_SIZE} uids")
        return self.base + slot

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def claim(locks: Path = LOCKS) -> UidBlock:
    """The first block no live run holds (block 0, without locking, when not root: see above)."""
    if os.geteuid() != 0:
        return UidBlock(0, None)
    _private_folder(locks)
    for number in range(BLOCKS):
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(locks / f"block-{number}.lock", flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidBlock(number, fd)
    raise SandboxError(f"all {BLOCKS} blocks of sandbox uids are held by live grading runs ({locks})")


def _private_folder(path: Path) -> None:
    """``path`` as a folder only this user can write: in a shared temp folder, anyone could make it first."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxError(f"{path} is not a folder of this user's alone; remove it and grade again")
