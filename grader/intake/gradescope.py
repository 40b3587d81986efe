"""Gradescope's "Export Submissions" of an assignment: ``submission_<id>/`` folders beside
``submission_metadata.yml``, which says who handed in each.

The metadata is YAML written by Gradescope with Ruby symbols as keys::

    submission_123456:
      :submitters:
      - :name: Ana Pérez
        :sid: '2024001'
        :email: ana@example.edu

Only those three keys are read, line by line and bounded, by a reader that knows nothing else of
YAML: no parser's aliases or tags to expand, whatever the names hold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.intake.grouping import Grouping, Learner, display
from grader.intake.submission import Submission, from_folder
from grader.results import Identity

LMS = "gradescope"
METADATA = "submission_metadata.yml"
MAX_METADATA_BYTES = 64 << 20
FOLDER = re.compile(r"submission_(?P<id>\d+)")
TOP_KEY = re.compile(r"(?P<key>submission_\d+):\s*")
SUBMITTER_FIELD = re.compile(r"\s+(?:-\s+)?:(?P<field>name|sid|email):\s*(?P<value>.*)")
NEW_SUBMITTER = re.compile(r"\s+-\s+:")
SUBMITTERS = re.compile(r"\s+:submitters:\s*")


def holds_export(folder: Path) -> bool:
    metadata = folder / METADATA
    return metadata.is_file() and not metadata.is_symlink()


def submitters(metadata: Path) -> dict[str, list[dict[str, str]]]:
    """``{"submission_<id>": [{"name", "sid", "email"}, ...]}`` from Gradescope's metadata file."""
    with metadata.open("rb") as handle:
        text = handle.read(MAX_METADATA_BYTES).decode("utf-8", "replace")
    found: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    block = None  # the indentation of the :submitters: key being read, while inside its list
    for line in text.splitlines():
        top = TOP_KEY.fullmatch(line)
        if top:
            current, block = found.setdefault(top["key"], []), None
            continue
        indent = len(line) - len(line.lstrip(" "))
        if SUBMITTERS.fullmatch(line):
            block = indent
            continue
        if block is None or current is None or not line.strip():
            continue
        if indent < block or (indent == block and not line.lstrip().startswith("-")):
            block = None  # the next key of this submission: :created_at:, :history:...
            continue
        field = SUBMITTER_FIELD.fullmatch(line)
        if field:
            if NEW_SUBMITTER.match(line) or not current or field["field"] in current[-1]:
                current.append({})
            current[-1][field["field"]] = _scalar(field["value"])
    return found


def _scalar(value: str) -> str:
    """A YAML scalar as Gradescope writes them: plain, 'single-quoted' or "double-quoted"."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value


def group(entries: list[Path], root: Path) -> Grouping:
    """One learner per ``submission_<id>/`` folder, named and identified by the metadata."""
    grouping = Grouping()
    people = submitters(root / METADATA) if holds_export(root) else {}
    for entry in entries:
        match = FOLDER.fullmatch(entry.name)
        if entry.name == METADATA:
            continue
        if not match or not entry.is_dir() or entry.is_symlink():
            grouping.skipped.append((entry.name, "not a submission_<id>/ folder of a Gradescope export"))
            continue
        grouping.matched += 1
        who = people.get(entry.name, [])
        names = " & ".join(display(person.get("name", "")) for person in who if person.get("name"))
        first = who[0] if who else {}
        key = first.get("sid") or first.get("email") or ""
        learner = Learner(entry.name, Identity(LMS, key, names, first.get("email", "")), folders=[entry])
        grouping.learners.append(learner)
        if not who:
            learner.notes.append(f"{METADATA} does not name who handed in {entry.name}")
    return grouping


def read(learner, scratch: Path) -> Submission:
    return from_folder(learner.folders[0], learner.name, scratch)
