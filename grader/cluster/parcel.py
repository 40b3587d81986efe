"""One submission as a cluster task carries it: plain data in, the same ``Submission`` out on a worker.

The driver reads the module files exactly as a sandbox would be given them (``module_files.read_modules``:
top-level ``.py`` regular files, links never followed, at most one byte past the size limit), so a
worker grades the bytes the single-machine run would have graded, and refuses an oversized submission
in the same words. Nothing else of the driver's disk travels: not the class folder's path, not the
learner's other files.
"""

from __future__ import annotations

from pathlib import Path

from grader.intake.submission import Submission
from grader.sandbox.module_files import read_modules


def pack(submission: Submission) -> dict:
    """``submission`` as plain data: its name, where it came from (a file name, for notes), its problems,
    and its modules' bytes (``None`` when no modules were found)."""
    modules = None
    if submission.folder is not None:
        modules = read_modules(submission.folder, refuse_too_large=False)
    return {
        "name": submission.name,
        "source_name": submission.source.name,
        "problems": list(submission.problems),
        "modules": modules,
    }


def unpack(parcel: dict, folder: Path) -> Submission:
    """The submission of ``parcel``, its modules written into the empty ``folder``."""
    modules = parcel["modules"]
    if modules is not None:
        for name, data in modules.items():
            if Path(name).name != name or not name.endswith(".py") or not name[:-3].isidentifier():
                raise ValueError(f"a parcel's module name is not a module file name: {name!r}")
            (folder / name).write_bytes(data)
    return Submission(
        name=parcel["name"],
        source=Path(parcel["source_name"]),
        folder=folder if modules is not None else None,
        problems=list(parcel["problems"]),
    )
