"""Does feedback travel: one self-contained HTML page per learner, a shared cause said once, a progress line
that names the main reason, and ``python -m grader feedback DIR NAME`` safe in a terminal?"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from grader import cli
from grader.exits import EXIT_OK, EXIT_USAGE
from grader.reports import pictures, tables, write_reports
from grader.reports.causes import main_reason
from grader.reports.feedback import feedback_html, feedback_markdown
from grader.reports.page import PICTURES_SHOWN, picture_path
from grader.reports.progress import Progress
from grader.reports.show import feedback_command
from grader.reports.tables import write_results
from grader.results import (
    ERROR,
    FAILED,
    NOT_IMPLEMENTED,
    PASSED,
    TIMEOUT,
    CheckResult,
    ExerciseResult,
    Identity,
    SubmissionResult,
)
from tests.grading_helpers import REPO

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
WEIGHTS = {
    "title": "weights",
    "mask": [[1, 1], [1, 0]],
    "got": [[0.5, 0.5], [0.5, 0.5]],
    "expected": [[0.5, 0.5], [1, 0]],
}
SYNTAX = (
    "multi_head.py: your code raised SyntaxError at multi_head.py line 55: "
    "unmatched ')' (multi_head.py, line 55)"
)
IMPORT = "softmax.py: your code raised ModuleNotFoundError at softmax.py line 1: No module named 'numpyy'"
STUB = "masking.py: masked_attention() is not implemented yet — TODO: -inf at masked scores."
FAKE_PNG = b"\x89PNG\r\n\x1a\n" + b"cached"


def checks(status: str, message: str, count: int, points: float = 1, prefix: str = "c") -> list[CheckResult]:
    return [
        CheckResult(f"{prefix}{n}", f"{prefix} title {n}", status, 0, points, message) for n in range(count)
    ]


def exercise(module: str, number: int, items: list[CheckResult]) -> ExerciseResult:
    return ExerciseResult(module, number, sum(check.max_score for check in items), items)


def with_picture(name: str = "weights_differ") -> CheckResult:
    return CheckResult(
        name, f"{name} title", FAILED, 0, 2, "masking.masked_attention: weights differ", "Zero?", 0, WEIGHTS
    )


class Links(HTMLParser):
    """Every URL-bearing attribute of a page, as a browser's parser would see them."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.urls += [
            (tag, key, value or "") for key, value in attrs if key in ("src", "href", "srcset", "data")
        ]


class TestSelfContainedPage:
    def test_the_page_references_no_other_file_and_embeds_a_failing_checks_picture(self, tmp_path):
        """Is every picture inside the page as a data: PNG, and every link a jump within the page?"""
        result = SubmissionResult("ada", [exercise("masking", 3, [with_picture()])])
        page = feedback_html(result, tmp_path / ".pictures")
        urls = Links(page).urls
        assert [url for _, key, url in urls if key == "src"] and all(
            url.startswith("data:image/png;base64,") if key == "src" else url.startswith("#")
            for _, key, url in urls
        ), urls
        (src,) = [url for _, key, url in urls if key == "src"]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(pictures.PNG_SIGNATURE)
        assert "<link" not in page and "url(" not in page and "<script" not in page

    def test_a_rerun_reads_its_pictures_back_instead_of_drawing_them(self, tmp_path, monkeypatch):
        result = SubmissionResult("ada", [exercise("masking", 3, [with_picture()])])
        first = feedback_html(result, tmp_path)

        def refuse(*args):
            raise AssertionError("a cached picture was drawn again")

        monkeypatch.setattr(pictures, "draw_weights", refuse)
        assert feedback_html(result, tmp_path) == first

    def test_the_points_table_gives_each_exercise_its_points_and_max(self, tmp_path):
        result = SubmissionResult(
            "ada", [exercise("softmax", 1, checks(PASSED, "", 0) + [CheckResult("a", "a", PASSED, 4, 4)])]
        )
        result.exercises.append(exercise("attention", 2, checks(FAILED, "wrong", 3, points=5)))
        page = feedback_html(result, tmp_path)
        table = page.split("<table", 1)[1].split("</table>", 1)[0]
        assert "<th>exercise</th><th>points</th><th>max</th>" in table
        assert (
            "attention.py</a></td><td>0</td><td>15</td>" in table
            and "softmax.py</a></td><td>4</td><td>4</td>" in table
        )
        assert page.index("<table") < page.index("<h2")

    def test_a_page_with_dozens_of_pictures_embeds_a_dozen_and_says_so(self, tmp_path):
        failing = [with_picture(f"check{n}") for n in range(30)]
        for n, check in enumerate(failing):
            check.picture = {**WEIGHTS, "title": f"weights {n}"}
            path = picture_path(tmp_path, "masking", check)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(FAKE_PNG)
        page = feedback_html(SubmissionResult("ada", [exercise("masking", 3, failing)]), tmp_path)
        assert page.count("<img ") == PICTURES_SHOWN
        assert f"first {PICTURES_SHOWN} of the 30 failed checks" in page

    def test_reports_retire_the_pictures_folder_an_earlier_version_wrote_and_no_other(self, tmp_path):
        feedback = tmp_path / "feedback"
        (feedback / "ada_files").mkdir(parents=True)
        (feedback / "ada_files" / "masking-x-0123456789.png").write_bytes(FAKE_PNG)
        (feedback / "bob_files").mkdir()
        (feedback / "bob_files" / "notes.txt").write_text("the instructor's")
        write_reports([SubmissionResult("ada"), SubmissionResult("bob")], tmp_path)
        assert not (feedback / "ada_files").exists()
        assert (tmp_path / ".pictures" / "masking-x-0123456789.png").read_bytes() == FAKE_PNG
        assert (feedback / "bob_files" / "notes.txt").is_file()
        assert sorted(path.name for path in feedback.iterdir()) == sorted(
            ["ada.html", "ada.md", "bob.html", "bob.md", "bob_files"]
        )


class TestSharedCause:
    def test_a_syntax_error_is_shown_once_with_the_checks_it_cost(self, tmp_path):
        result = SubmissionResult("ada", [exercise("multi_head", 5, checks(ERROR, SYNTAX, 10, points=1.5))])
        for text in (feedback_markdown(result), feedback_html(result, tmp_path)):
            assert text.count("SyntaxError") == 1
            assert "A syntax error" in text and "it cost 10 checks, 0 / 15 points" in text
            assert all(f"c title {n} (0 / 1.5)" in text for n in range(10))

    def test_a_check_that_failed_for_its_own_reason_is_still_shown_on_its_own(self, tmp_path):
        own = CheckResult(
            "own", "own title", FAILED, 0, 3, "masking.masked_attention: weights differ", "Zero?"
        )
        other = CheckResult("boom", "boom title", ERROR, 0, 1, "masking.py: your code raised ValueError at x")
        padding = CheckResult(
            "pad", "pad title", NOT_IMPLEMENTED, 0, 2, "masking.py: padding_mask() is not implemented yet"
        )
        stubbed = checks(NOT_IMPLEMENTED, STUB, 3)
        result = SubmissionResult(
            "ada", [exercise("masking", 3, [stubbed[0], own, padding, *stubbed[1:], other])]
        )
        markdown, page = feedback_markdown(result), feedback_html(result, tmp_path)
        for text in (markdown, page):
            assert text.count(STUB) == 1 and "it cost 3 checks" in text
            assert text.count("padding_mask() is not implemented yet") == 1
            assert text.count("weights differ") == 1 and text.count("raised ValueError") == 1
        assert "- ✗ own title (0 / 3)" in markdown and "- ✗ boom title (0 / 1)" in markdown
        assert "- · pad title (0 / 2)" in markdown
        # the cause stands where its first check stood
        assert markdown.index("Not implemented yet") < markdown.index("own title")

    def test_the_same_message_with_another_status_is_another_cause(self):
        result = SubmissionResult(
            "ada",
            [
                exercise(
                    "masking", 3, checks(ERROR, "x.py: odd", 2) + checks(TIMEOUT, "x.py: odd", 2, prefix="t")
                )
            ],
        )
        assert feedback_markdown(result).count("x.py: odd") == 2


class TestMainReason:
    @pytest.mark.parametrize(
        ("exercises", "reason"),
        [
            ([exercise("multi_head", 5, checks(ERROR, SYNTAX, 10))], "syntax error at multi_head.py line 55"),
            (
                [
                    exercise(
                        "classifier",
                        7,
                        checks(NOT_IMPLEMENTED, "classifier.py is missing from the submission", 7),
                    )
                ],
                "classifier.py missing",
            ),
            (
                [exercise("softmax", 1, checks(ERROR, IMPORT, 7))],
                "softmax.py: import error (ModuleNotFoundError: No module named 'numpyy')",
            ),
            (
                [
                    exercise("softmax", 1, checks(PASSED, "", 2)),
                    exercise("masking", 3, checks(NOT_IMPLEMENTED, STUB, 2)),
                    exercise(
                        "encoder",
                        6,
                        checks(NOT_IMPLEMENTED, "encoder.py: Encoder() is not implemented yet", 1),
                    ),
                ],
                "not implemented: masking, encoder",
            ),
            (
                [
                    exercise(
                        "attention",
                        2,
                        checks(ERROR, "a.py: your code raised ValueError at a.py line 3: no", 3)
                        + checks(TIMEOUT, "a.py: timed out", 1, prefix="t"),
                    )
                ],
                "3 checks crashed, 1 timed out",
            ),
            ([exercise("attention", 2, checks(FAILED, "attention: weights differ", 3))], ""),
            (
                [
                    exercise(
                        module, n, checks(NOT_IMPLEMENTED, f"{module}.py is missing from the submission", 1)
                    )
                    for n, module in enumerate(["softmax", "attention", "masking"], 1)
                ],
                "none of the modules found",  # the submission's own note says why, not a list of seven
            ),
        ],
        ids=[
            "syntax error",
            "missing module",
            "import error",
            "not implemented",
            "crashes and timeouts",
            "failures only",
            "no module at all",
        ],
    )
    def test_names_the_main_reason(self, exercises, reason):
        assert main_reason(SubmissionResult("ada", exercises)) == reason

    def test_the_progress_line_names_it_instead_of_counting_crashes(self):
        stream = io.StringIO()
        Progress(1, stream, interactive=False).done(
            SubmissionResult("ada", [exercise("multi_head", 5, checks(ERROR, SYNTAX, 10))])
        )
        assert stream.getvalue().endswith("— syntax error at multi_head.py line 55\n")

    def test_only_code_that_crashed_hung_or_did_not_load_counts_as_troubled(self):
        """Unwritten stubs once raised the bar's "troubled" count: a grade is not trouble."""
        progress = Progress(3, io.StringIO(), interactive=False)
        progress.done(SubmissionResult("stubs", [exercise("masking", 3, checks(NOT_IMPLEMENTED, STUB, 2))]))
        progress.done(SubmissionResult("wrong", [exercise("masking", 3, checks(FAILED, "differs", 2))]))
        assert progress.troubled == 0
        progress.done(SubmissionResult("ada", [exercise("multi_head", 5, checks(ERROR, SYNTAX, 10))]))
        assert progress.troubled == 1

    def test_learner_text_in_the_reason_is_terminal_safe(self):
        hostile = "multi_head.py: your code raised SyntaxError at \x1b]0;owned\x07\u202e.py line 1: x"
        reason = main_reason(SubmissionResult("ada", [exercise("multi_head", 5, checks(ERROR, hostile, 2))]))
        assert reason.startswith("syntax error at \\x1b]0;owned\\x07\\u202e.py") and not UNSAFE.search(reason)


@pytest.fixture
def graded_dir(tmp_path):
    hostile = "eve\x1b[2J\x1b]0;owned\x07\u202e\r"
    results = [
        SubmissionResult(
            "alice",
            [exercise("multi_head", 5, checks(ERROR, SYNTAX, 3))],
            identity=Identity("moodle", "4711"),
        ),
        SubmissionResult("bob", [exercise("softmax", 1, checks(PASSED, "", 0))]),
        SubmissionResult(
            hostile, [exercise("softmax", 1, checks(FAILED, "got \x1b[31mred\x1b[0m\u2066 and \x9b2J", 2))]
        ),
    ]
    write_results(results, tmp_path / "results.json")
    # results.json holds these escaped; a file edited by hand (or by anyone) need not: put the raw ones back
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    document["submissions"][2] = {**results[2].to_json(), "submission": hostile}
    document["submissions"][2]["exercises"][0]["checks"][0]["message"] = (
        "got \x1b[31mred\x1b[0m\u2066 and \x9b2J"
    )
    document["submissions"][2]["exercises"][0]["checks"][1]["hint"] = "Zero?\x1b]8;;http://x\x07\u202e"
    (tmp_path / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return tmp_path, hostile


def run_feedback(out, name) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = feedback_command(out=out, name=name, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


class TestFeedbackCommand:
    def test_prints_the_learners_feedback(self, graded_dir, capsys):
        assert cli.main(["feedback", str(graded_dir[0]), "alice"]) == EXIT_OK
        printed = capsys.readouterr().out
        assert (
            printed.startswith("# Lesson 13 — Attention: feedback for alice\n")
            and printed.count("SyntaxError") == 1
        )

    def test_finds_a_learner_by_their_lms_id_too(self, graded_dir):
        code, printed, _ = run_feedback(graded_dir[0], "4711")
        assert code == EXIT_OK and "feedback for alice" in printed

    def test_refuses_an_unknown_name_and_suggests_the_closest(self, graded_dir):
        code, printed, errors = run_feedback(graded_dir[0], "alcie")
        assert (code, printed) == (
            EXIT_USAGE,
            "",
        ) and "no submission named alcie; did you mean alice?" in errors

    def test_a_folder_without_results_json_is_an_error_naming_the_file(self, tmp_path):
        code, _, errors = run_feedback(tmp_path, "alice")
        assert code == EXIT_USAGE and f"{tmp_path / 'results.json'} does not exist" in errors

    def test_an_oversized_results_json_is_refused_unread(self, graded_dir, monkeypatch):
        monkeypatch.setattr(tables, "MAX_RESULTS_BYTES", 100)
        code, _, errors = run_feedback(graded_dir[0], "alice")
        assert code == EXIT_USAGE and "is larger than" in errors

    def test_escape_sequences_in_a_name_or_message_never_reach_the_terminal(self, graded_dir):
        out, hostile = graded_dir
        code, printed, errors = run_feedback(out, hostile)
        assert code == EXIT_OK and "\\x1b[31mred" in printed and "feedback for eve\\\\x1b" in printed
        code, _, refused = run_feedback(out, hostile + "x")
        assert code == EXIT_USAGE and "did you mean" in refused
        for text in (printed, errors, refused):
            assert not UNSAFE.search(text), sorted({hex(ord(c)) for c in UNSAFE.findall(text)})


def test_a_syntax_error_reads_as_one_cause_on_the_console_in_the_feedback_and_through_the_verb(tmp_path):
    """Graded for real: does the progress line name the syntax error, and the feedback give it once?"""
    broken = tmp_path / "class" / "broken"
    shutil.copytree(REPO / "solutions", broken)
    source = (broken / "multi_head.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if "def __init__" in text)
    source[line - 1] += " )("
    (broken / "multi_head.py").write_text("\n".join(source) + "\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(broken.parent), "--out", str(out), "--jobs", "2"]
    graded = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stderr[-2000:]
    assert (
        "broken: 85/100" in graded.stderr
        and f"— syntax error at multi_head.py line {line}\n" in graded.stderr
    )
    markdown = (out / "feedback" / "broken.md").read_text(encoding="utf-8")
    multi_head = markdown.split("## 5. ")[1].split("## 6. ")[0]
    assert multi_head.count("SyntaxError") == 1 and "it cost 10 checks, 0 / 15 points" in multi_head
    # Exercises 6 and 7 import multi_head.py: each says once that the reference stood in for it.
    later = markdown.split("## 6. ")[1]
    assert later.count("raised SyntaxError") == 2 and later.count("stood in for it whole") == 2
    shown = subprocess.run(
        [sys.executable, "-m", "grader", "feedback", str(out), "broken"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0 and shown.stdout == markdown
