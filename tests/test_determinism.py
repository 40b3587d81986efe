"""Does grading the same class again, with --jobs 1 or --jobs 2, give the same results.json?

Only the timings (every ``elapsed_s``) may differ. The second run differs from the first in both ways
at once, as a run and in how its work is shared among workers, so one comparison covers both: a result
that depended on either would differ. The class is small but has every kind of row: correct exercises,
wrong answers whose messages carry numbers and indices, code that raises, a file that does not parse,
and missing exercises. Encoder and classifier are left out to keep it quick.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_helpers import without_timings

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS, MUTANTS = REPO / "solutions", REPO / "tests" / "submissions" / "mutants"
CRASHING = REPO / "examples" / "class" / "dave_crashing"

pytestmark = pytest.mark.slow


def build_class(root: Path) -> Path:
    klass = root / "class"
    partly_done = klass / "partly_done"
    partly_done.mkdir(parents=True)
    for module in ("softmax", "attention", "masking", "self_attention", "multi_head"):
        shutil.copy(SOLUTIONS / f"{module}.py", partly_done)
    mistakes = klass / "mistakes"
    mistakes.mkdir()
    for fault, module in [
        ("softmax_without_max_subtraction", "softmax"),
        ("scales_by_d_not_sqrt_d", "attention"),
        ("fills_masked_scores_with_minus_1e9", "masking"),
        ("splits_heads_with_view_not_transpose", "multi_head"),
    ]:
        shutil.copy(MUTANTS / fault / f"{module}.py", mistakes)
    shutil.copy(SOLUTIONS / "self_attention.py", mistakes)
    crashing = klass / "crashing"
    crashing.mkdir()
    for module in ("softmax", "masking", "encoder"):  # NameError, TypeError, SyntaxError
        shutil.copy(CRASHING / f"{module}.py", crashing)
    return klass


def grade(klass: Path, out: Path, jobs: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", str(jobs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    klass = build_class(root)
    return {
        "--jobs 1": grade(klass, root / "one_job", jobs=1),
        "again, --jobs 2": grade(klass, root / "two_jobs", jobs=2),
    }


def first_difference(a, b, path="results") -> str | None:
    """Where two JSON values first differ, e.g. "results.submissions[1].exercises[2].checks[3].message"."""
    if type(a) is not type(b):
        return f"{path}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for key in list(dict.fromkeys([*a, *b])):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        return next(
            (d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None
        )
    return None if a == b else f"{path}: {a!r} vs {b!r}"


class TestSameSubmissionSameResults:
    def test_the_class_shows_every_kind_of_row(self, graded):
        results = graded["--jobs 1"]
        statuses = {
            check["status"] for s in results["submissions"] for e in s["exercises"] for check in e["checks"]
        }
        assert {"passed", "failed", "error", "not_implemented"} <= statuses
        assert [s["submission"] for s in results["submissions"]] == ["crashing", "mistakes", "partly_done"]

    def test_grading_again_with_two_jobs_gives_identical_results_apart_from_timings(self, graded):
        first, again = (without_timings(graded[run]) for run in ("--jobs 1", "again, --jobs 2"))
        assert first_difference(first, again) is None
