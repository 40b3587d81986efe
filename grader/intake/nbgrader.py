"""nbgrader's collected work as submissions: the one place of the intake that knows nbgrader's layout.

``discover_nbgrader`` reads nbgrader's collected work, ``submitted/<student>/<assignment>/*.ipynb``:
each student is one ``Submission`` named by the student id. Nothing here runs the learner's code, and a
notebook that cannot be read, or lacks or duplicates a cell, becomes a plain sentence in the
submission's ``problems`` (completing "<notebook> ..."), never an exception: the rest of the class is
graded as usual. Each notebook becomes modules through ``notebook_cells``.

``nbgrader_layout`` decides from the whole class whether PATH is nbgrader's collected work: a
learner's entry that happens to be called ``submitted`` (or ``source``, or ``nbgrader_config.py``)
in an ordinary class folder never turns the class into an nbgrader course.
"""

from __future__ import annotations

from pathlib import Path

from grader.contract import ASSIGNMENT
from grader.exits import UsageError
from grader.intake import confined
from grader.intake.notebook_cells import notebook_to_modules
from grader.intake.submission import Submission, find_modules, some_of

NOTEBOOK_NAME = f"{ASSIGNMENT}.ipynb"
# What an nbgrader course folder holds besides the learners' work: any other folder or .zip beside
# submitted/ looks like a learner's entry, and the folder is then graded as a class.
COURSE_ENTRIES = frozenset({"submitted", "autograded", "feedback", "release", "source", "exchange"})


def looks_like_nbgrader(path: Path) -> bool:
    """Whether ``path`` is a notebook, nbgrader's ``submitted/`` folder, or an nbgrader course holding one."""
    return nbgrader_layout(path)[0]


def nbgrader_layout(path: Path) -> tuple[bool, str]:
    """Whether ``path`` is nbgrader's collected work, decided from the whole class, and why (or why not:
    "" when nothing about it looks like nbgrader's).

    nbgrader's when ``path`` is a ``.ipynb``; or a folder named ``submitted`` that follows nbgrader's
    layout (``_follows_submitted_layout``); or a course folder whose ``submitted/`` does and whose other
    folders are all nbgrader's own (``source/``, ``autograded/``...). A ``submitted`` entry beside
    other learners' folders or zips is one learner's entry, however it is named.
    """
    path = Path(path)
    if path.is_symlink():
        return False, ""
    if path.is_file():
        return path.suffix.lower() == ".ipynb", "PATH is one notebook"
    if not path.is_dir():
        return False, ""
    if path.name == "submitted":
        follows, why = _follows_submitted_layout(path)
        if follows:
            return True, f"PATH is nbgrader's submitted/ folder: {why}"
        return False, f"PATH is named submitted/ like nbgrader's folder, but {why}"
    submitted = path / "submitted"
    if submitted.is_symlink() or not submitted.is_dir():
        return False, ""
    learners = sorted(
        entry.name
        for entry in _visible_entries(path)
        if entry.name not in COURSE_ENTRIES and (entry.is_dir() or entry.name.lower().endswith(".zip"))
    )
    if learners:
        also = f"but also {some_of(learners)}, which nbgrader's course folder does not hold"
        return False, (
            f"PATH holds a submitted/ entry, {also}: submitted/ is one learner's entry "
            "(for nbgrader's collected work, pass the course's submitted/ folder itself)"
        )
    follows, why = _follows_submitted_layout(submitted)
    if follows:
        return True, f"PATH is an nbgrader course (only nbgrader's folders beside submitted/): {why}"
    return False, f"PATH holds only nbgrader's folders, but its submitted/ does not follow its layout: {why}"


def _follows_submitted_layout(submitted: Path) -> tuple[bool, str]:
    """Whether every entry of ``submitted`` is a student's folder — ``<student>/<assignment>/*.ipynb``,
    no exercise modules, no zip or stray file — and at least one holds a notebook; and why (or why not)."""
    entries = _visible_entries(submitted)
    strays = sorted(entry.name for entry in entries if entry.is_symlink() or not entry.is_dir())
    if strays:
        return False, f"it holds {some_of(strays)}, which are not student folders"
    with_modules = sorted(entry.name for entry in entries if find_modules(entry) is not None)
    if with_modules:
        return False, f"{some_of(with_modules)} hold the exercise modules rather than <assignment>/*.ipynb"
    with_notebooks = [entry for entry in entries if _holds_assignment_notebook(entry)]
    if not with_notebooks:
        return False, "no entry holds <assignment>/*.ipynb"
    return True, f"{len(with_notebooks)} of its {len(entries)} student folders hold <assignment>/*.ipynb"


def _holds_assignment_notebook(student: Path) -> bool:
    return any(
        notebook.suffix.lower() == ".ipynb" and not notebook.is_symlink()
        for assignment in _visible_entries(student)
        if assignment.is_dir() and not assignment.is_symlink()
        for notebook in _visible_entries(assignment)
    )


def _visible_entries(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))


def discover_nbgrader(root: Path, scratch: Path, assignment: str | None = None) -> list[Submission]:
    """The submissions in nbgrader's ``submitted/<student>/<assignment>/*.ipynb`` (or one ``.ipynb``), one
    per student.

    Whatever reading one student's notebook raises is confined to that student's submission.
    """
    root = Path(root)
    if root.is_file():
        return [_confined(root.stem, root, _from_notebook, root.stem, root, scratch / "nbgrader-0")]
    submitted = root if root.name == "submitted" else root / "submitted"
    students = sorted(
        s for s in submitted.iterdir() if s.is_dir() and not s.is_symlink() and not s.name.startswith(".")
    )
    assignment = assignment or _pick_assignment(submitted, students)
    return [
        _confined(student.name, student, _from_student, student, assignment, scratch / f"nbgrader-{index}")
        for index, student in enumerate(students)
    ]


def _from_student(student: Path, assignment: str, target: Path) -> Submission:
    folder = student / assignment
    if not folder.is_dir() or folder.is_symlink():
        problem = f"has no {assignment}/ folder (nbgrader's layout)"
        return Submission(student.name, student, problems=[problem])
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        return Submission(student.name, folder, problems=["holds no .ipynb notebook"])
    only = notebooks[0] if len(notebooks) == 1 else None
    chosen = next((p for p in notebooks if p.name == NOTEBOOK_NAME), only)
    if chosen is None:
        names = ", ".join(p.name for p in notebooks)
        problem = f"holds {names} and no {NOTEBOOK_NAME}: which one to grade?"
        return Submission(student.name, folder, problems=[problem])
    return _from_notebook(student.name, chosen, target)


def _confined(name: str, source: Path, read, *args) -> Submission:
    try:
        return read(*args)
    except Exception as error:  # noqa: BLE001 - one student's notebook never stops the class
        problem = confined.note(f"could not be read: {confined.describe(error)}")
        return Submission(name, source, problems=[problem])


def _from_notebook(name: str, notebook: Path, target: Path) -> Submission:
    problems = notebook_to_modules(notebook, target)
    has_modules = target.is_dir() and any(target.glob("*.py"))
    return Submission(name, notebook, folder=target if has_modules else None, problems=problems)


def _pick_assignment(submitted: Path, students: list[Path]) -> str:
    names = set()
    for student in students:
        try:
            names.update(a.name for a in student.iterdir() if a.is_dir() and not a.name.startswith("."))
        except OSError:
            continue  # an unreadable student folder is reported with that student
    names = sorted(names)
    if ASSIGNMENT in names or not names:
        return ASSIGNMENT
    if len(names) == 1:
        return names[0]
    raise UsageError(
        f"PATH {submitted} holds nbgrader submissions for several assignments ({', '.join(names)}) and "
        f"none named {ASSIGNMENT}"
    )
