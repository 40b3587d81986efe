"""GitHub Classroom's learner repositories, cloned side by side: ``<assignment>-<username>/``.

GitHub Classroom names each learner's repository after the assignment's slug and the learner's GitHub
login (education/classroom), and ``gh classroom clone student-repos`` clones them into
``<assignment>-submissions/`` (github/gh-classroom). GitHub Classroom Assistant's folders, named by the
login or roster id alone, are a plain class folder. The prefix is found from
the whole class — the longest ``...-`` that most folders share — so a class of folders that happen to
share a word is read as such only when most of it does. A username is what GitHub allows: letters,
digits and single hyphens, at most 39 characters.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from grader.intake.grouping import Grouping
from grader.intake.submission import Submission, from_folder
from grader.results import Identity

LMS = "github-classroom"
USERNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
SUBMISSIONS = "-submissions"
MIN_REPOSITORIES = 2  # one folder says nothing about a shared prefix


def assignment_prefix(entries: list[Path], root: Path | None = None) -> str:
    """The longest ``<assignment>-`` that more than half of the folders start with, followed by a username;
    "" when there is none. ``gh classroom clone`` names the folder it clones into
    ``<assignment>-submissions``: that names the prefix outright (a login can hold hyphens too)."""
    if root is not None and root.name.endswith(SUBMISSIONS) and len(root.name) > len(SUBMISSIONS):
        named = root.name[: -len(SUBMISSIONS)] + "-"
        if sum(entry.name.startswith(named) for entry in entries) * 2 > len(entries):
            return named
    folders = [entry.name for entry in entries if entry.is_dir() and not entry.is_symlink()]
    counts: Counter = Counter()
    for name in folders:
        for at, char in enumerate(name):
            if char == "-" and USERNAME.fullmatch(name[at + 1 :]):
                counts[name[: at + 1]] += 1
    shared = [p for p, n in counts.items() if n >= MIN_REPOSITORIES and n * 2 > len(entries)]
    return max(shared, key=len, default="")


def group(entries: list[Path], root: Path | None = None) -> Grouping:
    """One learner per ``<prefix><username>/`` folder; other entries are skipped with the reason."""
    grouping = Grouping()
    prefix = assignment_prefix(entries, root)
    for entry in entries:
        username = entry.name[len(prefix) :] if prefix and entry.name.startswith(prefix) else ""
        if not entry.is_dir() or entry.is_symlink() or not USERNAME.fullmatch(username):
            why = f"not a learner repository <{prefix or 'assignment-'}username>/ of this GitHub Classroom"
            grouping.skipped.append((entry.name, why))
            continue
        grouping.matched += 1
        learner = grouping.learner(username, Identity(LMS, username, "", username))
        learner.folders.append(entry)
    return grouping


def read(learner, scratch: Path) -> Submission:
    return from_folder(learner.folders[0], learner.name, scratch)
