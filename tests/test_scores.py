"""Does the reference score 100 and do the untouched stubs score 0, through the real command?"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.contract import EXERCISES, MODULES, TOTAL_POINTS
from grader.results import CheckResult, shown

REPO = Path(__file__).resolve().parent.parent


def grade(path: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    return grade(REPO / "solutions", out), out


@pytest.fixture(scope="module")
def stubs_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    return grade(REPO / "exercises", out), out


def rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open() as handle:
        return list(csv.DictReader(handle))


class TestReference:
    def test_solutions_score_full_marks(self, reference_run):
        completed, out = reference_run
        assert completed.returncode == 0, completed.stderr
        (row,) = rows(out)
        assert row["total"] == str(TOTAL_POINTS) and row["max"] == str(TOTAL_POINTS)
        for exercise in EXERCISES:
            assert row[exercise.module] == str(exercise.points)

    def test_every_check_passes_and_nothing_is_withheld(self, reference_run):
        _, out = reference_run
        (submission,) = json.loads((out / "results.json").read_text())["submissions"]
        failing = [
            (e["module"], c["name"], c["message"])
            for e in submission["exercises"]
            for c in e["checks"]
            if c["status"] != "passed" and shown(CheckResult(**c))
        ]
        assert failing == []
        assert not any("withheld" in note for e in submission["exercises"] for note in e["notes"])


class TestStubs:
    def test_untouched_stubs_score_zero(self, stubs_run):
        completed, out = stubs_run
        assert completed.returncode == 0, completed.stderr
        (row,) = rows(out)
        assert row["total"] == "0" and [row[m] for m in MODULES] == ["0"] * len(MODULES)

    def test_stub_checks_say_not_implemented_with_the_todo(self, stubs_run):
        _, out = stubs_run
        (submission,) = json.loads((out / "results.json").read_text())["submissions"]
        for exercise in submission["exercises"]:
            checks = [
                c for c in exercise["checks"] if shown(CheckResult(**c))
            ]  # not the device checks of a CPU machine
            assert {c["status"] for c in checks} == {"not_implemented"}, exercise["module"]
            assert all("is not implemented yet — TODO:" in c["message"] for c in checks), exercise["module"]
