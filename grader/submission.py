"""Finding submissions: one folder (modules directly or under ``exercises/``), a ``.zip`` of one, or a folder of them.

Nothing here runs learner code. Zips are read member by member and only the learner's ``.py`` files
are written, into a scratch folder, after checking each name (no absolute paths, no ``..``, no
links) and bounding sizes and counts, so an archive can neither escape the scratch folder nor fill
the disk. Links in folders are never followed. A submission that cannot be read still becomes a
``Submission`` with its ``problems`` said plainly, so it gets a row in the gradebook.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.contract import EXERCISES

MODULE_FILES = tuple(exercise.filename for exercise in EXERCISES)
MAX_MEMBERS = 2000  # entries read from one zip
MAX_PY_BYTES = 1 << 20  # one learner module, uncompressed
MAX_TOTAL_BYTES = 8 << 20  # all modules of one zip, uncompressed
MAX_DEPTH = 4  # folders searched below the submission's root for the modules


class UsageError(ValueError):
    """PATH cannot be graded at all (missing, or holding nothing that looks like a submission)."""


@dataclass
class Submission:
    """One learner's entry. ``folder`` holds the exercise modules (``None`` when none were found)."""

    name: str
    source: Path
    folder: Path | None = None
    problems: list[str] = field(default_factory=list)

    def has_module(self, filename: str) -> bool:
        return self.folder is not None and _is_regular(self.folder / filename)


def discover(path: Path, scratch: Path) -> list[Submission]:
    """The submissions at ``path``: one (folder or zip of modules) or every entry of a class folder."""
    path = Path(path)
    if path.is_symlink() or not path.exists():
        raise UsageError(f"PATH {path} does not exist (or is a link, which is never followed)")
    from grader.nbgrader_adapter import discover_nbgrader, looks_like_nbgrader  # here: the adapter imports this module

    if looks_like_nbgrader(path):  # a .ipynb, nbgrader's submitted/ folder, or a course folder holding one
        return discover_nbgrader(path, scratch, assignment=None)
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise UsageError(f"PATH {path} is a file but not a .zip: expected a folder or a .zip of a submission")
        return [from_zip(path, scratch / "0")]
    # PATH is one submission only when the modules sit in it or its exercises/; a lone nested
    # folder (an LMS export) is looked through for class entries, never for PATH itself.
    if any(_is_regular(folder / name) for folder in (path, path / "exercises") for name in MODULE_FILES):
        return [from_folder(path)]
    entries = sorted(entry for entry in path.iterdir() if not entry.name.startswith("."))
    if not entries:
        raise UsageError(
            f"PATH {path} holds no submissions: expected folders or .zip files containing "
            f"{', '.join(MODULE_FILES[:2])} ... {MODULE_FILES[-1]}, directly or under exercises/"
        )
    submissions = []
    for index, entry in enumerate(entries):
        if entry.is_symlink():
            submissions.append(Submission(_name(entry), entry, problems=["is a symbolic link, which is never followed"]))
        elif entry.is_dir():
            submissions.append(from_folder(entry))
        elif entry.suffix.lower() == ".zip":
            submissions.append(from_zip(entry, scratch / str(index)))
        else:
            submissions.append(Submission(_name(entry), entry, problems=["is neither a folder nor a .zip file"]))
    return submissions


def from_folder(folder: Path) -> Submission:
    submission = Submission(_name(folder), folder)
    submission.folder = find_modules(folder)
    if submission.folder is None:
        submission.problems.append(
            f"holds none of {', '.join(MODULE_FILES)} (looked in the folder, exercises/ and one nested folder)"
        )
    return submission


def from_zip(archive: Path, scratch: Path) -> Submission:
    submission = Submission(_name(archive), archive)
    try:
        extract_modules(archive, scratch)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
        submission.problems.append(f"could not be read as a zip: {error}")
        return submission
    submission.folder = find_modules(scratch)
    if submission.folder is None:
        submission.problems.append(f"the zip holds none of {', '.join(MODULE_FILES)}")
    return submission


def find_modules(folder: Path, depth: int = 0) -> Path | None:
    """The folder holding the exercise modules: ``folder``, its ``exercises/``, or a lone nested folder."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    if any(_is_regular(folder / name) for name in MODULE_FILES):
        return folder
    exercises = folder / "exercises"
    if any(_is_regular(exercises / name) for name in MODULE_FILES):
        return exercises
    if depth >= MAX_DEPTH:
        return None
    children = [c for c in folder.iterdir() if c.is_dir() and not c.is_symlink() and not c.name.startswith((".", "__"))]
    return find_modules(children[0], depth + 1) if len(children) == 1 else None


def extract_modules(archive: Path, target: Path) -> None:
    """Write the zip's ``.py`` files under ``target``, refusing unsafe names, links and oversized content."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > MAX_MEMBERS:
            raise ValueError(f"it has {len(members)} entries (limit {MAX_MEMBERS})")
        for member in members:
            if member.is_dir() or not member.filename.endswith(".py"):
                continue
            relative = safe_member_path(member)
            if member.file_size > MAX_PY_BYTES:
                raise ValueError(f"{member.filename} is {member.file_size} bytes (limit {MAX_PY_BYTES})")
            total += member.file_size
            if total > MAX_TOTAL_BYTES:
                raise ValueError(f"its .py files add up to more than {MAX_TOTAL_BYTES} bytes")
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source:
                data = source.read(MAX_PY_BYTES + 1)  # the header's size can lie: bound what is read
            if len(data) > MAX_PY_BYTES:
                raise ValueError(f"{member.filename} unpacks to more than {MAX_PY_BYTES} bytes")
            destination.write_bytes(data)


def safe_member_path(member: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or ``ValueError`` for absolute paths, ``..`` and links."""
    name = member.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"entry {member.filename!r} has an absolute path")
    if any(part == ".." for part in path.parts):
        raise ValueError(f"entry {member.filename!r} points outside the archive (..)")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise ValueError(f"entry {member.filename!r} is a symbolic link")
    return PurePosixPath(*[part for part in path.parts if part not in ("", ".")])


def _is_regular(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()


def _name(entry: Path) -> str:
    name = entry.name[: -len(".zip")] if entry.name.lower().endswith(".zip") else entry.name
    return name.encode("utf-8", "replace").decode("utf-8") or "submission"
