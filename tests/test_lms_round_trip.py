"""Export → grade → import: an LMS's whole-class download graded through the command line, and the
gradebook it writes taken back into the same LMS, matched on the ids the export gave.

Small classes (a module or two each, so the run is short): a Moodle "download all submissions" zip
graded and exported into Moodle's grading worksheet and feedback zip, a Canvas "download submissions"
folder graded and exported into Canvas's gradebook; and the bundled example export as the README's quick
start grades it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.intake.layout import MOODLE, take_in
from tests.lms_exports import SOLUTIONS, modules_into, zip_folder, zip_modules

REPO = Path(__file__).resolve().parent.parent
LIGHT = ["softmax.py", "attention.py"]  # quick to grade: the other exercises are missing


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="module")
def moodle_graded(tmp_path_factory):
    """A Moodle export zip: Ana (two modules, in a folder), Bob (softmax.py in his zip), Dan (online
    text only); graded through ``python -m grader grade``."""
    root = tmp_path_factory.mktemp("moodle")
    export = root / "export"
    modules_into(export / "Ana María Pérez_1001_assignsubmission_file", LIGHT)
    (export / "Bob Li_1002_assignsubmission_file").mkdir()
    with zipfile.ZipFile(export / "Bob Li_1002_assignsubmission_file" / "bob.zip", "w") as bundle:
        bundle.write(SOLUTIONS / "softmax.py", "lesson/softmax.py")
    (export / "Dan Smith_1004_assignsubmission_onlinetext").mkdir(parents=True)
    (export / "Dan Smith_1004_assignsubmission_onlinetext" / "onlinetext.html").write_text("<p>hi</p>")
    archive = zip_folder(export, root / "DL101-Lesson 13-4521.zip")
    out = root / "graded"
    completed = run("grade", str(archive), "--out", str(out), "--jobs", "2", "--cuda", "off")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return root, out, completed


class TestMoodleRoundTrip:
    def test_the_run_says_what_it_found(self, moodle_graded):
        _, _, completed = moodle_graded
        assert "layout: Moodle assignment export: PATH is a .zip of a whole class" in completed.stderr
        assert (
            "found: 3 participant(s): 2 graded, 1 without a submission; 3 entries seen, 0 skipped"
            in completed.stderr
        )

    def test_grades_csv_keeps_the_spec_columns_then_the_lms_identity(self, moodle_graded):
        _, out, _ = moodle_graded
        rows = read_csv(out / "grades.csv")
        assert rows[0] == ["submission", "total", "max", "softmax", "attention", "masking", "self_attention",
                           "multi_head", "encoder", "classifier", "lms_id", "lms_name"]  # fmt: skip
        got = {row[0]: (row[1], row[-2], row[-1]) for row in rows[1:]}
        assert got == {
            "Ana María Pérez_1001": ("25", "1001", "Ana María Pérez"),
            "Bob Li_1002": ("10", "1002", "Bob Li"),
            "Dan Smith_1004": ("0", "1004", "Dan Smith"),
        }

    def test_the_worksheet_gets_each_participants_grade_and_the_rest_is_listed(self, moodle_graded):
        root, out, _ = moodle_graded
        header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                  "Feedback comments"]  # fmt: skip
        people = [
            ("1001", "Ana María Pérez"),
            ("1002", "Bob Li"),
            ("1003", "Chloé Dubois"),
            ("1004", "Dan Smith"),
        ]
        rows = [[f"Participant {n}", name, f"{n}@x.edu", "Submitted", "", "100.00", "Yes", "-", "-", ""]
                for n, name in people]  # fmt: skip
        worksheet = write_csv(root / "worksheet.csv", [header, *rows])
        target, feedback = root / "import.csv", root / "feedback.zip"
        completed = run(
            "export", "moodle", str(out), "--worksheet", str(worksheet), "--out", str(target),
            "--feedback-zip", str(feedback),
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr
        rows = {row[0]: row for row in read_csv(target)[1:]}
        assert [rows[f"Participant {n}"][4] for n in (1001, 1002, 1003, 1004)] == [
            "25",
            "10",
            "",
            "0",
        ]
        assert "Chloé Dubois" in completed.stderr  # in the worksheet, no submission: listed, not guessed
        with zipfile.ZipFile(feedback) as bundle:
            participants = sorted(name.split("_")[1] for name in bundle.namelist())
        assert participants == ["1001", "1002", "1004"]

    def test_a_moodle_grading_is_not_taken_for_a_canvas_one(self, moodle_graded):
        root, out, _ = moodle_graded
        roster = write_csv(root / "roster.csv", [["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]])
        completed = run("export", "canvas", str(out), "--roster", str(roster), "--out", str(root / "c.csv"))
        assert completed.returncode == 2 and "Moodle" in completed.stderr, completed.stderr


def test_a_canvas_download_graded_goes_back_into_the_canvas_gradebook(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(SOLUTIONS / "softmax.py", export / "perezana_2001_500001_softmax.py")
    (export / "libob_LATE_2002_500002_softmax.py").write_text("def softmax(x, dim=-1):\n    return x\n")
    shutil.copy(SOLUTIONS / "softmax.py", export / "libob_LATE_2002_500009_softmax-1.py")  # his re-upload
    zip_modules(tmp_path / "unused.zip")  # not in the export
    out = tmp_path / "graded"
    completed = run("grade", str(export), "--out", str(out), "--jobs", "2", "--cuda", "off")
    assert completed.returncode == 0, completed.stderr[-3000:]
    roster = write_csv(
        tmp_path / "gradebook.csv",
        [
            ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (101)"],
            ["    Points Possible", "", "", "", "", "10"],
            ["Pérez, Ana", "2001", "S1", "aperez", "A", "9"],
            ["Li, Bob", "2002", "S2", "bli", "A", ""],
            ["Ng, Cy", "2003", "S3", "cng", "B", "7"],
        ],
    )
    target = tmp_path / "import.csv"
    completed = run("export", "canvas", str(out), "--roster", str(roster), "--out", str(target))
    assert completed.returncode == 0, completed.stderr
    rows = read_csv(target)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lesson 13 — Attention"]
    assert {row[1]: row[5] for row in rows[2:]} == {"2001": "10", "2002": "10", "2003": ""}
    assert "Ng, Cy" in completed.stderr
    (bob,) = [
        s
        for s in json.loads((out / "results.json").read_text())["submissions"]
        if s["submission"] == "libob_2002"
    ]
    assert (
        "graded softmax-1.py as softmax.py (your latest upload of it); not graded: softmax.py" in bob["notes"]
    )
    assert "softmax-1.py as softmax.py" in (out / "feedback" / "libob_2002.html").read_text(encoding="utf-8")


class TestTheBundledExample:
    def test_the_example_zip_is_built_from_the_sample_class(self, tmp_path):
        spec = importlib.util.spec_from_file_location("build", REPO / "examples" / "build_moodle_export.py")
        build = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(build)
        rebuilt = build.build(tmp_path / "rebuilt.zip")
        with (
            zipfile.ZipFile(REPO / "examples" / "moodle-export.zip") as ours,
            zipfile.ZipFile(rebuilt) as fresh,
        ):
            assert {m: ours.read(m) for m in ours.namelist()} == {m: fresh.read(m) for m in fresh.namelist()}

    def test_the_example_is_read_as_a_moodle_class_of_seven(self, tmp_path):
        intake = take_in(REPO / "examples" / "moodle-export.zip", tmp_path)
        assert intake.layout.kind == MOODLE
        assert (
            intake.counts() == "7 participant(s): 6 graded, 1 without a submission; 7 entries seen, 0 skipped"
        )
        names = [s.identity.name for s in intake.submissions]
        assert names == ["Alice Martin", "Bob Nguyen", "Carol Díaz", "Dave OBrien", "Erin Schäfer",
                         "Frank Li", "Grace Hopper"]  # fmt: skip
