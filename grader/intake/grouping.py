"""What an LMS export's entries come to: learners (each with the entries that are theirs and who they are)
and the entries that are no one's, each with its reason.

Each export's reader (``moodle``, ``canvas``, ``github_classroom``, ``gradescope``) groups the entries of
the class by its own naming rules; ``layout`` then picks the reading that most of the class follows.
Nothing here opens a learner's file.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from grader.results import Identity

# What operating systems and archivers leave beside a class's entries: never a learner.
SYSTEM_LITTER = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", "._.DS_Store"})


@dataclass
class Learner:
    """One learner of an export: their submission's name, who they are, and the entries that are theirs.

    folders: whole entries that are the learner's own folder (or zip). files: loose files of the learner,
    by the name the learner gave them (``softmax.py``, ``lesson.zip``), with what the export says about
    each (``Upload``). notes: what the learner should know about how the export was read.
    """

    name: str
    identity: Identity
    folders: list[Path] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Upload:
    """A loose file of a learner: ``path`` on disk, ``filename`` as the learner named it, ``order`` (larger
    is later: Canvas's attachment id) and the entry's name in the export."""

    path: Path
    filename: str
    order: int = 0


@dataclass
class Grouping:
    """An export read by one LMS's rules: its learners, the entries that follow those rules (``matched``)
    and the entries that do not, each with the reason (``skipped``)."""

    learners: list[Learner] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    matched: int = 0
    by_key: dict[str, Learner] = field(default_factory=dict, repr=False)

    def learner(self, name: str, identity: Identity) -> Learner:
        """The learner whose LMS id is ``identity.id``, named ``name`` when first met."""
        if identity.id not in self.by_key:
            self.by_key[identity.id] = Learner(name, identity)
            self.learners.append(self.by_key[identity.id])
        return self.by_key[identity.id]


def display(text: str) -> str:
    """A name from an export as the LMS wrote it: composed (NFC), so a class unzipped on a Mac (NFD) and
    the same class's zip give the same name."""
    return unicodedata.normalize("NFC", text)


def is_litter(entry: Path) -> bool:
    return entry.name in SYSTEM_LITTER or entry.name.startswith("._")
