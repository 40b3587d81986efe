"""Does the real nbgrader, running the generated notebook, give each learner what the grader gives?

``python -m grader grade`` is the grader here.

In a temporary course folder: ``nbgrader generate_assignment`` turns the source notebook into the student
notebook (stubs, hidden tests removed); three learners hand it in — one correct, one partly wrong (who
also empties a check cell), one untouched — and ``nbgrader autograde`` grades them, warning about the
emptied cell and no other. The adapter turns the same three notebooks into
modules and ``python -m grader grade`` grades those. Every check cell's score in nbgrader's gradebook must
equal the grader's score for that check. Nothing is skipped: without nbgrader this fails.

The kernel nbgrader starts is this interpreter (a kernelspec written into the course's own Jupyter path),
and it finds ``grader`` and ``solutions`` through PYTHONPATH, as an instructor's kernel would find the kit.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.checks import checks_for
from grader.contract import ASSIGNMENT, EXERCISES
from grader.intake.nbgrader import discover_nbgrader
from grader.kit.nbgrader_course import isolated_jupyter, modules_to_notebook
from grader.kit.notebook import NOTEBOOK, check_cell_id

REPO = Path(__file__).resolve().parent.parent
MUTANTS = REPO / "tests" / "submissions" / "mutants"
# Partly wrong: three realistic mistakes (one in masking, which later exercises import) and one
# exercise not started.
PARTLY_WRONG = (
    "softmax_without_max_subtraction",
    "nan_on_fully_masked_rows",
    "splits_heads_with_view_not_transpose",
)
NOT_STARTED = "classifier.py"
STUDENTS = ("alice_correct", "bob_partly_wrong", "carol_untouched")
# Bob also empties one check cell (locked, but a text editor ignores that): nbgrader must put its hidden
# test back and warn about that cell, and about no untouched one.
EDITED_CHECK_CELL = check_cell_id("softmax", "slices_sum_to_one")
COMMAND_TIMEOUT_S = 900


def run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def learner_modules(target: Path, mutants: tuple[str, ...] = (), missing: tuple[str, ...] = ()) -> Path:
    """The reference modules with the given mistakes laid over them and the ``missing`` files left out."""
    target.mkdir(parents=True)
    for path in (REPO / "solutions").glob("*.py"):
        shutil.copy(path, target / path.name)
    for mutant in mutants:
        for path in (MUTANTS / mutant).glob("*.py"):
            shutil.copy(path, target / path.name)
    for name in missing:
        (target / name).unlink()
    return target


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """Generate, hand in, autograde with nbgrader; grade the same notebooks with the grader.

    Returns both gradebooks.
    """
    root = tmp_path_factory.mktemp("nbgrader-course")
    env = isolated_jupyter(root)
    course = root / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(NOTEBOOK.parents[2] / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copy(NOTEBOOK, course / "source" / ASSIGNMENT / NOTEBOOK.name)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    run([*nbgrader, "generate_assignment", ASSIGNMENT, "--force"], course, env)
    released = course / "release" / ASSIGNMENT / NOTEBOOK.name

    folders = {
        "alice_correct": learner_modules(root / "alice"),
        "bob_partly_wrong": learner_modules(root / "bob", PARTLY_WRONG, (NOT_STARTED,)),
    }
    for student in STUDENTS:
        handed_in = course / "submitted" / student / ASSIGNMENT / NOTEBOOK.name
        handed_in.parent.mkdir(parents=True)
        if student in folders:
            modules_to_notebook(folders[student], released, handed_in)
        else:
            shutil.copy(released, handed_in)
    edit_check_cell(course / "submitted" / "bob_partly_wrong" / ASSIGNMENT / NOTEBOOK.name, EDITED_CHECK_CELL)
    autograde = run([*nbgrader, "autograde", ASSIGNMENT, "--force"], course, env)
    nbgrader_scores = json.loads(run([sys.executable, "-c", READ_GRADEBOOK, ASSIGNMENT], course, env).stdout)

    classroom = root / "extracted"  # what the adapter makes of each notebook, graded as a class by the CLI
    for submission in discover_nbgrader(course, root / "scratch"):
        assert submission.problems == [], submission.problems
        shutil.copytree(submission.folder, classroom / submission.name)
    out = root / "grades"
    run(
        [sys.executable, "-m", "grader", "grade", str(classroom), "--out", str(out), "--jobs", "2"], REPO, env
    )
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    in_notebook = {(e.module, c.name) for e in EXERCISES for c in checks_for(e.module, device_checks=False)}
    grader_scores = {
        s["submission"]: {
            check_cell_id(e["module"], c["name"]): c["score"]
            for e in s["exercises"]
            for c in e["checks"]
            if (e["module"], c["name"]) in in_notebook  # the device checks have no cell (and no points)
        }
        for s in results["submissions"]
    }
    return {
        "course": course,
        "released": released,
        "nbgrader": nbgrader_scores,
        "grader": grader_scores,
        "autograde_log": autograde.stdout + autograde.stderr,
    }


def edit_check_cell(notebook_path: Path, grade_id: str) -> None:
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    (cell,) = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id]
    cell["source"] = "pass  # nothing to check here\n"
    notebook_path.write_text(json.dumps(notebook), encoding="utf-8")


READ_GRADEBOOK = """
import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///gradebook.db") as gradebook:
    scores = {}
    for submission in gradebook.assignment_submissions(sys.argv[1]):
        for notebook in submission.notebooks:
            scores[submission.student.id] = {grade.name: grade.score for grade in notebook.grades}
print(json.dumps(scores))
"""


def test_generate_assignment_gives_stubs_and_no_hidden_tests(course):
    released = json.loads(course["released"].read_text(encoding="utf-8"))
    text = "".join("".join(cell["source"]) for cell in released["cells"])
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text and "grade_check" not in text
    answers = [c for c in released["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert len(answers) == len(EXERCISES)
    assert all("raise NotImplementedError()" in "".join(cell["source"]) for cell in answers)


def test_autograde_gives_every_check_what_the_grader_gives(course):
    expected = {
        check_cell_id(e.module, c.name) for e in EXERCISES for c in checks_for(e.module, device_checks=False)
    }
    assert set(course["nbgrader"]) == set(STUDENTS)
    for student in STUDENTS:
        nbgrader, grader = course["nbgrader"][student], course["grader"][student]
        assert set(nbgrader) == set(grader) == expected
        assert {
            cell: (nbgrader[cell], grader[cell]) for cell in expected if nbgrader[cell] != grader[cell]
        } == {}, student


def test_the_three_learners_score_full_partial_and_zero(course):
    totals = {student: sum(course["nbgrader"][student].values()) for student in STUDENTS}
    assert totals["alice_correct"] == 100
    assert 0 < totals["bob_partly_wrong"] < 100
    assert totals["carol_untouched"] == 0
    bob = course["nbgrader"]["bob_partly_wrong"]
    by_exercise = {
        e.module: sum(bob[check_cell_id(e.module, c.name)] for c in checks_for(e.module, device_checks=False))
        for e in EXERCISES
    }
    # A masking mistake costs points in masking only: later exercises run with the reference standing in.
    assert by_exercise["self_attention"] == 10 and by_exercise["encoder"] == 20
    assert by_exercise["masking"] < 20 and by_exercise["classifier"] == 0


def test_autograde_warns_about_the_edited_check_cell_and_no_untouched_one(course):
    """Does nbgrader_config.py silence the checksum warning for untouched cells (jupyter/nbgrader#1961),
    and only for them?"""
    changed = re.findall(r"Attribute 'checksum' for cell (\S+) has changed!", course["autograde_log"])
    assert changed == [EDITED_CHECK_CELL]
    for student in STUDENTS:
        graded = course["course"] / "autograded" / student / ASSIGNMENT / NOTEBOOK.name
        cells = json.loads(graded.read_text(encoding="utf-8"))["cells"]
        restored = [c for c in cells if c["metadata"].get("nbgrader", {}).get("points") is not None]
        assert restored and all("### BEGIN HIDDEN TESTS" in "".join(c["source"]) for c in restored), student


def test_no_check_cell_of_the_correct_notebook_writes_to_stderr(course):
    graded = course["course"] / "autograded" / "alice_correct" / ASSIGNMENT / NOTEBOOK.name
    notebook = json.loads(graded.read_text(encoding="utf-8"))
    stderr = [
        cell["metadata"].get("nbgrader", {}).get("grade_id")
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr" or output.get("output_type") == "error"
    ]
    assert stderr == []
