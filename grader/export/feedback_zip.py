"""The learners' HTML feedback in the zip Moodle's "Upload multiple feedback files in a zip" takes.

Moodle (``mod/assign/feedback/file/importziplib.php``, ``is_valid_filename_for_import``) splits each
member's path at ``/`` and each part at its first four ``_``: ``<full name>_<participant id>_<plugin
type>_<plugin name>_<file name>``. The second piece must be a participant of the assignment, the third
and fourth a feedback plugin (``assignfeedback`` and ``file``), and what follows is the file's name in the
learner's feedback. Names starting with ``.`` or ``~`` are skipped. The full name is only for people:
Moodle's own downloads turn its ``_`` into spaces so that the first ``_`` ends it, and so do we.

Every member name is built here from a participant id (digits, from the worksheet) and a name reduced
to letters, digits, spaces and hyphens: no ``/``, ``\\``, ``..``, control character or leading dot, and
bounded. The page put in it is read from ``DIR/feedback/`` under the stem the grading run wrote it
with (``grader.reports.feedback.feedback_filename``), never under a name taken from results.json.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

from grader.export.csv_files import atomic_path
from grader.export.graded import Graded
from grader.reports.feedback import FEEDBACK_DIR, feedback_filename

PLUGIN = "assignfeedback_file"
FEEDBACK_FILE = "lesson13-feedback.html"
MAX_PAGE_BYTES = 32 << 20  # a page with every picture embedded stays far below
NAME_CHARS = 60
PARTICIPANT_ID = re.compile(r"[0-9]{1,18}")
_NOT_IN_NAME = re.compile(r"[^\w\- ]|_")  # \w: letters and digits of any script (and "_", removed too)


def member_name(full_name: str, participant: str) -> str:
    """``<full name>_<participant id>_assignfeedback_file_lesson13-feedback.html``, safe as a file name."""
    if not PARTICIPANT_ID.fullmatch(participant):
        raise ValueError(f"not a participant id: {participant!r}")
    # NFC first: a decomposed "é" would otherwise lose its accent as a separate mark.
    words = _NOT_IN_NAME.sub(" ", unicodedata.normalize("NFC", full_name)).split()
    name = " ".join(words)[:NAME_CHARS].strip(" -") or "Participant"
    return f"{name}_{participant}_{PLUGIN}_{FEEDBACK_FILE}"


def write_feedback_zip(path: Path, pages: list[tuple[str, str, Graded]], results_dir: Path) -> list[str]:
    """Write the zip of ``(participant id, full name, result)``'s pages atomically; returns a line for
    each learner whose page is missing or too large (left out of the zip)."""
    folder = results_dir / FEEDBACK_DIR
    left_out = []
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for participant, full_name, result in pages:
            page, problem = read_page(folder, result.submission)
            if page is None:
                left_out.append(f"{result.submission}: {problem}")
                continue
            archive.writestr(member_name(full_name, participant), page)
    return left_out


def read_page(folder: Path, submission: str) -> tuple[bytes | None, str]:
    """The HTML page the grading run wrote for ``submission``, or ``None`` and why not."""
    stem = feedback_filename(submission).removesuffix(".md")
    if "/" in stem or "\\" in stem or stem.startswith("."):  # file_stem never gives one; a guard for a change
        return None, "no safe file name"
    path = folder / f"{stem}.html"
    if path.is_symlink() or not path.is_file():
        return None, f"no feedback page {path.name} in {folder}"
    with path.open("rb") as handle:
        page = handle.read(MAX_PAGE_BYTES + 1)
    if len(page) > MAX_PAGE_BYTES:
        return None, f"its feedback page is larger than {MAX_PAGE_BYTES >> 20} MiB"
    return page, ""
