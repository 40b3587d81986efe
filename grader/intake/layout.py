"""What PATH is — one submission, a class folder, or nbgrader's collected work — and the submissions in it.

The layout is decided from the whole of PATH, never from one entry, and printed with its reason
before anything is graded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.exits import UsageError
from grader.intake.nbgrader import discover_nbgrader, nbgrader_layout
from grader.intake.submission import MODULE_FILES, Submission, is_regular, read_entry
from grader.names import entry_name, unique_names

ONE_SUBMISSION, CLASS, NBGRADER = "one submission", "class folder", "nbgrader"


@dataclass(frozen=True)
class Layout:
    """What PATH is (``ONE_SUBMISSION``, ``CLASS`` or ``NBGRADER``) and why, in words for the instructor."""

    kind: str
    why: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.why}"


def detect_layout(path: Path) -> Layout:
    """What ``path`` is, decided from the whole of it; ``UsageError`` when PATH cannot be read.

    nbgrader's collected work only as ``grader.intake.nbgrader.nbgrader_layout`` decides (PATH itself
    is nbgrader's ``submitted/`` or a course folder); one submission when PATH is a zip, or holds the
    modules itself or in its ``exercises/``; else a class folder, each entry one learner.
    """
    try:
        return _layout_of(Path(path))
    except OSError as error:  # the instructor's PATH, not a learner's entry: say so and stop
        raise UsageError(f"PATH {path} cannot be read: {error.strerror or error}") from None


def _layout_of(path: Path) -> Layout:
    if path.is_symlink() or not path.exists():
        raise UsageError(f"PATH {path} does not exist (or is a link, which is never followed)")
    is_nbgrader, why = nbgrader_layout(path)
    if is_nbgrader:
        return Layout(NBGRADER, why)
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise UsageError(
                f"PATH {path} is a file but not a .zip: expected a folder or a .zip of a submission"
            )
        return Layout(ONE_SUBMISSION, "PATH is a .zip")
    # PATH is one submission only when the modules sit in it or its exercises/; a lone nested
    # folder (an LMS export) is looked through for class entries, never for PATH itself.
    for folder, where in ((path, "PATH itself"), (path / "exercises", "PATH's exercises/")):
        held = [name for name in MODULE_FILES if is_regular(folder / name)]
        if held:
            return Layout(ONE_SUBMISSION, f"{where} holds {', '.join(held)}")
    because = "each folder or .zip in PATH is one learner's submission"
    return Layout(CLASS, f"{because} ({why})" if why else because)


def discover(path: Path, scratch: Path, layout: Layout | None = None) -> list[Submission]:
    """The submissions at ``path``: one (folder or zip of modules), every entry of a class folder, or
    nbgrader's."""
    path = Path(path)
    layout = layout or detect_layout(path)
    if layout.kind == NBGRADER:
        return discover_nbgrader(path, scratch, assignment=None)
    if layout.kind == ONE_SUBMISSION:
        return [read_entry(path, entry_name(path), scratch / "0")]
    entries = sorted(entry for entry in path.iterdir() if not entry.name.startswith("."))
    if not entries:
        raise UsageError(
            f"PATH {path} holds no submissions: expected folders or .zip files containing "
            f"{', '.join(MODULE_FILES[:2])} ... {MODULE_FILES[-1]}, directly or under exercises/"
        )
    names = unique_names(entries)
    return [read_entry(entry, name, scratch / str(n)) for n, (entry, name) in enumerate(zip(entries, names))]
