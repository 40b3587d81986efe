"""Can one submission stop, redirect or overwrite the class? Intake and grading under hostile input.

Four behaviours, each closed as a class of weakness rather than one spelling:

- pathological parses: learner text the grader's own process parses (source, notebook JSON, cells)
  nested 100 000 deep or megabytes long becomes a note on that submission, never an exception or a
  crash of the interpreter;
- confinement: whatever one submission's intake or grading raises costs that submission only;
- the layout is decided from the class: an entry called ``submitted`` does not make the class nbgrader's;
- unique outputs: every entry has its own row, record, feedback and Gradescope file, whatever its name.

The whole-class attacks (layout, names, confinement) are graded once through ``python -m grader grade``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from grader.contract import EXERCISES
from grader.forbidden import forbidden_uses
from grader.gradebook import Gradebook, submission_fingerprint
from grader.intake import confined
from grader.intake.bounded_parse import Unanalysable, load_json, parse_python
from grader.intake.layout import CLASS, NBGRADER, ONE_SUBMISSION, detect_layout, discover, take_in
from grader.intake.nbgrader import discover_nbgrader
from grader.intake.notebook_cells import notebook_to_modules
from grader.intake.submission import extract_modules
from grader.names import file_stem, is_plain, tagged_stem, unique_names
from grader.results import ERROR, CheckResult, ExerciseResult, SubmissionResult
from grader.safe_text import for_csv_cell
from grader.sandbox.protections import SandboxError
from tests.test_nbgrader_submissions import answer, source_cells, write

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
DEEP = 100_000

# --- pathological parses --------------------------------------------------------------------------

PATHOLOGICAL = {
    "parenthesised sum": "x = " + "1+(" * DEEP + "1" + ")" * DEEP + "\n",
    "nested lists": "x = " + "[" * DEEP + "]" * DEEP + "\n",
    "attribute chain": "x = a" + ".b" * DEEP + "\n",
    "flat sum": "x = " + "1+" * DEEP + "1\n",
    "not chain": "x = " + "not " * 30_000 + "y\n",  # under the size bound: the parser's own stack overflows
    "elif chain": "if a: pass\n" + "elif a: pass\n" * 15_000,
    "lambda chain": "x = " + "lambda: " * 20_000 + "1\n",
    "5 MB on one line": "x = " + "1+" * 2_500_000 + "1\n",
}


class TestPathologicalParses:
    @pytest.mark.parametrize("kind", PATHOLOGICAL)
    def test_the_source_scan_gives_a_reason_instead_of_an_exception(self, kind):
        """RecursionError and MemoryError stopped the whole run; a syntax error is still the learner's own."""
        try:
            assert forbidden_uses(PATHOLOGICAL[kind], "softmax.py") == []
        except Unanalysable as error:
            assert error.reason.startswith(("nested too deeply", "too large")), error.reason

    def test_a_deep_but_valid_chain_is_read_and_its_forbidden_name_found(self):
        """2000 levels compile; ``ast.unparse`` on them recursed past the limit and stopped the run."""
        source = "def f():\n    return torch" + ".a" * 2000 + ".scaled_dot_product_attention\n"
        (use,) = forbidden_uses(source, "attention.py")
        assert use.startswith("attention.py line 2: ") and use.endswith(".a.scaled_dot_product_attention")
        assert len(use) < 120

    def test_a_small_thread_stack_never_crashes_the_interpreter(self):
        """Near its limit the parser needs ~1 MiB of C stack: on a smaller thread stack the process died."""
        script = textwrap.dedent(
            """
            import threading
            from grader.intake.bounded_parse import Unanalysable
            from grader.forbidden import forbidden_uses
            from grader.intake.notebook_cells import free_names

            sources = ["x = " + "not " * 5000 + "y\\n", "x = " + "1 if y else " * 4000 + "2\\n"]

            def scan():
                for source in sources:
                    for read in (lambda: forbidden_uses(source, "m.py"), lambda: free_names(source)):
                        try:
                            read()
                        except Unanalysable:
                            pass

            threading.stack_size(256 * 1024)
            worker = threading.Thread(target=scan)
            worker.start()
            worker.join()
            print("survived")
            """
        )
        command = [sys.executable, "-c", script]
        completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0 and completed.stdout.strip() == "survived", completed

    def test_json_nested_deeply_is_unanalysable_not_an_exception(self):
        with pytest.raises(Unanalysable, match="nested too deeply"):
            load_json("[" * DEEP + "]" * DEEP)
        with pytest.raises(SyntaxError):
            parse_python("def broken(:\n")

    def test_a_notebook_nested_100_000_deep_is_a_note(self, tmp_path):
        notebook = tmp_path / "lesson13.ipynb"
        notebook.write_text('{"cells": ' + "[" * DEEP + "]" * DEEP + "}", encoding="utf-8")
        (problem,) = notebook_to_modules(notebook, tmp_path / "modules")
        assert confined.is_note(problem) and "could not be analysed: nested too deeply" in problem

    @pytest.mark.parametrize("where", ["answer cell", "other cell"])
    def test_a_cell_too_deep_to_analyse_is_a_note_and_the_others_are_written(self, tmp_path, where):
        """symtable on an answer cell, ``ast.parse`` on any other code cell: both raised out of the intake."""
        cells = source_cells()
        deep = "x = " + "not " * 30_000 + "y\n"
        if where == "answer cell":
            answer(cells, "masking")["source"] = deep
        else:
            cells.append({"cell_type": "code", "metadata": {}, "source": deep, "outputs": []})
        problems = notebook_to_modules(write(tmp_path / "lesson13.ipynb", cells), tmp_path / "modules")
        noted = [p for p in problems if confined.is_note(p)]
        assert len(noted) == 1 and "could not analyse: nested too deeply" in noted[0], problems
        written = sorted(p.name for p in (tmp_path / "modules").glob("*.py"))
        assert written == sorted(e.filename for e in EXERCISES)

    def test_odd_values_in_a_notebook_are_reported_not_raised(self, tmp_path):
        """A lone surrogate in a cell stopped the intake (symtable, the UTF-8 write); a nested ename too."""
        cells = source_cells()
        answer(cells, "softmax")["source"] = "x = '\ud800'\n"
        nested: list = []
        for _ in range(900):
            nested = [nested]
        answer(cells, "attention")["outputs"] = [{"output_type": "error", "ename": nested, "evalue": nested}]
        problems = notebook_to_modules(write(tmp_path / "lesson13.ipynb", cells), tmp_path / "modules")
        assert any("softmax cell that does not parse" in p for p in problems), problems
        assert any("shows an error in the attention cell" in p for p in problems), problems
        assert (tmp_path / "modules" / "softmax.py").is_file()


# --- confinement ----------------------------------------------------------------------------------


def encrypted_zip(path: Path) -> Path:
    """A zip whose member says it is encrypted: ``ZipFile.open`` raises RuntimeError (wants a password)."""
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("softmax.py", (SOLUTIONS / "softmax.py").read_bytes())
    data = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory
        data[data.index(signature) + flags_at] |= 0x1
    path.write_bytes(bytes(data))
    return path


def corrupt_deflate_zip(path: Path) -> Path:
    """A zip whose compressed data is garbage: reading it raises ``zlib.error``."""
    source = (SOLUTIONS / "softmax.py").read_bytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("softmax.py", source)
    data = bytearray(path.read_bytes())
    start = data.index(b"softmax.py") + len("softmax.py")
    data[start : start + 40] = bytes(range(200, 240))
    path.write_bytes(bytes(data))
    return path


class TestConfinement:
    @pytest.mark.parametrize("make", [encrypted_zip, corrupt_deflate_zip], ids=["encrypted", "corrupt"])
    def test_a_zip_the_standard_library_chokes_on_costs_only_its_learner(self, tmp_path, make):
        klass = tmp_path / "class"
        shutil.copytree(SOLUTIONS, klass / "alice", ignore=shutil.ignore_patterns("__pycache__"))
        make(klass / "mallory.zip")
        found = {s.name: s for s in discover(klass, tmp_path / "scratch")}
        assert found["alice"].problems == [] and found["alice"].has_module("softmax.py")
        mallory = found["mallory"]
        assert mallory.folder is None and "could not be read as a zip" in mallory.problems[0]

    def test_a_zip_with_a_huge_table_of_contents_is_refused_before_it_is_parsed(self, tmp_path):
        """zipfile parses the whole table before anyone can count it: 100 000 entries, seconds and 100 MB."""
        archive = tmp_path / "many.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            for number in range(100_000):
                bundle.writestr(f"{number:05d}", b"")
        with pytest.raises(ValueError, match="table of contents"):
            extract_modules(archive, tmp_path / "target")

    def test_whatever_reading_one_entry_raises_is_that_entrys_problem(self, tmp_path, monkeypatch):
        import grader.intake.submission as submission

        klass = tmp_path / "class"
        for name in ("alice", "mallory"):
            shutil.copytree(SOLUTIONS, klass / name, ignore=shutil.ignore_patterns("__pycache__"))
        real = submission.find_modules

        def find_modules(folder, depth=0):
            if folder.name == "mallory":
                raise RecursionError("maximum recursion depth exceeded")
            return real(folder, depth)

        monkeypatch.setattr(submission, "find_modules", find_modules)
        found = {s.name: s for s in discover(klass, tmp_path / "scratch")}
        assert found["alice"].problems == []
        (problem,) = found["mallory"].problems
        assert confined.is_note(problem) and "could not be read: RecursionError" in problem

    def test_whatever_grading_one_exercise_raises_is_that_exercises_error(self, tmp_path, monkeypatch):
        """Only the sandbox's own failure stops the run: it would fail every submission alike."""
        import grader.grading as grading
        from grader.intake.submission import Submission

        def grade_exercise(submission, graded, runner, settings, forbidden_paths=()):
            if submission.name == "mallory" and graded.module == "masking":
                raise MemoryError("the grader's own process ran out")
            if submission.name == "sandbox":
                raise SandboxError("the sandbox's fork server stopped responding")
            passed = CheckResult("a", "a", "passed", 1, 1)
            return ExerciseResult(graded.module, graded.number, graded.points, [passed])

        monkeypatch.setattr(grading, "grade_exercise", grade_exercise)
        submissions = [Submission(name, tmp_path) for name in ("alice", "mallory")]
        done: list[SubmissionResult] = []
        grading.grade_submissions(submissions, runner=None, on_done=done.append, jobs=2)
        results = {r.submission: r for r in done}
        assert results["alice"].total == len(EXERCISES) and not confined.hit(results["alice"])
        masking = next(e for e in results["mallory"].exercises if e.module == "masking")
        assert {c.status for c in masking.checks} == {ERROR} and masking.score == 0
        assert "MemoryError: the grader's own process ran out" in masking.checks[0].message
        assert confined.hit(results["mallory"]) and results["mallory"].total == len(EXERCISES) - 1
        with pytest.raises(SandboxError):
            grading.grade_submissions([Submission("sandbox", tmp_path)], runner=None, on_done=done.append)

    def test_an_unreadable_or_foreign_record_is_graded_again_not_raised(self, tmp_path):
        gradebook = Gradebook(tmp_path)
        foreign = {"fingerprint": [], "result": {"submission": "alice"}}  # no exercises: another version's
        gradebook.path_for("alice").write_text(json.dumps(foreign))
        gradebook.path_for("bob").write_text('{"fingerprint": ["a", "b"], "result": {"submiss')
        assert gradebook.load("alice") is None and gradebook.load("bob") is None

    def test_a_submission_whose_record_is_missing_still_gets_a_row(self, tmp_path, monkeypatch):
        from grader import bulk

        klass, out = tmp_path / "class", tmp_path / "out"
        for name in ("alice", "bob"):
            (klass / name).mkdir(parents=True)
        gradebook = Gradebook(out)
        for found in discover(klass, tmp_path / "scratch"):
            gradebook.save(SubmissionResult(found.name, notes=["recorded"]), submission_fingerprint(found))
        loaded = {"alice": SubmissionResult("alice")}
        monkeypatch.setattr(Gradebook, "load", lambda self, name: loaded.get(name))
        results = {r.submission: r for r in bulk.grade(klass, out=out, progress_stream=open(os.devnull, "w"))}
        assert set(results) == {"alice", "bob"}
        assert confined.hit(results["bob"]) and results["bob"].max_score == 100
        with (out / "grades.csv").open(newline="") as handle:
            assert sorted(row["submission"] for row in csv.DictReader(handle)) == ["alice", "bob"]


# --- the layout, decided from the class -----------------------------------------------------------


def notebook_at(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"cells": []}', encoding="utf-8")
    return path


def modules_at(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOLUTIONS / "softmax.py", folder / "softmax.py")
    return folder


class TestLayoutFromTheClass:
    def test_an_entry_called_submitted_with_checkpoint_notebooks_is_one_learner(self, tmp_path):
        """Its ``exercises/.ipynb_checkpoints/*.ipynb`` matched ``submitted/*/*/*.ipynb``: the class was
        taken for nbgrader's, one row "exercises" for the whole class."""
        klass = tmp_path / "class"
        modules_at(klass / "alice")
        modules_at(klass / "submitted" / "exercises")
        notebook_at(klass / "submitted" / "exercises" / ".ipynb_checkpoints" / "softmax-checkpoint.ipynb")
        layout = detect_layout(klass)
        assert layout.kind == CLASS and "alice" in layout.why, layout
        assert [s.name for s in discover(klass, tmp_path / "scratch")] == ["alice", "submitted"]

    def test_an_nbgrader_shaped_entry_beside_learners_is_one_learner(self, tmp_path):
        klass = tmp_path / "class"
        modules_at(klass / "alice")
        (klass / "bob.zip").write_bytes(b"not a zip")
        notebook_at(klass / "submitted" / "s1" / "lesson13" / "lesson13.ipynb")
        (klass / "nbgrader_config.py").write_text("c = get_config()\n")
        layout = detect_layout(klass)
        assert layout.kind == CLASS and "alice, bob.zip" in layout.why, layout
        intake = take_in(klass, tmp_path / "scratch")
        assert [s.name for s in intake.submissions] == ["alice", "bob", "submitted"]
        assert [name for name, _ in intake.skipped] == ["nbgrader_config.py"]

    @pytest.mark.parametrize("entry", ["source", "autograded", "nbgrader_config.py", "gradebook.db"])
    def test_nbgrader_named_entries_alone_never_make_a_class_nbgrader(self, tmp_path, entry):
        klass = tmp_path / "class"
        modules_at(klass / "alice")
        if entry.endswith((".py", ".db")):
            (klass / entry).write_text("x\n")
        else:
            modules_at(klass / entry)
        assert detect_layout(klass).kind == CLASS

    def test_a_course_folder_and_its_submitted_folder_are_nbgrader(self, tmp_path):
        course = tmp_path / "course"
        for student in ("s1", "s2"):
            notebook_at(course / "submitted" / student / "lesson13" / "lesson13.ipynb")
        (course / "submitted" / "s3").mkdir()  # handed in nothing: still a student
        (course / "source" / "lesson13").mkdir(parents=True)
        (course / "nbgrader_config.py").write_text("c = get_config()\n")
        (course / "README.md").write_text("notes\n")
        for path in (course, course / "submitted"):
            layout = detect_layout(path)
            assert layout.kind == NBGRADER and "2 of its 3 student folders" in layout.why, layout

    def test_a_submitted_folder_that_holds_learners_modules_or_zips_is_a_class(self, tmp_path):
        submitted = tmp_path / "submitted"
        notebook_at(submitted / "s1" / "lesson13" / "lesson13.ipynb")
        modules_at(submitted / "alice")
        layout = detect_layout(submitted)
        assert layout.kind == CLASS and "alice hold the exercise modules" in layout.why, layout
        shutil.rmtree(submitted / "alice")
        (submitted / "bob.zip").write_bytes(b"")
        assert detect_layout(submitted).kind == CLASS and "bob.zip" in detect_layout(submitted).why

    def test_one_submission_and_one_notebook_say_why(self, tmp_path):
        layout = detect_layout(SOLUTIONS)
        assert layout.kind == ONE_SUBMISSION and "PATH itself holds softmax.py" in layout.why
        notebook = notebook_at(tmp_path / "ada.ipynb")
        assert detect_layout(notebook).kind == NBGRADER
        (submission,) = discover_nbgrader(notebook, tmp_path / "scratch")
        assert submission.name == "ada"


# --- unique outputs -------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "alice",
    "Alice",
    "bob smith",
    "bob_smith",
    "bob-smith",
    "",
    "!!!",
    "submission",
    "x" * 10_000,
    "x" * 9_999 + "y",
    "a∕b",
    "a\\b",
    "tab\there",
    "con",
    "nul.txt",
    "lpt1",
    "\udcff\udcfe",
    "\udcfe\udcff",
    "..",
    "x.zip",
    "alice-" + tagged_stem("alice").rsplit("-", 1)[1],
]


class TestUniqueOutputs:
    def test_every_name_gets_its_own_file_stem_even_on_a_case_insensitive_disk(self):
        stems = [file_stem(name) for name in HOSTILE_NAMES]
        assert len({stem.casefold() for stem in stems}) == len(HOSTILE_NAMES), stems
        for stem in stems:
            assert 0 < len(stem.encode()) <= 80 and stem.isascii() and stem.isprintable()
            assert "/" not in stem and "\\" not in stem and not stem.startswith((".", "-"))
            assert stem.split(".")[0].lower() not in {"con", "nul", "lpt1"}

    def test_plain_names_keep_their_own_stem_and_every_stem_is_stable(self):
        assert [file_stem(n) for n in ("alice", "only_softmax", "s1024", "bob.v2")] == [
            "alice",
            "only_softmax",
            "s1024",
            "bob.v2",
        ]
        assert not is_plain("Alice") and not is_plain("alice-" + "0" * 12) and not is_plain("con.txt")
        assert file_stem("bob smith") == file_stem("bob smith") != file_stem("bob_smith")
        assert file_stem("bob smith").startswith("bob_smith-")

    def test_every_name_gets_its_own_record_found_again_by_a_new_gradebook(self, tmp_path):
        """A 10 000-character name stopped the run (ENAMETOOLONG); undecodable bytes were not writable."""
        gradebook = Gradebook(tmp_path)
        for number, name in enumerate(HOSTILE_NAMES):
            gradebook.save(SubmissionResult(name, notes=[f"learner {number}"]), f"fingerprint {number}")
        assert len(list(gradebook.folder.glob("*.json"))) == len(HOSTILE_NAMES)
        again = Gradebook(tmp_path)
        for number, name in enumerate(HOSTILE_NAMES):
            loaded = again.load(name)
            assert loaded is not None and loaded.submission == name and loaded.notes == [f"learner {number}"]

    def test_a_folder_and_a_zip_of_one_name_are_two_learners(self, tmp_path):
        klass = tmp_path / "class"
        for name in ("x", "y"):
            modules_at(klass / name)
        for name in ("x.zip", "x.zip.zip", "Y.ZIP"):
            with zipfile.ZipFile(klass / name, "w") as bundle:
                bundle.writestr("softmax.py", "x = 1\n")
        entries = sorted(klass.iterdir())
        assert unique_names(entries) == ["Y", "x", "x.zip", "x.zip.zip", "y"]
        found = [s.name for s in discover(klass, tmp_path / "scratch")]
        assert found == ["Y", "x", "x.zip", "x.zip.zip", "y"]


# --- the whole class, through the command ---------------------------------------------------------


def grade_command(klass: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "2"]
    command += ["--cuda", "off", *extra]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def rows(out: Path) -> dict[str, dict[str, str]]:
    """grades.csv's rows by exact entry name (the column shows a control character as an escape)."""
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        shown = {row["submission"]: row for row in csv.DictReader(handle)}
    exact = {for_csv_cell(name): name for name in CLASS_ENTRIES}
    return {exact.get(name, name): row for name, row in shown.items()}


PROGRESS_LINE = re.compile(r"\[\d+/\d+\] (.*): [\d.]+/[\d.]+ \([\d.]+ s\)")


def progress_names(completed: subprocess.CompletedProcess) -> list[str]:
    progress = (PROGRESS_LINE.match(line) for line in completed.stderr.splitlines())
    return [match[1] for match in progress if match]


LONG = "l" * 250  # its old record name, "<250 l>-<hash>.json", was longer than a file name may be
# Entry -> its softmax total: 10 with the reference's softmax.py, 0 without one. Each colliding pair
# differs, so a shared record or file shows as a wrong score.
CLASS_ENTRIES = {
    "alice": 10,
    "submitted": 10,  # holds exercises/.ipynb_checkpoints/*.ipynb: the class became nbgrader's
    "source": 10,
    "x": 10,
    "x.zip": 0,
    "bob smith": 10,
    "bob_smith": 0,
    "Carol": 10,
    "carol": 0,
    LONG: 0,
    "!!!": 0,
    "submission": 10,
    "tab\there": 0,
    "a∕b": 0,
    "deep": 0,  # softmax.py nested past the parser's limit: a note, and an import error in the sandbox
    "encrypted": 0,
}


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-class")
    klass = root / "class"
    klass.mkdir()
    for name, score in CLASS_ENTRIES.items():
        if name in ("x.zip", "encrypted", "deep"):
            continue
        (klass / name).mkdir()
        if score:
            shutil.copy(SOLUTIONS / "softmax.py", klass / name / "softmax.py")
    (klass / "submitted" / "softmax.py").unlink()
    modules_at(klass / "submitted" / "exercises")
    notebook_at(klass / "submitted" / "exercises" / ".ipynb_checkpoints" / "softmax-checkpoint.ipynb")
    (klass / "nbgrader_config.py").write_text("c = get_config()\n")
    with zipfile.ZipFile(klass / "x.zip", "w") as bundle:
        bundle.writestr("notes.txt", "no module here\n")
    (klass / "deep").mkdir()
    (klass / "deep" / "softmax.py").write_text("x = a" + ".b" * 5000 + "\n")
    encrypted_zip(klass / "encrypted.zip")
    out = root / "out"
    return klass, out, grade_command(klass, out)


class TestTheClassThroughTheCommand:
    def test_the_run_completes_and_says_its_layout_and_its_confined_errors(self, hostile_class):
        _, _, completed = hostile_class
        assert completed.returncode == 0, completed.stderr[-3000:]
        layout = next(line for line in completed.stderr.splitlines() if line.startswith("layout: "))
        assert layout.startswith("layout: class folder: each folder or .zip in PATH is one learner's"), layout
        assert "PATH holds a submitted/ entry" in layout
        assert "1 submission(s) hit a limit or an error of the grader" in completed.stderr

    def test_every_entry_has_its_own_row_with_its_own_score(self, hostile_class):
        _, out, _ = hostile_class
        got = {name: float(row["softmax"]) for name, row in rows(out).items()}
        assert got == {name: float(score) for name, score in CLASS_ENTRIES.items()}

    def test_every_entry_has_its_own_record_feedback_and_gradescope_file(self, hostile_class):
        _, out, _ = hostile_class
        table = rows(out)
        assert len(list((out / "submissions").glob("*.json"))) == len(CLASS_ENTRIES)
        assert len(list((out / "feedback").glob("*.md"))) == len(CLASS_ENTRIES)
        assert len({file_stem(name).casefold() for name in table}) == len(CLASS_ENTRIES)
        for name, row in table.items():
            stem = file_stem(name)
            assert (out / "feedback" / f"{stem}.html").is_file()
            gradescope = json.loads((out / "gradescope" / f"{stem}.json").read_text(encoding="utf-8"))
            assert gradescope["score"] == float(row["total"]), name

    def test_the_reasons_are_in_results_json(self, hostile_class):
        _, out, _ = hostile_class
        by_name = {s["submission"]: s for s in json.loads((out / "results.json").read_text())["submissions"]}
        softmax = next(e for e in by_name["deep"]["exercises"] if e["module"] == "softmax")
        said = confined.MARK + "softmax.py could not be analysed: nested too deeply"
        assert any(note.startswith(said) for note in softmax["notes"])
        assert "could not be read as a zip: RuntimeError" in by_name["encrypted"]["notes"][0]
        assert "nbgrader_config.py" not in by_name

    def test_a_loose_file_is_no_learner_and_is_listed_with_why(self, hostile_class):
        """A loose file in a class folder once got a row of its own at 0: a learner who does not exist."""
        _, out, completed = hostile_class
        said = "nbgrader_config.py: a loose file, neither a learner's folder nor a .zip"
        assert f"skipped: {said}" in completed.stderr
        summary = (out / "summary.md").read_text(encoding="utf-8")
        assert "| nbgrader\\_config.py | a loose file, neither a learner's folder nor a .zip |" in summary

    def test_a_rerun_finds_every_record_and_regrade_takes_any_name(self, hostile_class):
        klass, out, _ = hostile_class
        again = grade_command(klass, out)
        assert again.returncode == 0 and progress_names(again) == [], again.stderr[-2000:]
        redo = grade_command(klass, out, "--regrade", "bob smith", "--regrade", "x.zip")
        assert redo.returncode == 0, redo.stderr[-2000:]
        assert sorted(progress_names(redo)) == ["bob smith", "x.zip"]
        assert {name: float(row["softmax"]) for name, row in rows(out).items()}["x.zip"] == 0
