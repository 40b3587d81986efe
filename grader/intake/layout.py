"""What PATH is — one submission, a class folder, an LMS's export, nbgrader's collected work — and the
submissions in it.

The layout is decided from the whole of PATH, never from one entry, and printed with its reason before
anything is graded: an LMS export is taken for one when more than half of its entries follow that LMS's
naming rules (``moodle``, ``canvas``, ``github_classroom``, ``gradescope``); the entries that do not are
listed with the reason, never dropped in silence. A whole-class ``.zip`` is unpacked and read as the same
export unzipped; a folder that holds only one folder is looked through when that one holds the class.
``--layout`` forces a reading.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.exits import UsageError
from grader.intake import canvas, confined, github_classroom, gradescope, moodle
from grader.intake.class_zip import holds_one_submission, unpack_class
from grader.intake.grouping import Grouping, is_litter
from grader.intake.nbgrader import discover_nbgrader, nbgrader_layout
from grader.intake.submission import MODULE_FILES, Submission, is_regular, read_entry, some_of
from grader.names import entry_name, unique_names

ONE_SUBMISSION, CLASS, NBGRADER = "one submission", "class folder", "nbgrader"
MOODLE, CANVAS = "Moodle assignment export", "Canvas submissions export"
GITHUB_CLASSROOM, GRADESCOPE = "GitHub Classroom repositories", "Gradescope submissions export"
READERS = {MOODLE: moodle, CANVAS: canvas, GITHUB_CLASSROOM: github_classroom, GRADESCOPE: gradescope}
CHOICES = {  # --layout's names
    "one": ONE_SUBMISSION,
    "class": CLASS,
    "moodle": MOODLE,
    "canvas": CANVAS,
    "github-classroom": GITHUB_CLASSROOM,
    "gradescope": GRADESCOPE,
    "nbgrader": NBGRADER,
}
LEARNER_WORD = {MOODLE: "participant(s)", CANVAS: "student(s)", GITHUB_CLASSROOM: "repositories"}
WRAPPERS = 3  # lone folders looked through to find the class (an export unzipped into a folder of its own)


@dataclass(frozen=True)
class Layout:
    """What PATH is (one of the kinds above) and why, in words for the instructor; ``root``: the folder
    whose entries are the class (PATH, a folder inside it, or the unpacked zip)."""

    kind: str
    why: str
    root: Path | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.why}"


@dataclass
class Intake:
    """What was found at PATH: the layout, a submission per learner, and every entry that is no one's,
    with why (``skipped``)."""

    layout: Layout
    submissions: list[Submission]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    entries: int = 0

    @property
    def without_submission(self) -> int:
        return sum(submission.folder is None for submission in self.submissions)

    def counts(self) -> str:
        """ "31 participant(s): 29 graded, 2 without a submission; 40 entries seen, 9 skipped"."""
        word = LEARNER_WORD.get(self.layout.kind, "learner(s)")
        learners, without = len(self.submissions), self.without_submission
        text = f"{learners} {word}: {learners - without} graded, {without} without a submission"
        if self.entries:
            text += f"; {self.entries} entries seen, {len(self.skipped)} skipped"
        return text


def take_in(path: Path, scratch: Path, forced: str | None = None) -> Intake:
    """Everything at ``path``: its layout (``forced``: one of ``CHOICES``' values) and its submissions.
    ``UsageError`` when PATH cannot be read or holds nothing that looks like a submission."""
    path = Path(path)
    try:
        if path.is_symlink() or not path.exists():
            raise UsageError(f"PATH {path} does not exist (or is a link, which is never followed)")
        return _take_in(path, scratch, forced)
    except OSError as error:  # the instructor's PATH, not a learner's entry: say so and stop
        raise UsageError(f"PATH {path} cannot be read: {error.strerror or error}") from None


def detect_layout(path: Path, forced: str | None = None) -> Layout:
    """What ``path`` is, decided from the whole of it (reads no learner's files but a class zip's names)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="grader-layout-") as scratch:
        return take_in(path, Path(scratch), forced).layout


def discover(path: Path, scratch: Path, forced: str | None = None) -> list[Submission]:
    """The submissions at ``path`` (see ``take_in``)."""
    return take_in(path, scratch, forced).submissions


def _take_in(path: Path, scratch: Path, forced: str | None) -> Intake:
    if forced == ONE_SUBMISSION:
        return Intake(
            Layout(ONE_SUBMISSION, "--layout one"), [read_entry(path, entry_name(path), scratch / "0")]
        )
    is_nbgrader, nbgrader_why = nbgrader_layout(path)
    if forced == NBGRADER or (forced is None and is_nbgrader):
        return _nbgrader(path, scratch, nbgrader_why if is_nbgrader else "--layout nbgrader")
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise UsageError(f"PATH {path} is a file but not a .zip: expected a folder or a .zip")
        if forced is None and _is_one_submission(path):
            return Intake(
                Layout(ONE_SUBMISSION, "PATH is a .zip"), [read_entry(path, entry_name(path), scratch / "0")]
            )
        unpacked = scratch / "export"
        try:
            left_out = unpack_class(path, unpacked)
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError) as error:
            raise UsageError(f"PATH {path} cannot be read as a zip: {error}") from None
        intake = _from_folder(unpacked, scratch, forced, nbgrader_why="")
        why = f"PATH is a .zip of a whole class, read as if unzipped: {intake.layout.why}"
        intake.layout = Layout(intake.layout.kind, why, intake.layout.root)
        intake.skipped = [(f"{name} (in the zip)", reason) for name, reason in left_out] + intake.skipped
        return intake
    return _from_folder(path, scratch, forced, nbgrader_why)


def _is_one_submission(archive: Path) -> bool:
    try:
        return holds_one_submission(archive)
    except Exception:  # noqa: BLE001 - not readable as a zip: one learner's, whose row will say why
        return True


def _nbgrader(path: Path, scratch: Path, why: str) -> Intake:
    from grader.results import Identity

    submissions = discover_nbgrader(path, scratch, assignment=None)
    for submission in submissions:
        if not path.is_file():
            submission.identity = Identity("nbgrader", submission.name)
    return Intake(Layout(NBGRADER, why, path), submissions)


def _from_folder(path: Path, scratch: Path, forced: str | None, nbgrader_why: str) -> Intake:
    root, looked_through = path, []
    while forced is None and not _holds_modules(root) and len(looked_through) < WRAPPERS:
        inner = _lone_folder(root)
        if inner is None or _names_a_learner(inner) or not _is_class(inner):
            break
        looked_through.append(inner.name)
        root = inner
    if forced is None and _holds_modules(root):
        held = [
            name for name in MODULE_FILES if is_regular(root / name) or is_regular(root / "exercises" / name)
        ]
        where = "PATH itself" if is_regular(root / held[0]) else "PATH's exercises/"
        return Intake(
            Layout(ONE_SUBMISSION, f"{where} holds {', '.join(held)}", root),
            [read_entry(root, entry_name(root), scratch / "0")],
        )
    entries, skipped = _visible(root)
    kind, grouping, why = _choose(root, entries, forced)
    if looked_through:
        why += f" (in {'/'.join(looked_through)}/, the only folder of PATH)"
    if kind == CLASS:
        return _plain_class(
            root, entries, skipped, scratch, why if not nbgrader_why else f"{why} ({nbgrader_why})"
        )
    submissions = [
        _read(READERS[kind], learner, scratch / str(n)) for n, learner in enumerate(grouping.learners)
    ]
    if not submissions:
        raise UsageError(_nothing_found(root, entries, f"--layout {kind}"))
    return Intake(
        Layout(kind, why, root), submissions, skipped + grouping.skipped, len(entries) + len(skipped)
    )


def _choose(root: Path, entries: list[Path], forced: str | None) -> tuple[str, Grouping | None, str]:
    """The layout most of the class follows (or ``forced``), its grouping, and why."""
    if forced not in (None, CLASS):
        return forced, _group(forced, root, entries), f"--layout {forced}"
    if forced == CLASS or not entries:
        return CLASS, None, "--layout class" if forced else ""
    best = None
    for kind in (GRADESCOPE, MOODLE, CANVAS, GITHUB_CLASSROOM):
        if kind == GRADESCOPE and not gradescope.holds_export(root):
            continue
        grouping = _group(kind, root, entries)
        if grouping.matched * 2 > len(entries) and (best is None or grouping.matched > best[1].matched):
            best = kind, grouping
    if best is None:
        return CLASS, None, ""
    kind, grouping = best
    return kind, grouping, f"{grouping.matched} of its {len(entries)} entries are named as in a {kind}"


def _group(kind: str, root: Path, entries: list[Path]) -> Grouping:
    if kind in (GRADESCOPE, GITHUB_CLASSROOM):
        return READERS[kind].group(entries, root)
    return READERS[kind].group(entries)


def _read(reader, learner, scratch: Path) -> Submission:
    """A learner's submission, with who they are and what the export's reading did; whatever reading it
    raises is its problem, not the run's."""
    try:
        submission = reader.read(learner, scratch)
    except Exception as error:  # noqa: BLE001 - one learner never stops the class
        problem = confined.note(f"could not be read: {confined.describe(error)}")
        source = learner.folders[0] if learner.folders else scratch
        submission = Submission(learner.name, source, problems=[problem])
    submission.identity = learner.identity
    submission.notes = learner.notes + submission.notes
    return submission


def _plain_class(root, entries, skipped, scratch, why) -> Intake:
    """Each folder or ``.zip`` is one learner, named by the entry; a loose file is no one's."""
    because = "each folder or .zip in PATH is one learner's submission"
    seen = len(entries) + len(skipped)
    learners = [e for e in entries if _could_be_learner(e)]
    skipped = skipped + [
        (e.name, "a loose file, neither a learner's folder nor a .zip")
        for e in entries
        if not _could_be_learner(e)
    ]
    if not learners:
        raise UsageError(_nothing_found(root, entries, "a class folder"))
    names = unique_names(learners)
    submissions = [read_entry(e, name, scratch / str(n)) for n, (e, name) in enumerate(zip(learners, names))]
    layout = Layout(CLASS, f"{because}; {why}" if why else because, root)
    return Intake(layout, submissions, skipped, seen)


def _could_be_learner(entry: Path) -> bool:
    return entry.is_symlink() or entry.is_dir() or entry.name.lower().endswith(".zip")


def _visible(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The class's entries, and the hidden ones and system litter, skipped with why."""
    entries, skipped = [], []
    for entry in sorted(root.iterdir()):
        if is_litter(entry):
            skipped.append((entry.name, "left by the operating system or an archiver, not a submission"))
        elif entry.name.startswith("."):
            skipped.append((entry.name, "a hidden entry"))
        else:
            entries.append(entry)
    return entries, skipped


def _holds_modules(folder: Path) -> bool:
    return any(is_regular(folder / name) or is_regular(folder / "exercises" / name) for name in MODULE_FILES)


def _lone_folder(folder: Path) -> Path | None:
    entries, _ = _visible(folder)
    only = entries[0] if len(entries) == 1 else None
    return only if only is not None and only.is_dir() and not only.is_symlink() else None


def _names_a_learner(entry: Path) -> bool:
    """Whether ``entry``'s own name is an LMS's name for one learner's entry (a class of one)."""
    return any(_group(kind, entry.parent, [entry]).matched for kind in (MOODLE, CANVAS))


def _is_class(folder: Path) -> bool:
    """Whether a lone folder holds a class (an LMS export, or two entries or more) rather than being one
    learner's submission."""
    entries, _ = _visible(folder)
    if gradescope.holds_export(folder) or nbgrader_layout(folder)[0]:
        return True
    if any(
        READERS[kind].group(entries).matched * 2 > len(entries) for kind in (MOODLE, CANVAS, GITHUB_CLASSROOM)
    ):
        return True
    return sum(map(_could_be_learner, entries)) >= 2 and not _holds_modules(folder)


def _nothing_found(root: Path, entries: list[Path], expected: str) -> str:
    found = some_of(e.name + ("/" if e.is_dir() else "") for e in entries)
    return (
        f"PATH {root} holds no submissions as {expected}: it holds {found or 'nothing'}. Expected one "
        f"submission ({', '.join(MODULE_FILES[:2])} ... directly or under exercises/), folders or .zip files "
        "of submissions, or an LMS export: Moodle (<full name>_<id>_assignsubmission_file_), Canvas "
        "(<name>_<user id>_<attachment id>_<file>), GitHub Classroom (<assignment>-<username>/), Gradescope "
        "(submission_metadata.yml) or nbgrader (submitted/<student>/<assignment>/)"
    )
