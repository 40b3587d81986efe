"""Moodle's "Download all submissions" of an assignment, read by Moodle's own naming rules.

Moodle names every entry ``<full name>_<participant id>_<plugin>_`` (mod/assign/locallib.php,
``download_submissions``; mod/assign/classes/downloader.php since 4.1): the full name with its ``_``
turned into spaces (so the first ``_`` ends it; "Participant" under blind marking), the participant id of the
assignment (the number in the grading worksheet's ``Participant <id>``, with or without blind marking),
and the submission plugin, ``assignsubmission_file`` for uploaded files and ``assignsubmission_onlinetext``
for online text. With "Download submissions in folders" (the default since 3.1) each entry is a folder
holding the participant's files as uploaded, subfolders kept (a nested folder, a ``.zip``); without it
each file is its own entry, ``<prefix>_<file name>``. Only the latest attempt is in the export. A team
submission is named after the group (and its group id), not a participant: it is read, but its id is
the group's.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.intake.grouping import Grouping, Learner, Upload, display
from grader.intake.submission import Submission, from_folder
from grader.intake.uploads import read_uploads
from grader.results import Identity

LMS = "moodle"
# Moodle turns every "_" of a name into a space, so the first "_" ends it. Folders end in the plugin's name
# since Moodle 4.1 (``..._assignsubmission_file/``), in "_" before (``..._assignsubmission_file_/``); a flat
# entry goes on with the file's name.
ENTRY = re.compile(
    r"(?P<name>[^_]*)_(?P<id>\d+)_(?P<plugin>assign(?:submission|feedback)_[A-Za-z0-9]+)(?:_(?P<rest>.*))?",
    re.S,
)
FILES_PLUGIN = "assignsubmission_file"
NOT_MOODLE = (
    "not a Moodle participant's entry (its name lacks <full name>_<participant id>_assignsubmission_)"
)


def follows(name: str) -> bool:
    """Whether ``name`` is Moodle's name for a participant's entry."""
    return ENTRY.fullmatch(name) is not None


def group(entries: list[Path]) -> Grouping:
    """The participants of a Moodle export; entries named otherwise are skipped with the reason."""
    grouping = Grouping()
    for entry in entries:
        match = ENTRY.fullmatch(entry.name)
        if not match:
            grouping.skipped.append((entry.name, NOT_MOODLE))
            continue
        grouping.matched += 1
        name, participant = display(match["name"]).strip(), match["id"]
        learner = grouping.learner(f"{name}_{participant}", Identity(LMS, participant, name))
        plugin, rest = match["plugin"].lower(), match["rest"] or ""
        if plugin != FILES_PLUGIN:
            kind = "online text" if plugin == "assignsubmission_onlinetext" else plugin
            learner.notes.append(f"your {kind} entry ({entry.name}) was not graded: only uploaded files are")
        elif entry.is_dir() and not entry.is_symlink() and not rest:
            learner.folders.append(entry)
        else:
            learner.files.append(Upload(entry, rest or entry.name))
    return grouping


def read(learner: Learner, scratch: Path) -> Submission:
    """The participant's modules: their folder, else their loose files (the modules, or one ``.zip``)."""
    if learner.folders:
        submission = from_folder(learner.folders[0], learner.name, scratch)
        extra = [f.name for f in learner.folders[1:]] + [u.path.name for u in learner.files]
        if extra:
            submission.notes.append(f"also in the export, not graded: {', '.join(extra)}")
        return submission
    return read_uploads(learner, scratch)
