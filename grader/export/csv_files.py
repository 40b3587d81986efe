"""The LMS's own CSV files: read whole and bounded, written back in their own conventions, atomically.

Canvas writes its gradebook in UTF-8, with a byte order mark when the teacher's account asks for one
(for Excel), and with ``;`` between fields where the locale writes decimal commas; Moodle's worksheet is
UTF-8 with a byte order mark. Both importers drop the mark and Canvas's detects the separator, so a file
is written back with the mark and separator it was read with: what the LMS wrote, it reads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.exits import UsageError
from grader.safe_text import for_terminal

MAX_CSV_BYTES = 50 << 20  # a gradebook of thousands of learners and hundreds of columns stays far below
BOM = "\ufeff"
SEPARATORS = (",", ";")


@dataclass
class CsvFile:
    """A CSV file as read: its header, its rows (blank lines left out), and how it was written."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    bom: bool = False
    delimiter: str = ","

    def column(self, name: str) -> int:
        return self.header.index(name)


def read_csv(path: Path, what: str, required: tuple[str, ...]) -> CsvFile:
    """``path`` as a ``CsvFile`` whose header holds every ``required`` column, exactly once; otherwise a
    ``UsageError`` that names ``what`` (the option), the file and the problem."""
    where = f"{what} {path}"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CSV_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{where} is a folder, not a CSV file") from None
    except OSError as error:
        raise UsageError(f"{where} cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_CSV_BYTES:
        raise UsageError(f"{where} is larger than {MAX_CSV_BYTES >> 20} MiB: not an LMS gradebook")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"{where} is UTF-16 text (a spreadsheet's 'Unicode text'?); save it as 'CSV UTF-8'")
    if b"\0" in data:
        raise UsageError(f"{where} is not a CSV file (it holds binary data: a spreadsheet's own format?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{where} is not UTF-8 text (byte {error.start}); export it again, or save it as 'CSV UTF-8'"
        ) from None
    bom = text.startswith(BOM)
    text = text.removeprefix(BOM)
    delimiter = _separator(text)
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True) if row
        ]
    except csv.Error as error:
        raise UsageError(f"{where} is not a well-formed CSV file: {for_terminal(error)}") from None
    if not rows:
        raise UsageError(f"{where} is empty: expected a header row and a row per learner")
    header, rows = rows[0], rows[1:]
    missing = [name for name in required if name not in header]
    if missing:
        present = ", ".join(repr(for_terminal(name, 60)) for name in header[:20])
        raise UsageError(
            f"{where} lacks the column(s) {', '.join(repr(name) for name in missing)} "
            f"(its header: {present}{' ...' if len(header) > 20 else ''}); "
            "is it the file the LMS exported, unchanged?"
        )
    repeated = [name for name in required if header.count(name) > 1]
    if repeated:
        raise UsageError(f"{where} has more than one column named {', '.join(map(repr, repeated))}")
    return CsvFile(path, header, rows, bom, delimiter)


def cell(row: list[str], index: int) -> str:
    """The cell at ``index``, or "" where a short row ends before it."""
    return row[index] if index < len(row) else ""


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, bom: bool, delimiter: str) -> Path:
    """Write the rows atomically: the file at ``path`` is the old one or the new one, never a part."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_path(path) as temporary:
        temporary.write_text((BOM if bom else "") + buffer.getvalue(), encoding="utf-8", newline="")
    return path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` when the block ends without an
    error, removed when it raises."""
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder: expected a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _separator(text: str) -> str:
    """``;`` where the header splits into more fields on it than on ``,`` (Canvas's exports in locales
    with decimal commas), else ``,``."""
    first = text.split("\n", 1)[0]
    fields = {}
    for separator in SEPARATORS:
        try:
            fields[separator] = len(next(csv.reader([first], delimiter=separator), []))
        except csv.Error:
            fields[separator] = 0
    return ";" if fields[";"] > fields[","] else ","
