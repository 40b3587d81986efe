"""Does `python -m grader` write the promised files and columns, and explain usage errors in one line?"""

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import main
from grader.contract import MODULES

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    """Stubs, one finished exercise, an empty folder and a corrupt zip: quick to grade, every kind of row."""
    root = tmp_path_factory.mktemp("class")
    klass = root / "class"
    shutil.copytree(
        REPO / "exercises",
        klass / "stubs",
        ignore=shutil.ignore_patterns("test_*", "conftest.py", "__pycache__"),
    )
    (klass / "only_softmax").mkdir()
    shutil.copy(REPO / "solutions" / "softmax.py", klass / "only_softmax" / "softmax.py")
    (klass / "empty").mkdir()
    (klass / "corrupt.zip").write_bytes(b"not a zip at all")
    out = root / "out"
    return run("grade", str(klass), "--out", str(out), "--jobs", "2"), out


class TestGrade:
    def test_grading_that_ran_exits_zero_with_a_summary_line(self, small_class):
        completed, out = small_class
        assert completed.returncode == 0, completed.stderr
        assert "graded 4 submission(s)" in completed.stderr and str(out / "grades.csv") in completed.stderr

    def test_grades_csv_has_the_spec_columns_and_a_row_per_entry(self, small_class):
        _, out = small_class
        with (out / "grades.csv").open() as handle:
            reader = csv.DictReader(handle)
            rows = {row["submission"]: row for row in reader}
            assert reader.fieldnames == ["submission", "total", "max", *MODULES]
        assert set(rows) == {"corrupt", "empty", "only_softmax", "stubs"}
        assert rows["only_softmax"]["softmax"] == "10" and rows["only_softmax"]["total"] == "10"
        assert {rows[name]["total"] for name in ("corrupt", "empty", "stubs")} == {"0"}

    def test_results_json_says_why_a_bad_entry_scored_zero(self, small_class):
        _, out = small_class
        document = json.loads((out / "results.json").read_text())
        by_name = {s["submission"]: s for s in document["submissions"]}
        assert "could not be read as a zip" in by_name["corrupt"]["notes"][0]
        masking = next(e for e in by_name["only_softmax"]["exercises"] if e["module"] == "masking")
        assert all(c["message"] == "masking.py is missing from the submission" for c in masking["checks"])
        assert document["max_score"] == 100 and [e["module"] for e in document["exercises"]] == list(MODULES)

    def test_a_feedback_file_per_submission(self, small_class):
        _, out = small_class
        names = sorted(path.name for path in (out / "feedback").iterdir() if path.is_file())
        assert names == [
            f"{name}.{kind}"
            for name in ("corrupt", "empty", "only_softmax", "stubs")
            for kind in ("html", "md")
        ]
        text = (out / "feedback" / "only_softmax.md").read_text()
        assert "**Total: 10 / 100**" in text and "masking.py is missing from the submission" in text


class TestUsage:
    def test_no_verb_prints_the_verbs(self):
        completed = run()
        assert completed.returncode == 2 and "grade" in completed.stdout and "stubs" in completed.stdout

    def test_a_missing_path_is_one_line_naming_it(self, tmp_path):
        completed = run("grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
        assert completed.returncode == 2
        assert completed.stderr.strip().splitlines() == [
            f"grader grade: PATH {tmp_path / 'nowhere'} does not exist "
            "(or is a link, which is never followed)"
        ]

    def test_grade_help_teaches_with_examples_and_exit_codes(self):
        completed = run("grade", "--help")
        assert completed.returncode == 0
        for expected in (
            "--out DIR",
            "--jobs",
            "examples:",
            "python -m grader grade solutions --out",
            "exit codes:",
        ):
            assert expected in completed.stdout

    @pytest.mark.parametrize(
        ("verb", "codes"),
        [
            ((), "0123"),
            (("grade",), "023"),
            (("gradescope",), "023"),
            (("feedback",), "02"),
            (("stubs",), "012"),
            (("notebook",), "012"),
            (("release",), "012"),
            (("autograder",), "02"),
        ],
    )
    def test_each_help_lists_only_the_exit_codes_its_verb_can_return(self, verb, codes, capsys):
        with pytest.raises(SystemExit):
            main([*verb, "--help"])
        listed = capsys.readouterr().out.split("exit codes:\n")[1]
        assert "".join(re.findall(r"^  (\d)  \S", listed, flags=re.MULTILINE)) == codes
