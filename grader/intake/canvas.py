"""Canvas's "Download Submissions" of an assignment, read by Canvas's own naming rules.

Canvas flattens every learner's files into one folder, each named
``<sortable name>[_LATE]_<user id>_<attachment id>_<file name>`` (canvas-lms, lib/content_zipper.rb;
``LATE`` accepted in any case; ``anon_<id>`` for the user id under anonymous grading); online text and
links become ``<sortable name>[_LATE]_<user id>_text.html`` / ``_link.html``. Only the latest attempt is
in the export. A file a learner uploaded again under the same name was renamed by Canvas ``softmax-1.py``,
``softmax-2.py``; the latest upload of a module counts (attachment ids grow with time), and the feedback
says which file was graded. A learner's ``.zip`` is unpacked as any zip.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.intake.grouping import Grouping, Learner, Upload, display
from grader.intake.submission import MODULE_FILES, Submission
from grader.intake.uploads import read_uploads
from grader.results import Identity

LMS = "canvas"
# The sortable name, lower-cased, with every character but letters, digits and "_" removed ("" under
# anonymous grading); LATE (upper case in Canvas's code; any case accepted); the user id, or anon_<5 base58>.
PREFIX = r"(?:(?P<name>.*?)_)??(?:(?P<late>late)_)?(?P<id>\d+|anon_[1-9A-HJ-NP-Za-km-z]{5})"
FILE = re.compile(PREFIX + r"_(?P<attachment>\d+)_(?P<file>.+)", re.S | re.I)
NOT_A_FILE = re.compile(PREFIX + r"_(?P<kind>text|link)\.html", re.S | re.I)
RENAMED = re.compile(r"(?P<stem>.+?)(?:-(?P<copy>\d+))?(?P<suffix>\.py)", re.S | re.I)
NOT_CANVAS = "not a Canvas submission file (its name lacks <name>_<user id>_<attachment id>_)"


def follows(name: str) -> bool:
    """Whether ``name`` is Canvas's name for a learner's file."""
    return FILE.fullmatch(name) is not None or NOT_A_FILE.fullmatch(name) is not None


def group(entries: list[Path]) -> Grouping:
    """The learners of a Canvas export, one per user id; entries named otherwise are skipped."""
    grouping = Grouping()
    for entry in entries:
        match = FILE.fullmatch(entry.name) or NOT_A_FILE.fullmatch(entry.name)
        if not match or entry.is_dir():
            grouping.skipped.append((entry.name, NOT_CANVAS))
            continue
        grouping.matched += 1
        name, user = display(match["name"] or ""), match["id"]
        learner = grouping.learner(f"{name}_{user}" if name else user, Identity(LMS, user, name))
        if "kind" in match.groupdict():
            learner.notes.append(
                f"your {match['kind'].lower()} entry ({entry.name}) was not graded: only files are"
            )
        else:
            learner.files.append(Upload(entry, match["file"], int(match["attachment"])))
    return grouping


def read(learner: Learner, scratch: Path) -> Submission:
    """The learner's latest upload of each module (or their latest ``.zip``), saying which was graded."""
    chosen: dict[str, list[tuple[tuple[int, int], Upload]]] = {}
    for upload in learner.files:
        match = RENAMED.fullmatch(upload.filename)
        module = f"{match['stem']}.py" if match else None
        if module in MODULE_FILES:
            rank = (upload.order, int(match["copy"] or 0))
            chosen.setdefault(module, []).append((rank, upload))
    modules = {}
    for module, candidates in sorted(chosen.items()):
        candidates.sort(key=lambda pair: pair[0])
        latest = candidates[-1][1]
        modules[module] = latest
        if len(candidates) > 1 or latest.filename != module:
            others = [upload.filename for _, upload in candidates[:-1]]
            also = f"; not graded: {', '.join(others)}" if others else ""
            learner.notes.append(f"graded {latest.filename} as {module} (your latest upload of it){also}")
    return read_uploads(learner, scratch, modules or None)
