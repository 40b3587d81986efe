"""Which of a submission's files a sandbox gets, read as bytes: its top-level modules, within a size bound.

Kept apart from the runner so that a cluster's driver reads a submission without importing PyTorch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SKIPPED_FILES = {"conftest.py", "sitecustomize.py", "usercustomize.py", "__init__.py"}
MAX_SUBMISSION_BYTES = 5 * 2**20


class SubmissionError(ValueError):
    """The submission folder cannot be copied into a sandbox (too large, unreadable)."""


def read_modules(source: Path, *, refuse_too_large: bool = True) -> dict[str, bytes]:
    """The top-level ``*.py`` regular files of ``source`` a sandbox gets, by name, never following a link.
    Past ``MAX_SUBMISSION_BYTES`` in all (read one byte past it): raises ``SubmissionError``, or with
    ``refuse_too_large=False`` returns what was read (a cluster's worker refuses it, in the same words)."""
    modules, total = {}, 0
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        name = entry.name
        if (
            not name.endswith(".py")
            or not name[:-3].isidentifier()
            or name in SKIPPED_FILES
            or name.startswith("test_")
            or not entry.is_file(follow_symlinks=False)
        ):
            continue
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            data = file.read(MAX_SUBMISSION_BYTES + 1 - total)
        total += len(data)
        modules[name] = data
        if total > MAX_SUBMISSION_BYTES:
            if not refuse_too_large:
                break
            raise SubmissionError(  # no path: the learner reads this, and a cluster's copy lives elsewhere
                f"its Python files hold more than {MAX_SUBMISSION_BYTES // 2**20} MB in all"
            )
    return modules
