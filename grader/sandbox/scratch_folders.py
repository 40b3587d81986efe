"""The grader's temporary folders: each held by a lock while its run lives, swept once its run is gone.

A grading run unpacks learner code and gives each sandbox a scratch copy under the system's temporary
folder. A run that ends normally, raises, or is stopped by SIGINT, SIGTERM or SIGHUP removes them
(``python -m grader`` turns those signals into an orderly exit). A run killed outright (SIGKILL, a
crash, a power cut) cannot, so every run first sweeps what earlier ones left: folders with one of
our prefixes, owned by this user, whose lock no live process holds and that are older than a minute
(a folder younger than that may belong to a run that has not taken its lock yet).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIXES = ("grader-sandbox-", "grader-unpacked-", "gradescope-")
LOCK_FILE = ".grader-lock"
MIN_AGE_S = 60.0


class LockedFolder:
    """A fresh temporary folder whose lock this process holds until ``remove()`` (or exit)."""

    def __init__(self, prefix: str, parent: Path | None = None, mode: int = 0o700):
        if not prefix.startswith(PREFIXES):
            raise ValueError(f"{prefix!r}: a grader folder's prefix is one of {PREFIXES}")
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self.path.chmod(mode)
        self._lock = os.open(self.path / LOCK_FILE, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def remove(self) -> None:
        """Delete the folder and everything in it, then let go of the lock. Safe to call twice."""
        if self._lock < 0:
            return
        for _ in range(3):  # a worker still finishing may add a file while the tree is being removed
            shutil.rmtree(self.path, ignore_errors=True)
            if not self.path.exists():
                break
        os.close(self._lock)
        self._lock = -1


def sweep(parent: Path | None = None, *, now: float | None = None) -> list[Path]:
    """Remove the folders that dead runs of this user left in ``parent`` (the temp folder); returns them."""
    parent = Path(parent or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(PREFIXES) and _is_stale(entry, now):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _is_stale(entry: os.DirEntry, now: float) -> bool:
    try:
        info = entry.stat(follow_symlinks=False)
        if (
            not entry.is_dir(follow_symlinks=False)
            or info.st_uid != os.geteuid()
            or now - info.st_mtime < MIN_AGE_S
        ):
            return False
        lock = os.open(Path(entry.path) / LOCK_FILE, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return (
            True  # a folder of ours without a lock: from a run older than the locks, or cut short making it
        )
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its run is alive
    finally:
        os.close(lock)
    return True
