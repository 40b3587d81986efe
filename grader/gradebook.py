"""The gradebook on disk: one JSON record per submission, written the moment it is graded.

A record is written to a temporary file and renamed into place, so a run killed at any moment
(SIGKILL included) leaves every record whole or absent, never half-written. A record carries the
fingerprint of what was graded — the submission's files and the grader's own checks and reference —
so a rerun with the same ``--out`` skips exactly the submissions already graded with the same code,
regrades changed ones, and never duplicates a row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from grader.results import SubmissionResult
from grader.submission import Submission

GRADER_ROOT = Path(__file__).resolve().parent
RECORDS_DIR = "submissions"


def grader_fingerprint() -> str:
    """Changes whenever the checks, the contract, the tasks or the reference change."""
    digest = hashlib.sha256()
    sources = sorted((GRADER_ROOT / "checks").glob("*.py")) + [
        GRADER_ROOT / name for name in ("contract.py", "compare.py", "lesson_tasks.py")
    ]
    sources += sorted((GRADER_ROOT.parent / "solutions").glob("*.py"))
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def submission_fingerprint(submission: Submission) -> str:
    """A hash of what the learner handed in: the zip's bytes, or the folder's .py files."""
    digest = hashlib.sha256()
    source = submission.source
    if source.is_file() and not source.is_symlink():
        digest.update(source.read_bytes())
    elif submission.folder is not None:
        for path in sorted(submission.folder.glob("*.py")):
            if path.is_file() and not path.is_symlink():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    digest.update("\n".join(submission.problems).encode())
    return digest.hexdigest()[:16]


class Gradebook:
    """``DIR/submissions/<name>.json`` records, keyed by submission name."""

    def __init__(self, out: Path):
        self.folder = Path(out) / RECORDS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.grader = grader_fingerprint()

    def path_for(self, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"
        tag = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]  # keeps "a b" and "a_b" apart
        return self.folder / f"{safe}-{tag}.json"

    def is_current(self, submission: Submission, fingerprint: str) -> bool:
        record = self._read(submission.name)
        return record is not None and record.get("fingerprint") == [self.grader, fingerprint]

    def save(self, result: SubmissionResult, fingerprint: str) -> None:
        target = self.path_for(result.submission)
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        document = {"fingerprint": [self.grader, fingerprint], "result": result.to_json()}
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def load(self, name: str) -> SubmissionResult | None:
        record = self._read(name)
        return None if record is None else SubmissionResult.from_json(record["result"])

    def _read(self, name: str) -> dict | None:
        try:
            record = json.loads(self.path_for(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent, or unreadable: graded again
        return record if isinstance(record, dict) and record.get("result", {}).get("submission") == name else None
