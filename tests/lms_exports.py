"""Whole-class exports laid out as Moodle, Canvas, GitHub Classroom and Gradescope lay them out, for tests.

The layouts follow each LMS's own code (see grader/intake/moodle.py, canvas.py, github_classroom.py and
gradescope.py for the rules and their sources). Each builder writes the reference modules (or a part of
them) where that LMS puts a learner's files, and returns what each learner should come to:
``{submission name: (lms id, full name, graded?)}``.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
MODULES = sorted(p.name for p in SOLUTIONS.glob("*.py") if p.name != "__init__.py")


def modules_into(folder: Path, names=MODULES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SOLUTIONS / name, folder / name)
    return folder


def zip_modules(archive: Path, inside: str = "") -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in MODULES:
            bundle.write(SOLUTIONS / name, f"{inside}{name}")
    return archive


def zip_folder(folder: Path, archive: Path) -> Path:
    """``folder``'s content as a zip without a top folder, as an LMS hands it out."""
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.write(path, path.relative_to(folder).as_posix())
    return archive


def moodle_export(root: Path, style: str = "4.1") -> dict[str, tuple[str, str, bool]]:
    """Moodle's "Download all submissions": ``style`` "4.1" (folders ``..._assignsubmission_file/``), "3.x"
    (``..._assignsubmission_file_/``) or "flat" (``..._assignsubmission_file_<file>``)."""
    end = {"4.1": "", "3.x": "_"}.get(style, "_")
    files = "assignsubmission_file" + end
    text = "assignsubmission_onlinetext" + end
    if style == "flat":
        modules_flat(root, "Ana María Pérez_1001_assignsubmission_file_")
        zip_modules(root / "Bob Li_1002_assignsubmission_file_lesson13.zip", inside="lesson13/")
        (root / "Dan Smith_1004_assignsubmission_onlinetext_onlinetext.html").write_text("<p>done!</p>")
        return {
            "Ana María Pérez_1001": ("1001", "Ana María Pérez", True),
            "Bob Li_1002": ("1002", "Bob Li", True),
            "Dan Smith_1004": ("1004", "Dan Smith", False),
        }
    modules_into(root / f"Ana María Pérez_1001_{files}")
    modules_into(root / f"Bob Li_1002_{files}" / "lesson13" / "exercises")  # a nested folder
    zip_modules(root / f"Chloé Dubois_1003_{files}" / "my work.zip", inside="work/")  # her zip
    (root / f"Dan Smith_1004_{text}").mkdir(parents=True)  # online text only
    (root / f"Dan Smith_1004_{text}" / "onlinetext.html").write_text("<p>see attached</p>")
    modules_into(root / f"Eve Stone_1005_{files}")
    (root / f"Eve Stone_1005_{text}").mkdir()
    (root / f"Eve Stone_1005_{text}" / "onlinetext.html").write_text("<p>hello</p>")
    return {
        "Ana María Pérez_1001": ("1001", "Ana María Pérez", True),
        "Bob Li_1002": ("1002", "Bob Li", True),
        "Chloé Dubois_1003": ("1003", "Chloé Dubois", True),
        "Dan Smith_1004": ("1004", "Dan Smith", False),
        "Eve Stone_1005": ("1005", "Eve Stone", True),
    }


def modules_flat(root: Path, prefix: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in MODULES:
        shutil.copy(SOLUTIONS / name, root / f"{prefix}{name}")


def canvas_export(root: Path) -> dict[str, tuple[str, str, bool]]:
    """Canvas's "Download Submissions": flat ``<sortable name>[_LATE]_<user id>_<attachment id>_<file>``."""
    root.mkdir(parents=True, exist_ok=True)
    attachment = iter(range(500_000, 600_000, 7))
    for name in MODULES:  # on time, each module once
        shutil.copy(SOLUTIONS / name, root / f"perezana_2001_{next(attachment)}_{name}")
    for name in MODULES:  # late, in lower case as some tools rewrite it
        shutil.copy(SOLUTIONS / name, root / f"libob_late_2002_{next(attachment)}_{name}")
    for name in MODULES:  # uploaded twice: Canvas renamed the second softmax.py to softmax-1.py
        shutil.copy(SOLUTIONS / name, root / f"duboischloe_LATE_2003_{next(attachment)}_{name}")
    (root / f"duboischloe_LATE_2003_{next(attachment)}_softmax-1.py").write_text(
        (SOLUTIONS / "softmax.py").read_text() + "\n# the second upload\n"
    )
    zip_modules(root / f"smithdan_2004_{next(attachment)}_lesson13.zip")  # a zip per learner
    (root / "smithdan_2004_text.html").write_text("<p>my notes</p>")
    (root / "stoneeve_2005_text.html").write_text("<p>forgot the files</p>")
    return {
        "perezana_2001": ("2001", "perezana", True),
        "libob_2002": ("2002", "libob", True),
        "duboischloe_2003": ("2003", "duboischloe", True),
        "smithdan_2004": ("2004", "smithdan", True),
        "stoneeve_2005": ("2005", "stoneeve", False),
    }


def github_classroom_clone(root: Path) -> dict[str, tuple[str, str, bool]]:
    """``gh classroom clone student-repos``: ``<assignment>-submissions/<assignment>-<login>/``."""
    clones = root / "lesson-13-attention-submissions"
    modules_into(clones / "lesson-13-attention-ana-perez" / "exercises")
    (clones / "lesson-13-attention-ana-perez" / ".git").mkdir()
    modules_into(clones / "lesson-13-attention-boblee")
    (clones / "lesson-13-attention-chloe42").mkdir(parents=True)
    (clones / "lesson-13-attention-chloe42" / "README.md").write_text("# lesson 13\n")
    return {
        "ana-perez": ("ana-perez", "", True),
        "boblee": ("boblee", "", True),
        "chloe42": ("chloe42", "", False),
    }


GRADESCOPE_METADATA = """---
submission_111:
  :submitters:
  - :name: Ana María Pérez
    :sid: '007'
    :email: ana@example.edu
  :created_at: 2026-11-20 10:00:00.000000000 Z
  :score: 0.0
  :status: processed
  :results:
    tests:
    - name: not a submitter
  :history:
  - :id: 100
    :submitters: []
submission_222:
  :submitters:
  - :name: "Bob \\"Bobby\\" Li"
    :sid: ''
    :email: bob@example.edu
  - :name: Chloé Dubois
    :sid: '009'
    :email: chloe@example.edu
"""


def gradescope_export(root: Path) -> dict[str, tuple[str, str, bool]]:
    """Gradescope's "Export Submissions": ``assignment_<id>_export/`` with ``submission_metadata.yml``."""
    export = root / "assignment_4242_export"
    modules_into(export / "submission_111")
    modules_into(export / "submission_222" / "exercises")
    (export / "submission_metadata.yml").write_text(GRADESCOPE_METADATA, encoding="utf-8")
    return {
        "submission_111": ("007", "Ana María Pérez", True),
        "submission_222": ("bob@example.edu", 'Bob "Bobby" Li & Chloé Dubois', True),
    }
