"""Is the nbgrader source notebook in sync with ``solutions/``, worth the SPEC's points, and graded
like the grader?

These tests run the notebook's cells in this process, top to bottom in one namespace, as a kernel
would (``run_cells``); ``tests/test_nbgrader_round_trip.py`` runs the real nbgrader.
"""

from __future__ import annotations

import contextlib
import io
import json
import linecache
import re
import runpy
import warnings
from pathlib import Path

import nbformat
import pytest

from grader.checks import checks_for
from grader.contract import EXERCISES, TOTAL_POINTS
from grader.kit import notebook_runtime
from grader.kit.nbgrader_course import modules_to_notebook
from grader.kit.notebook import (
    NOTEBOOK,
    VISIBLE_CHECKS,
    build_notebook,
    check_cell_id,
    write_notebook,
)
from tests.grading_helpers import SOLUTIONS, SUBMISSIONS, changed_modules, overlay

REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION$", re.S | re.M)
HIDDEN = re.compile(r"^### BEGIN HIDDEN TESTS\n.*?^### END HIDDEN TESTS\n?", re.S | re.M)


# --- helpers: the notebook as nbgrader's student and autograde views, run in this process -------------


def nbgrader_of(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def student_view(notebook: dict, *, hidden_tests: bool) -> dict:
    """What ``nbgrader generate_assignment`` makes of the source (solutions become stubs); with
    ``hidden_tests``, the test cells as ``nbgrader autograde`` runs them (it puts the hidden tests back)."""
    notebook = json.loads(json.dumps(notebook))
    for cell in notebook["cells"]:
        if nbgrader_of(cell).get("solution"):
            cell["source"] = REGION.sub(r"\1# YOUR CODE HERE\n\1raise NotImplementedError()", cell["source"])
        elif nbgrader_of(cell).get("grade") and not hidden_tests:
            cell["source"] = HIDDEN.sub("", cell["source"])
    return notebook


def with_answers(notebook: dict, folder: Path, tmp_path: Path) -> dict:
    """``notebook`` with its answer cells holding the modules of ``folder`` (through the adapter)."""
    source, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    source.write_text(json.dumps(notebook), encoding="utf-8")
    modules_to_notebook(folder, source, out)
    return json.loads(out.read_text(encoding="utf-8"))


def run_cells(notebook: dict, only: set[str] | None = None) -> tuple[dict[str, str | None], str]:
    """Run the code cells in one namespace; returns ``{test grade_id: error or None}`` and what went to
    stderr.

    ``only``: run just these test cells (answer and read-only cells always run).
    """
    namespace: dict = {"__name__": "__main__"}
    outcomes: dict[str, str | None] = {}
    stderr = io.StringIO()
    with _kernel_like_warnings():
        for number, cell in enumerate(notebook["cells"]):
            _run_cell(number, cell, namespace, only, outcomes, stderr)
    return outcomes, stderr.getvalue()


@contextlib.contextmanager
def _kernel_like_warnings():
    """The setup cell replaces ``warnings.showwarning``, as it would in a kernel; put it back afterwards."""
    saved = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            yield
        finally:
            warnings.showwarning = saved


def _run_cell(number: int, cell: dict, namespace: dict, only, outcomes: dict, stderr: io.StringIO) -> None:
    meta = nbgrader_of(cell)
    if cell["cell_type"] != "code" or (
        meta.get("grade") and only is not None and meta["grade_id"] not in only
    ):
        return
    source = "".join(cell["source"])
    filename = f"<cell {number}>"  # IPython also keeps every cell's text in linecache
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    error = None
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, filename, "exec"), namespace)
    except Exception as exception:  # noqa: BLE001 - a failing cell is an outcome
        error = f"{type(exception).__name__}: {exception}"
    if meta.get("grade"):
        outcomes[meta["grade_id"]] = error


@pytest.fixture(scope="module")
def source_notebook() -> dict:
    return build_notebook(SOLUTIONS)


# --- the notebook as a file ---------------------------------------------------------------------------


def test_notebook_is_in_sync_with_solutions(capsys):
    """`python -m grader notebook --check` passes: the committed notebook is what solutions/ gives."""
    assert write_notebook(solutions=SOLUTIONS, out=NOTEBOOK, check=True) == 0, capsys.readouterr().err


def test_a_stale_notebook_is_reported_and_regenerated(tmp_path, capsys):
    stale = tmp_path / "lesson13.ipynb"
    stale.write_text("{}", encoding="utf-8")
    assert write_notebook(solutions=SOLUTIONS, out=stale, check=True) == 1
    assert "python -m grader notebook" in capsys.readouterr().err
    assert write_notebook(solutions=SOLUTIONS, out=stale, check=False) == 0
    assert stale.read_text(encoding="utf-8") == NOTEBOOK.read_text(encoding="utf-8")


def test_notebook_is_a_valid_nbformat_4_notebook():
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))


# --- what it holds --------------------------------------------------------------------------------------


def test_one_answer_cell_per_exercise_in_lesson_order(source_notebook):
    answers = [nbgrader_of(c)["grade_id"] for c in source_notebook["cells"] if nbgrader_of(c).get("solution")]
    assert answers == [e.module for e in EXERCISES]
    for cell in source_notebook["cells"]:
        if nbgrader_of(cell).get("solution"):
            assert not nbgrader_of(cell)["grade"] and not nbgrader_of(cell)["locked"]
            assert "### BEGIN SOLUTION" in cell["source"] and "from ." not in cell["source"]


def test_each_check_is_one_test_cell_worth_its_points(source_notebook):
    cells = {nbgrader_of(c)["grade_id"]: c for c in source_notebook["cells"] if nbgrader_of(c).get("grade")}
    expected = [
        check_cell_id(e.module, c.name) for e in EXERCISES for c in checks_for(e.module, device_checks=False)
    ]
    assert list(cells) == expected
    for exercise in EXERCISES:
        points = sum(
            nbgrader_of(cells[check_cell_id(exercise.module, c.name)])["points"]
            for c in checks_for(exercise.module, device_checks=False)
        )
        assert points == exercise.points, exercise.module
    assert sum(nbgrader_of(c)["points"] for c in cells.values()) == TOTAL_POINTS


def test_each_test_cell_has_a_hidden_region_that_runs_its_check_and_a_visible_part(source_notebook):
    visible = runpy.run_path(str(VISIBLE_CHECKS))
    for cell in source_notebook["cells"]:
        meta = nbgrader_of(cell)
        if not meta.get("grade"):
            continue
        module, check = meta["grade_id"].removeprefix("test_").split("-", 1)
        assert f'grade_check("{module}", "{check}", globals())' in HIDDEN.search(cell["source"]).group(0)
        shown = HIDDEN.sub("", cell["source"])
        assert "grader" not in shown, "the student's view must not need the grader"
        if (module, check) not in visible["HIDDEN_ONLY"]:
            assert "assert " in shown, f"{meta['grade_id']} has no visible assert"


def test_every_check_has_a_visible_assert_or_a_reason_and_no_snippet_is_stale():
    visible = runpy.run_path(str(VISIBLE_CHECKS))
    checks = {(e.module, c.name) for e in EXERCISES for c in checks_for(e.module, device_checks=False)}
    snippets = {(module, name) for module, table in visible["VISIBLE"].items() for name in table}
    assert snippets <= checks, f"snippets for checks that no longer exist: {sorted(snippets - checks)}"
    assert set(visible["HIDDEN_ONLY"]) <= checks
    assert checks - snippets == set(visible["HIDDEN_ONLY"]), (
        f"checks without a visible assert: {sorted(checks - snippets)}"
    )


# --- run as nbgrader would -------------------------------------------------------------------------------


def test_reference_passes_every_check_cell_and_writes_nothing_to_stderr(source_notebook):
    """nbgrader scores a cell that writes to stderr as zero: no warning may get there on correct code."""
    outcomes, stderr = run_cells(source_notebook)
    assert {name: error for name, error in outcomes.items() if error} == {}
    assert stderr == ""


def test_untouched_notebook_fails_every_check_cell(source_notebook):
    outcomes, stderr = run_cells(student_view(source_notebook, hidden_tests=True))
    assert all(outcomes.values()), [name for name, error in outcomes.items() if not error]
    assert all("NotImplementedError" in error or "not implemented" in error for error in outcomes.values())


def test_a_pytorch_warning_in_the_learners_code_goes_to_stdout(source_notebook, tmp_path):
    """The lesson's `nn.TransformerEncoder` warns about nested tensors: that must not cost points."""
    (tmp_path / "nothing").mkdir()
    folder = overlay(tmp_path / "nothing", tmp_path / "warns")
    source = (folder / "softmax.py").read_text(encoding="utf-8")
    warn = (
        "    import warnings\n\n"
        "    warnings.warn('enable_nested_tensor is True, but self.use_nested_tensor is False')\n"
    )
    (folder / "softmax.py").write_text(
        source.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n" + warn), encoding="utf-8"
    )
    notebook = with_answers(source_notebook, folder, tmp_path)
    only = {check_cell_id("softmax", c.name) for c in checks_for("softmax", device_checks=False)}
    outcomes, stderr = run_cells(notebook, only)
    assert stderr == ""
    assert {name: error for name, error in outcomes.items() if error} == {}


UNUSUAL = sorted(path for path in (SUBMISSIONS / "unusual").iterdir() if path.is_dir())


@pytest.mark.parametrize("fixture", UNUSUAL, ids=[path.name for path in UNUSUAL])
def test_visible_asserts_pass_on_correct_code_written_another_way(fixture, source_notebook, tmp_path):
    """A visible assert may only fail where its check fails: correct code passes them all (student's view)."""
    notebook = with_answers(
        student_view(source_notebook, hidden_tests=False), overlay(fixture, tmp_path / "submission"), tmp_path
    )
    only = {
        check_cell_id(m, c.name) for m in changed_modules(fixture) for c in checks_for(m, device_checks=False)
    }
    outcomes, stderr = run_cells(notebook, only)
    assert {name: error for name, error in outcomes.items() if error} == {}
    assert stderr == ""


MUTANTS = sorted(path for path in (SUBMISSIONS / "mutants").iterdir() if path.is_dir())


@pytest.mark.slow
@pytest.mark.parametrize("fixture", MUTANTS, ids=[path.name for path in MUTANTS])
def test_a_check_cell_fails_exactly_when_its_check_fails(fixture, source_notebook, tmp_path):
    """On every mistake in the corpus, nbgrader's cell score is the grader's check score (visible
    asserts included)."""
    notebook = with_answers(source_notebook, overlay(fixture, tmp_path / "submission"), tmp_path)
    modules = changed_modules(fixture)
    only = {check_cell_id(m, c.name) for m in modules for c in checks_for(m, device_checks=False)}
    notebook_runtime._RESULTS.clear()
    outcomes, stderr = run_cells(notebook, only)
    graded = {
        check_cell_id(r[1].module, c.name): c.status
        for r in notebook_runtime._RESULTS.values()
        for c in r[1].checks
    }
    mismatched = {
        name: error for name, error in outcomes.items() if (error is None) != (graded[name] == "passed")
    }
    assert mismatched == {}
    assert stderr == ""


def test_the_source_folder_holds_only_the_generated_notebook():
    """nbgrader treats every file under source/<assignment>/ as part of the assignment."""
    source = NOTEBOOK.parents[1]
    names = {
        str(p.relative_to(source))
        for p in source.rglob("*")
        if p.is_file() and ".ipynb_checkpoints" not in p.parts
    }
    assert names == {"lesson13/lesson13.ipynb"}, names
