"""The gradebook on disk: one JSON record per submission, written the moment it is graded.

A record is written to a temporary file and renamed into place, so a run killed at any moment
(SIGKILL included) leaves every record whole or absent, never half-written. A record carries the
fingerprint of what was graded — the submission's files and every file of the grader that can change a grade —
so a rerun with the same ``--out`` skips exactly the submissions already graded with the same code,
regrades changed ones, and never duplicates a row.

A record's file is named by its submission's exact name (``grader.names.tagged_stem``: a readable
start and a hash), so every entry has its own record, found again on the next run, whatever its name:
``x`` and ``x.zip``, ``bob smith`` and ``bob_smith``, ``Alice`` and ``alice``, 10 000 characters. Records
are written as ASCII JSON, so a name or message holding bytes that are not UTF-8 is recorded too.
A record that cannot be read back as a result (truncated by a full disk, from an older grader) counts
as absent: that submission is graded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from grader.intake.submission import Submission
from grader.names import tagged_stem
from grader.results import SubmissionResult

REPO = Path(__file__).resolve().parents[1]
RECORDS_DIR = "submissions"
MAX_RECORD_BYTES = 64 << 20  # ours, and far larger than any: anything bigger is not a record of ours
CHUNK_BYTES = 1 << 20
# What cannot change a grade: how results are written and shown, the command line, building the kit,
# exporting grades to an LMS, and these records. Everything else of grader/ can (tests/test_layout.py
# checks that no module on the grading path lives here).
NOT_GRADING = (
    "grader/reports/",
    "grader/kit/",
    "grader/export/",
    "grader/cli.py",
    "grader/__main__.py",
    "grader/gradebook.py",
)
# Outside grader/: the reference (the stand-ins and every expected value) and the lesson's shared facts
# (points, tolerances, PyTorch's modules loaded with a learner's weights, the masking hints' signatures).
SHARED_WITH_GRADING = (
    "solutions/*.py",
    "learner/__init__.py",
    "learner/lesson.py",
    "learner/mistakes.py",
    "learner/torch_modules.py",
)


def grade_sources(repo: Path = REPO) -> list[Path]:
    """Every file whose change can change a grade, in a fixed order."""
    inside = [
        path for path in repo.glob("grader/**/*.py") if not _is_not_grading(path.relative_to(repo).as_posix())
    ]
    shared = [path for pattern in SHARED_WITH_GRADING for path in repo.glob(pattern)]
    return sorted(inside + shared, key=lambda path: path.relative_to(repo).as_posix())


def _is_not_grading(relative: str) -> bool:
    return any(
        relative == entry or (entry.endswith("/") and relative.startswith(entry)) for entry in NOT_GRADING
    )


def grader_fingerprint(repo: Path = REPO) -> str:
    """Changes whenever a file that can change a grade changes: the checks, the sandbox, the reference..."""
    digest = hashlib.sha256()
    for path in grade_sources(repo):
        digest.update(path.relative_to(repo).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def submission_fingerprint(submission: Submission) -> str:
    """A hash of what the learner handed in: the zip's bytes, or the folder's .py files.

    Read in chunks (a learner's file can be gigabytes); a file that cannot be read is hashed as the
    error it gave, so the fingerprint never stops the run.
    """
    digest = hashlib.sha256()
    source = submission.source
    if source.is_file() and not source.is_symlink():
        _hash_file(digest, source)
    elif submission.folder is not None:
        for path in sorted(submission.folder.glob("*.py")):
            if path.is_file() and not path.is_symlink():
                digest.update(path.name.encode("utf-8", "surrogatepass"))
                _hash_file(digest, path)
    digest.update("\n".join(submission.problems).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def _hash_file(digest, path: Path) -> None:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError as error:
        digest.update(f"unreadable: {error.strerror}".encode())


class Gradebook:
    """``DIR/submissions/<name>.json`` records, keyed by submission name."""

    def __init__(self, out: Path, repo: Path = REPO):
        self.folder = Path(out) / RECORDS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.grader = grader_fingerprint(repo)

    def path_for(self, name: str) -> Path:
        return self.folder / f"{tagged_stem(name)}.json"

    def is_current(self, submission: Submission, fingerprint: str) -> bool:
        record = self._read(submission.name)
        return record is not None and record.get("fingerprint") == [self.grader, fingerprint]

    def save(self, result: SubmissionResult, fingerprint: str) -> None:
        target = self.path_for(result.submission)
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        document = {"fingerprint": [self.grader, fingerprint], "result": result.to_json()}
        with temporary.open("w", encoding="ascii") as handle:
            json.dump(document, handle)  # ASCII: "\udcff" escapes keep a name's undecodable bytes exact
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def load(self, name: str) -> SubmissionResult | None:
        record = self._read(name)
        return None if record is None else record["loaded"]

    def _read(self, name: str) -> dict | None:
        """The record of ``name``, its result ``loaded``; ``None`` if absent or not a whole record of ours."""
        try:
            path = self.path_for(name)
            if path.stat().st_size > MAX_RECORD_BYTES:
                return None
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or not isinstance(record.get("result"), dict):
                return None
            if record["result"].get("submission") != name:
                return None
            record["loaded"] = SubmissionResult.from_json(record["result"])
        except Exception:  # noqa: BLE001 - absent, truncated, another version's: graded again
            return None
        return record
