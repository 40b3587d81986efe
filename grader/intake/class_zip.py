"""The one ``.zip`` an LMS hands out for a whole class: told apart from one learner's zip by its names,
and unpacked, bounded, so it can be read exactly as the same export unzipped.

A zip is one submission when the exercise modules are where ``find_modules`` would find them once
unpacked (at its top, under ``exercises/``, or down a lone folder); anything else is taken for a class
and unpacked under a scratch folder. Only what reading a class needs gets its bytes — learners' ``.py``
files, their zips and notebooks, Gradescope's metadata — each cut one byte past its own limit (so the
learner's row says it was too large); every other member becomes an empty file of the same name, so an
entry's name still tells whose it is and what it was. Unsafe names (absolute, ``..``, links) are
skipped, each said, and the whole is bounded in members, depth and bytes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from grader.intake import canvas, gradescope, moodle
from grader.intake.notebook_cells import MAX_NOTEBOOK_BYTES
from grader.intake.submission import (
    MAX_DEPTH,
    MAX_PY_BYTES,
    MODULE_FILES,
    central_directory_bytes,
    safe_member_path,
)

MAX_MEMBERS = 200_000
MAX_DIRECTORY_BYTES = 64 << 20
MAX_BYTES = 4 << 30  # all kept members together, unpacked
MAX_PARTS = 16  # folders deep
KEPT_BYTES = {  # the members whose content reading a class needs, and the most kept of each
    ".py": MAX_PY_BYTES,
    ".zip": 256 << 20,
    ".ipynb": MAX_NOTEBOOK_BYTES,
    ".yml": 64 << 20,
}
CHUNK = 1 << 20
WRAPPERS = 3  # lone folders looked through for a class's entries
UTF8_FLAG = 0x800


def holds_one_submission(archive: Path) -> bool:
    """Whether ``archive`` is one learner's zip: its ``.py`` members put the modules where ``find_modules``
    looks, and its top (below any lone wrapping folder) is not named as an LMS names a class's entries."""
    if central_directory_bytes(archive) > MAX_DIRECTORY_BYTES:
        return False
    with zipfile.ZipFile(archive) as bundle:
        names = [info.filename for info in bundle.infolist()]
    if _named_as_an_export(names):
        return False
    paths = {_parts(name) for name in names if not name.endswith("/") and name.endswith(".py")}
    return _finds_modules(paths, (), 0)


def _named_as_an_export(names: list[str]) -> bool:
    """Whether the zip's top entries (below lone wrapping folders) follow Moodle's or Canvas's names, or
    hold Gradescope's metadata."""
    paths = [parts for parts in map(_parts, names) if parts and not parts[0].startswith((".", "__MACOSX"))]
    for _ in range(WRAPPERS + 1):
        top = {parts[0] for parts in paths}
        if len(top) != 1 or all(len(parts) == 1 for parts in paths):
            break
        paths = [parts[1:] for parts in paths if len(parts) > 1]
    top = {parts[0] for parts in paths}
    if gradescope.METADATA in top:
        return True
    follows = sum(moodle.follows(name) or canvas.follows(name) for name in top)
    return bool(top) and follows * 2 > len(top)


def _parts(name: str) -> tuple[str, ...]:
    return tuple(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def _finds_modules(paths: set[tuple[str, ...]], folder: tuple[str, ...], depth: int) -> bool:
    for where in (folder, (*folder, "exercises")):
        if any((*where, module) in paths for module in MODULE_FILES):
            return True
    if depth >= MAX_DEPTH:
        return False
    children = {
        path[len(folder)] for path in paths if len(path) > len(folder) + 1 and path[: len(folder)] == folder
    }
    children = {child for child in children if not child.startswith((".", "__"))}
    return len(children) == 1 and _finds_modules(paths, (*folder, children.pop()), depth + 1)


def unpack_class(archive: Path, target: Path) -> list[tuple[str, str]]:
    """Unpack ``archive`` (a class) under ``target``; returns the members left out, with why. ``ValueError``
    when the zip as a whole is beyond the bounds (and ``zipfile``'s errors when it is no zip)."""
    directory = central_directory_bytes(archive)
    if directory > MAX_DIRECTORY_BYTES:
        raise ValueError(f"its table of contents is {directory} bytes (limit {MAX_DIRECTORY_BYTES})")
    target.mkdir(parents=True, exist_ok=True)
    left_out: list[tuple[str, str]] = []
    total = 0
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > MAX_MEMBERS:
            raise ValueError(f"it has {len(members)} entries (limit {MAX_MEMBERS})")
        for member in members:
            member.filename = _utf8_name(member)
            try:
                relative = safe_member_path(member)
            except ValueError as error:
                left_out.append((member.filename, str(error)))
                continue
            if not relative.parts:
                continue
            if len(relative.parts) > MAX_PARTS:
                left_out.append((member.filename, f"it is more than {MAX_PARTS} folders deep"))
                continue
            try:
                total += _unpack(bundle, member, relative, target)
            except OSError as error:
                left_out.append((member.filename, f"it cannot be written here: {error.strerror or error}"))
            if total > MAX_BYTES:
                raise ValueError(f"its files add up to more than {MAX_BYTES} bytes unpacked")
    return left_out


def _utf8_name(member: zipfile.ZipInfo) -> str:
    """The member's name as its writer meant it: zipfile decodes a name as cp437 unless the zip flags it
    UTF-8, and not every LMS's writer sets the flag, so a name that reads back as UTF-8 is taken as UTF-8
    (what ``unzip`` on a UTF-8 system shows)."""
    if member.flag_bits & UTF8_FLAG:
        return member.filename
    try:
        return member.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return member.filename


def _unpack(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, relative: PurePosixPath, target: Path) -> int:
    """Write one member (its bounded content, or an empty stand-in); returns the bytes written."""
    destination = target.joinpath(*relative.parts)
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return 0
    destination.parent.mkdir(parents=True, exist_ok=True)
    limit = KEPT_BYTES.get(relative.suffix.lower())
    if limit is None:
        destination.touch()
        return 0
    written = 0
    with bundle.open(member) as source, destination.open("wb") as sink:
        while written <= limit and (chunk := source.read(min(CHUNK, limit + 1 - written))):
            sink.write(chunk)
            written += len(chunk)
    return written
