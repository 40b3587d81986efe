"""Finding submissions: one folder (modules directly or under ``exercises/``), a ``.zip`` of one, or a folder
of them.

Nothing here runs learner code. Zips are read member by member and only the learner's ``.py`` files
are written, into a scratch folder, after checking each name (no absolute paths, no ``..``, no
links) and bounding sizes and counts, so an archive can neither escape the scratch folder nor fill
the disk. Links in folders are never followed. A submission that cannot be read still becomes a
``Submission`` with its ``problems`` said plainly, so it gets a row in the gradebook: whatever reading
one entry raises (``RecursionError``, ``MemoryError``, an encrypted or corrupt zip...) is confined to
that entry's submission.

What PATH is — one submission, a class folder, nbgrader's collected work — is decided from the
whole of it, never from one entry's name (``detect_layout``), and said with its reason. Each entry of
a class gets a name of its own (``grader.names``).
"""

from __future__ import annotations

import itertools
import stat
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.contract import EXERCISES
from grader.intake import confined
from grader.names import entry_name
from grader.results import Identity

MODULE_FILES = tuple(exercise.filename for exercise in EXERCISES)
MAX_MEMBERS = 2000  # entries read from one zip
MAX_PY_BYTES = 1 << 20  # one learner module, uncompressed
MAX_TOTAL_BYTES = 8 << 20  # all modules of one zip, uncompressed
SHOWN_NAMES = 5  # names listed in one message
SHOWN_LISTING = 50  # entries of a folder looked at to say what it holds
MAX_DEPTH = 4  # folders searched below the submission's root for the modules
# zipfile parses the whole central directory before anyone can count its entries: 300 000 empty
# entries (a 24 MB zip) take 3 s and 300 MB. Its size is read from the end record and bounded first.
MAX_CENTRAL_DIRECTORY_BYTES = 4 << 20
END_RECORD = struct.Struct("<4s4H2LH")  # zip's end of central directory: signature ... size, offset, comment
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")


@dataclass
class Submission:
    """One learner's entry. ``folder`` holds the exercise modules (``None`` when none were found).

    ``problems``: why it cannot be graded in full (they cost points). ``notes``: what the intake did that
    the learner should know and that costs nothing ("graded softmax-2.py, the latest of 2 uploads").
    ``identity``: who the learner is as their LMS knows them (empty for a plain folder).
    """

    name: str
    source: Path
    folder: Path | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    identity: Identity = field(default_factory=Identity)

    def has_module(self, filename: str) -> bool:
        return self.folder is not None and is_regular(self.folder / filename)


def read_entry(entry: Path, name: str, scratch: Path) -> Submission:
    """One entry as a ``Submission`` named ``name``; what reading it raises is its problem, not the run's."""
    try:
        if entry.is_symlink():
            return Submission(name, entry, problems=["is a symbolic link, which is never followed"])
        if entry.is_dir():
            return from_folder(entry, name, scratch)
        if entry.name.lower().endswith(".zip"):
            return from_zip(entry, scratch, name)
        return Submission(name, entry, problems=["is neither a folder nor a .zip file"])
    except Exception as error:  # noqa: BLE001 - one entry never stops the class
        problem = confined.note(f"could not be read: {confined.describe(error)}")
        return Submission(name, entry, problems=[problem])


def from_folder(folder: Path, name: str | None = None, scratch: Path | None = None) -> Submission:
    """The modules in ``folder`` (itself, its ``exercises/`` or a lone nested folder); failing that, in
    the one ``.zip`` it holds (an LMS keeps a learner's uploaded zip inside their folder), unpacked
    under ``scratch``."""
    submission = Submission(name or entry_name(folder), folder)
    submission.folder = find_modules(folder)
    if submission.folder is not None:
        return submission
    zips = [entry for entry in _listing(folder) if entry.name.lower().endswith(".zip") and is_regular(entry)]
    if len(zips) == 1 and scratch is not None:
        inner = from_zip(zips[0], scratch, submission.name)
        inner.source = folder
        inner.notes.append(f"graded the modules in your {zips[0].name}")
        return inner
    held = some_of([entry.name for entry in _listing(folder)]) or "nothing"
    if len(zips) > 1:
        submission.problems.append(
            f"holds none of {', '.join(MODULE_FILES)} itself, and {len(zips)} zips "
            f"({some_of([z.name for z in zips])}): which one to grade? Hand in one"
        )
    else:
        submission.problems.append(
            f"holds none of {', '.join(MODULE_FILES)} (looked in the folder, exercises/ and one nested "
            f"folder); it holds: {held}"
        )
    return submission


def from_files(name: str, source: Path, files: dict[str, Path], target: Path) -> Submission:
    """A submission made of loose files an export keeps apart (``{module file name: its file}``): each is
    copied, bounded, under ``target`` with the module's name."""
    submission = Submission(name, source)
    target.mkdir(parents=True, exist_ok=True)
    for module, path in files.items():
        if not is_regular(path):
            submission.problems.append(f"{path.name} is not a regular file (a link is never followed)")
            continue
        with path.open("rb") as handle:
            data = handle.read(MAX_PY_BYTES + 1)
        if len(data) > MAX_PY_BYTES:
            submission.problems.append(f"{path.name} is more than {MAX_PY_BYTES} bytes (limit)")
            continue
        (target / module).write_bytes(data)
    submission.folder = target if any(is_regular(target / m) for m in files) else None
    return submission


def _listing(folder: Path) -> list[Path]:
    """The first entries of ``folder`` (a bounded look: a folder can hold a million)."""
    visible = (entry for entry in folder.iterdir() if not entry.name.startswith("."))
    return sorted(itertools.islice(visible, SHOWN_LISTING))


def some_of(names: Iterable[str], shown: int = SHOWN_NAMES) -> str:
    """``a, b, c, d, e and 3 more``: the first names of a list, for a message (names are learners' text:
    every writer makes them safe for its format)."""
    names = list(names)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def from_zip(archive: Path, scratch: Path, name: str | None = None) -> Submission:
    submission = Submission(name or entry_name(archive), archive)
    try:
        extract_modules(archive, scratch)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
        submission.problems.append(f"could not be read as a zip: {error}")
        return submission
    except Exception as error:  # noqa: BLE001 - encrypted (RuntimeError), corrupt deflate (zlib.error)...
        submission.problems.append(f"could not be read as a zip: {confined.describe(error)}")
        return submission
    submission.folder = find_modules(scratch)
    if submission.folder is None:
        held = _zip_listing(archive)
        submission.problems.append(f"the zip holds none of {', '.join(MODULE_FILES)}; it holds: {held}")
    return submission


def _zip_listing(archive: Path) -> str:
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = [member.filename for member in itertools.islice(bundle.infolist(), SHOWN_LISTING)]
    except Exception:  # noqa: BLE001 - only to say what it holds; it was read once already
        return "entries that cannot be listed"
    return some_of(names) or "nothing"


def find_modules(folder: Path, depth: int = 0) -> Path | None:
    """The folder holding the exercise modules: ``folder``, its ``exercises/``, or a lone nested folder."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    if any(is_regular(folder / name) for name in MODULE_FILES):
        return folder
    exercises = folder / "exercises"
    if any(is_regular(exercises / name) for name in MODULE_FILES):
        return exercises
    if depth >= MAX_DEPTH:
        return None
    children = (c for c in folder.iterdir() if not c.name.startswith((".", "__")))
    children = (c for c in children if c.is_dir() and not c.is_symlink())
    children = list(itertools.islice(children, 2))  # "a lone folder": no need to list a folder of a million
    return find_modules(children[0], depth + 1) if len(children) == 1 else None


def extract_modules(archive: Path, target: Path) -> None:
    """Write the zip's ``.py`` files under ``target``, refusing unsafe names, links and oversized content."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    directory = central_directory_bytes(archive)
    if directory > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ValueError(f"its table of contents is {directory} bytes (limit {MAX_CENTRAL_DIRECTORY_BYTES})")
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


def central_directory_bytes(archive: Path) -> int:
    """The size of the zip's central directory, as its end record says (0 where it has none: zipfile
    then refuses it as a zip). The record is found as zipfile finds it: the last one in the final 64 kB."""
    with archive.open("rb") as handle:
        size = handle.seek(0, 2)
        tail_start = max(0, size - END_RECORD.size - 0xFFFF)
        handle.seek(tail_start)
        tail = handle.read()
        at = len(tail) - END_RECORD.size  # no comment: the record ends the file
        if at < 0 or tail[at : at + 4] != b"PK\x05\x06" or END_RECORD.unpack_from(tail, at)[7] != 0:
            at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + END_RECORD.size > len(tail):
            return 0
        directory = END_RECORD.unpack_from(tail, at)[5]
        # zip64: zipfile reads the zip64 record just before its locator, just before the end record.
        record_at = tail_start + at - ZIP64_LOCATOR.size - ZIP64_END_RECORD.size
        if record_at >= 0:
            handle.seek(record_at)
            record = handle.read(ZIP64_END_RECORD.size + ZIP64_LOCATOR.size)
            if record[:4] == b"PK\x06\x06" and record[ZIP64_END_RECORD.size :][:4] == b"PK\x06\x07":
                directory = max(directory, ZIP64_END_RECORD.unpack_from(record)[8])
        return directory


def is_regular(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()
