"""Does a class grade survive being killed, resume without loss or duplicates, and redo only what it must?"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.grading_helpers import without_timings

REPO = Path(__file__).resolve().parent.parent
STUB_FILES = [
    p for p in (REPO / "exercises").glob("*.py") if not p.name.startswith(("test_", "conftest", "__init__"))
]


def make_class(root: Path, size: int) -> Path:
    """``size`` quick learners: stubs, one with softmax done (so rows differ)."""
    klass = root / "class"
    for index in range(size):
        learner = klass / f"learner{index:02d}"
        learner.mkdir(parents=True)
        for path in STUB_FILES:
            shutil.copy(path, learner / path.name)
        if index % 2:
            shutil.copy(REPO / "solutions" / "softmax.py", learner / "softmax.py")
    return klass


def grade(klass: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "1", *extra]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def graded_lines(completed: subprocess.CompletedProcess) -> list[str]:
    return [line for line in completed.stderr.splitlines() if line.startswith("[")]


def rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open() as handle:
        return list(csv.DictReader(handle))


class TestResume:
    def test_a_run_killed_midway_resumes_with_nothing_lost_or_duplicated(self, tmp_path):
        klass = make_class(tmp_path, 6)
        out = tmp_path / "out"
        command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "1"]
        run = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        records = out / "submissions"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(list(records.glob("*.json"))) < 2:
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        done_before = len(list(records.glob("*.json")))
        assert 2 <= done_before < 6, "the kill should land mid-run"

        resumed = grade(klass, out)
        assert resumed.returncode == 0, resumed.stderr
        assert len(graded_lines(resumed)) == 6 - done_before
        assert sorted(row["submission"] for row in rows(out)) == [f"learner{i:02d}" for i in range(6)]
        assert not list(records.glob("*.tmp*")), "no half-written record is left behind"

        fresh = tmp_path / "fresh"
        assert grade(klass, fresh).returncode == 0
        assert without_timings(json.loads((out / "results.json").read_text())) == without_timings(
            json.loads((fresh / "results.json").read_text())
        )

    def test_nothing_left_to_do_returns_at_once(self, tmp_path):
        klass, out = make_class(tmp_path, 2), tmp_path / "out"
        assert grade(klass, out).returncode == 0
        started = time.monotonic()
        again = grade(klass, out)
        assert again.returncode == 0 and graded_lines(again) == []
        assert time.monotonic() - started < 5
        summary = again.stderr.strip().splitlines()[-1]
        assert summary.startswith(
            "nothing new to grade: kept the 2 submission(s) already graded by this grader with the same "
            "files (--regrade NAME redoes one); reports rewritten in "
        )

    def test_regrade_redoes_one_and_a_changed_submission_is_graded_again(self, tmp_path):
        klass, out = make_class(tmp_path, 3), tmp_path / "out"
        assert grade(klass, out).returncode == 0
        redo = grade(klass, out, "--regrade", "learner01")
        assert [line.split(":")[0] for line in graded_lines(redo)] == ["[1/1] learner01"]
        assert "graded 1 submission(s) and kept 2 already graded in " in redo.stderr
        shutil.copy(REPO / "solutions" / "softmax.py", klass / "learner02" / "softmax.py")
        changed = grade(klass, out)
        assert [line.split(":")[0] for line in graded_lines(changed)] == ["[1/1] learner02"]
        assert {row["submission"]: row["softmax"] for row in rows(out)}["learner02"] == "10"

    def test_regrade_of_an_unknown_name_is_a_usage_error(self, tmp_path):
        klass, out = make_class(tmp_path, 1), tmp_path / "out"
        completed = grade(klass, out, "--regrade", "nobody")
        assert completed.returncode == 2 and "--regrade nobody: no such submission" in completed.stderr
        assert "did you mean" not in completed.stderr

    def test_a_misspelt_regrade_name_gets_the_close_names(self, tmp_path):
        klass, out = make_class(tmp_path, 2), tmp_path / "out"
        completed = grade(klass, out, "--regrade", "lerner01")
        assert completed.returncode == 2
        assert completed.stderr.strip().splitlines()[-1] == (
            f"grader grade: --regrade lerner01: no such submission in {klass}; "
            "did you mean learner01 or learner00?"
        )
        assert not list(out.glob("submissions/*.json")), "nothing is graded"


@pytest.mark.parametrize("interactive", [False, True], ids=["plain lines", "terminal bar"])
def test_progress_shows_count_eta_and_trouble(interactive):
    import io

    from grader.reports.progress import Progress
    from grader.results import CheckResult, ExerciseResult, SubmissionResult

    stream = io.StringIO()
    progress = Progress(2, stream, interactive=interactive)
    crashed = ExerciseResult("softmax", 1, 10, [CheckResult("a", "a", "error", 0, 10, "boom")])
    progress.done(SubmissionResult("alice", [crashed]))
    progress.close()
    text = stream.getvalue()
    assert "alice: 0/10" in text and "1 check crashed" in text
    if interactive:
        assert "1/2" in text and "ETA" in text and "troubled: 1" in text


def test_progress_and_protection_lines_from_two_threads_stay_whole_lines():
    # The sandbox's protections are announced from the grading thread that opens the first session, while
    # other threads print progress: a line written in two pieces could take another's in between.
    import io
    import threading

    from grader.bulk import _announce_protections
    from grader.reports.progress import Progress
    from grader.results import SubmissionResult

    class Switching(io.StringIO):
        """A stream that lets other threads run after each write, as a real one may."""

        def write(self, text):
            written = super().write(text)
            time.sleep(0.0005)
            return written

    stream = Switching()
    progress = Progress(40, stream, interactive=False)
    announce = threading.Thread(
        target=lambda: [_announce_protections({f"protection {n}": "active"}, stream) for n in range(40)]
    )
    announce.start()
    for n in range(40):
        progress.done(SubmissionResult(f"learner{n}"))
    announce.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 80
    assert all(
        line.startswith(("sandbox: protection ", "[")) and line.count(": ") in (1, 2) for line in lines
    )
    assert len([line for line in lines if line.startswith("[")]) == 40
