"""Are the reports well-formed (schemas), complete (HTML, pictures, Gradescope, summary) and free of our
source?"""

import base64
import io
import json
import shutil
import subprocess
import sys
import threading
import time
from html import escape
from pathlib import Path

import jsonschema
import pytest

from grader.kit.stubs import find_regions
from learner.mistakes import FINITE_FILL_HINT
from tests.grading_helpers import namespaces_work

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "grader" / "schemas"
EXAMPLES = REPO / "examples" / "class"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    klass = root / "class"
    klass.mkdir()
    shutil.copy(EXAMPLES / "bob_partly_wrong.zip", klass)
    shutil.copytree(EXAMPLES / "frank_cheats", klass / "frank_cheats")
    out = root / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    return out


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def learner_visible_texts(out: Path) -> dict[str, str]:
    paths = [
        *(out / "feedback").glob("*.md"),
        *(out / "feedback").glob("*.html"),
        *(out / "gradescope").glob("*.json"),
    ]
    return {path.name: path.read_text() for path in paths}


class TestSchemas:
    def test_results_json_matches_its_schema(self, graded):
        jsonschema.validate(json.loads((graded / "results.json").read_text()), schema("results.schema.json"))

    def test_every_gradescope_file_matches_its_schema_and_adds_up(self, graded):
        files = sorted((graded / "gradescope").glob("*.json"))
        assert [path.stem for path in files] == ["bob_partly_wrong", "frank_cheats"]
        results = {
            s["submission"]: s for s in json.loads((graded / "results.json").read_text())["submissions"]
        }
        for path in files:
            document = json.loads(path.read_text())
            jsonschema.validate(document, schema("gradescope.schema.json"))
            assert sum(test["max_score"] for test in document["tests"]) == 100
            assert (
                document["score"]
                == sum(test["score"] for test in document["tests"])
                == results[path.stem]["total"]
            )

    def test_a_broken_document_is_rejected_by_the_schema(self, graded):
        document = json.loads((graded / "results.json").read_text())
        document["submissions"][0]["exercises"][0]["checks"][0]["status"] = "sort of"
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, schema("results.schema.json"))


class TestFeedback:
    def test_html_feedback_shows_weights_beside_the_expected_ones_for_a_masking_failure(self, graded):
        html = (graded / "feedback" / "bob_partly_wrong.html").read_text()
        pictures = graded / ".pictures"
        (picture,) = pictures.glob("masking-fully_masked_row_gives_zero_weights_and_output-*.png")
        assert picture.read_bytes().startswith(b"\x89PNG")
        assert f"data:image/png;base64,{base64.b64encode(picture.read_bytes()).decode()}" in html
        assert escape(FINITE_FILL_HINT) in html  # bob fills with -1e9: his rows get uniform weights
        assert not [path for path in (graded / "feedback").iterdir() if path.is_dir()]

    def test_a_submissions_prints_are_cut_to_a_bound(self, graded):
        markdown = (graded / "feedback" / "frank_cheats.md").read_text()
        printed = [line for line in markdown.splitlines() if "Your code printed:" in line]
        assert printed and all(len(line) < 1300 for line in printed)

    def test_no_learner_visible_text_holds_the_reference_or_the_checks(self, graded):
        secret_lines = set()
        for path in (REPO / "solutions").glob("*.py"):
            source = path.read_text()
            lines = source.splitlines()
            for region in find_regions(source, str(path)):
                secret_lines.update(
                    line.strip() for line in lines[region.begin : region.end - 1] if len(line.strip()) > 25
                )
        for path in (REPO / "grader" / "checks").glob("*.py"):
            secret_lines.update(
                line.strip()
                for line in path.read_text().splitlines()
                if len(line.strip()) > 40 and '"' not in line
            )
        for name, text in learner_visible_texts(graded).items():
            leaked = [line for line in secret_lines if line in text]
            assert leaked == [], f"{name} shows grader or reference code: {leaked[:3]}"


class TestSummary:
    def test_summary_lists_exercises_and_most_failed_checks_with_a_picture(self, graded):
        summary = (graded / "summary.md").read_text()
        assert "# Class summary: 2 submission(s)" in summary and "| masking |" in summary
        (picture,) = graded.glob("summary-*.png")
        assert (
            "## Most often failed checks" in summary
            and f"![score spread per exercise]({picture.name})" in summary
        )
        assert picture.read_bytes().startswith(b"\x89PNG")


def test_gradescope_verb_writes_results_for_one_submission(tmp_path):
    results = tmp_path / "results" / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "gradescope",
            "--submission",
            str(REPO / "exercises"),
            "--results",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(results.read_text())
    jsonschema.validate(document, schema("gradescope.schema.json"))
    assert document["score"] == 0 and len(document["tests"]) > 50


def test_a_picture_that_cannot_be_drawn_costs_no_learner_their_feedback(tmp_path):
    """A failed check's picture is drawn from a learner's result; one that breaks the drawing is left out."""
    from grader.reports import write_reports
    from grader.results import CheckResult, ExerciseResult, SubmissionResult

    broken = {"title": "weights", "mask": None, "got": [[0.5, "not a number"]], "expected": [[0.5, 0.5]]}
    check = CheckResult(
        "masked_keys_get_zero_weight",
        "masked keys get weight exactly 0",
        "failed",
        0,
        2,
        "differs",
        picture=broken,
    )
    results = [
        SubmissionResult(name, [ExerciseResult("masking", 3, 20.0, [check])])
        for name in ("alice", "bob", "carol")
    ]
    write_reports(results, tmp_path)
    assert sorted(page.name for page in (tmp_path / "feedback").glob("*.html")) == [
        "alice.html",
        "bob.html",
        "carol.html",
    ]


def test_writing_the_reports_of_recorded_results_never_imports_pytorch(tmp_path):
    # A rerun with nothing left to grade writes the reports (and may draw the class summary) at once:
    # importing PyTorch would add seconds. Only a learner's weights picture needs it.
    code = (
        "import sys\nfrom pathlib import Path\nfrom grader.reports import write_reports\n"
        "from grader.results import SubmissionResult\n"
        "write_reports([SubmissionResult('ada')], Path(sys.argv[1]))\n"
        "assert 'torch' not in sys.modules, 'the reports imported PyTorch'\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert (tmp_path / "out" / "summary.md").is_file()


@pytest.mark.skipif(not namespaces_work(), reason="needs namespaces for the sandbox")
def test_pictures_are_drawn_on_a_thread_of_their_own_as_submissions_finish_and_all_before_the_reports(
    tmp_path, monkeypatch
):
    """A picture takes matplotlib tens of milliseconds: drawn by the grading worker that recorded the
    submission, it held that worker (with ``--jobs 1``, the whole run) while the other core idled."""
    from grader import bulk
    from grader.reports import meanwhile
    from grader.settings import Settings

    drawn, reported = [], []
    real_draw, real_reports = meanwhile.draw_pictures, bulk.write_reports

    def slow_draw(result, out):
        time.sleep(0.5)  # the reports must wait for it
        real_draw(result, out)
        drawn.append((result.submission, threading.current_thread().name))

    def reports(results, out, **kwargs):
        reported.append(list(drawn))
        real_reports(results, out, **kwargs)

    monkeypatch.setattr(meanwhile, "draw_pictures", slow_draw)
    monkeypatch.setattr(bulk, "write_reports", reports)
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(EXAMPLES / "bob_partly_wrong.zip", klass)
    shutil.copytree(EXAMPLES / "alice_correct", klass / "alice_correct")
    bulk.grade(klass, out=tmp_path / "out", jobs=1, settings=Settings(), progress_stream=io.StringIO())
    assert sorted(drawn) == [("alice_correct", "drawing-pictures"), ("bob_partly_wrong", "drawing-pictures")]
    assert reported == [drawn]
    assert list((tmp_path / "out" / ".pictures").glob("masking-*.png"))
