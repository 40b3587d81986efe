"""Do `python -m grader export canvas|moodle` give each learner of the LMS their own total, and nothing else?

No grading run here: results.json is written by the grader's own writer from hand-made results, each with
the identity an LMS export gives, and the feedback folder holds hand-made pages.
"""

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.contract import EXERCISES
from grader.exits import EXIT_OK, EXIT_USAGE
from grader.export.canvas import canvas_command
from grader.export.csv_files import atomic_path
from grader.export.feedback_zip import FEEDBACK_FILE, member_name
from grader.export.moodle import moodle_command
from grader.export.points import format_grade, parse_points, scaled
from grader.reports import tables
from grader.reports.feedback import FEEDBACK_DIR, feedback_filename
from grader.reports.tables import write_results
from grader.results import FAILED, PASSED, CheckResult, ExerciseResult, Identity, SubmissionResult

REPO = Path(__file__).resolve().parent.parent
BOM = "\ufeff"
FORMULA_NAME = "=cmd|' /C calc'!A0"


def result(name: str, lms: str, user_id: str, total: float, full_name: str = "") -> SubmissionResult:
    """A result worth ``total`` of 100: the points lost come off masking first, then the others in order."""
    lost, scores = 100 - total, {}
    for exercise in sorted(EXERCISES, key=lambda e: e.module != "masking"):
        scores[exercise.module] = exercise.points - min(lost, exercise.points)
        lost -= exercise.points - scores[exercise.module]
    exercises = []
    for exercise in EXERCISES:
        score = scores[exercise.module]
        status = PASSED if score == exercise.points else FAILED
        check = CheckResult("all", "everything", status, score, exercise.points)
        exercises.append(ExerciseResult(exercise.module, exercise.number, exercise.points, [check]))
    return SubmissionResult(name, exercises, identity=Identity(lms, user_id, full_name))


def graded_folder(root: Path, results: list[SubmissionResult], pages: bool = True) -> Path:
    """A grading output: results.json by the grader's writer and, with ``pages``, a feedback page each."""
    out = root / "graded"
    (out / FEEDBACK_DIR).mkdir(parents=True)
    write_results(results, out / "results.json")
    for each in results if pages else []:
        stem = feedback_filename(each.submission).removesuffix(".md")
        page = f"<html><body><h1>Feedback for {each.identity.id}</h1><img src='data:image/png;base64,AA=='>"
        (out / FEEDBACK_DIR / f"{stem}.html").write_text(page + "</body></html>", encoding="utf-8")
    return out


def write_table(path: Path, rows: list[list[str]], *, bom: bool = True, delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_text((BOM if bom else "") + buffer.getvalue(), encoding="utf-8", newline="")
    return path


def read_table(path: Path, delimiter: str = ",") -> list[list[str]]:
    text = path.read_text(encoding="utf-8").removeprefix(BOM)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


CANVAS_HEADER = [
    "Student",
    "ID",
    "SIS User ID",
    "SIS Login ID",
    "Section",
    "Homework 1 (101)",
    "Lesson 13 (555)",
    "Current Score",
    "Final Score",
]
CANVAS_ROWS = [
    ["    Points Possible", "", "", "", "", "10", "20", "(read only)", "(read only)"],
    ["Zola, Émile", "1001", "S1", "ezola", "Section A", "8", "", "80", "80"],
    ["Doe, Jane", "1002", "S2", "jdoe", "Section A and Section B", "9", "15", "90", "90"],
    ['=HYPERLINK("http://x.example","y")', "1003", "S3", "hyper", "Section A", "", "", "", ""],
    ["O'Brien, Seán", "1004", "S4", "sobrien", "Section B", "10", "", "100", "100"],
    ["Student, Test", "9999", "", "", "Section A", "", "", "", ""],
]


@pytest.fixture
def canvas_class(tmp_path):
    """A Canvas gradebook and a grading output: three learners matched, one of the gradebook without a
    submission, and two submissions of nobody in the gradebook: one named like a formula, one with the
    name (not the id) of the learner without a submission."""
    results = [
        result("Zola, Émile_1001", "canvas", "1001", 87.5, "Zola, Émile"),
        result("O'Brien, Seán_1004", "canvas", "1004", 100, "O'Brien, Seán"),
        result("hyper_1003", "canvas", "1003", 42, '=HYPERLINK("http://x.example","y")'),
        result(FORMULA_NAME, "canvas", "7777", 55, FORMULA_NAME),
        result("Doe, Jane_8888", "canvas", "8888", 66, "Doe, Jane"),
    ]
    out = graded_folder(tmp_path, results)
    roster = write_table(tmp_path / "gradebook.csv", [CANVAS_HEADER, *CANVAS_ROWS])
    return out, roster, tmp_path / "import.csv"


def by_id(rows: list[list[str]]) -> dict[str, list[str]]:
    return {row[1]: row for row in rows[1:]}


class TestCanvasRoundTrip:
    def test_a_new_column_holds_each_matched_learners_total_and_the_points_possible(
        self, canvas_class, capsys
    ):
        """Does the import keep Canvas's learner columns and rows and add the lesson's column with totals?"""
        out, roster, target = canvas_class
        assert canvas_command(results_dir=out, roster=roster, out=target) == EXIT_OK
        rows = read_table(target)
        assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lesson 13 — Attention"]
        assert rows[1] == ["    Points Possible", "", "", "", "", "100"]
        assert [row[:5] for row in rows[1:]] == [row[:5] for row in CANVAS_ROWS]
        learners = by_id(rows)
        assert learners["1001"][5] == "87.5" and learners["1004"][5] == "100" and learners["1003"][5] == "42"
        assert learners["1002"][5] == "" and learners["9999"][5] == ""

    def test_the_byte_order_mark_and_the_separator_come_back_as_canvas_wrote_them(self, tmp_path):
        """Does a semicolon file with decimal commas come back with semicolons, its mark and scaled points?"""
        results = [result("a_1001", "canvas", "1001", 87.5)]
        roster = write_table(
            tmp_path / "gradebook.csv",
            [
                ["Student", "ID", "SIS Login ID", "Section", "Lesson 13 — Attention (555)"],
                ["    Points Possible", "", "", "", "20,00"],
                ["Zola, Émile", "1001", "ezola", "A", "3,5"],
            ],
            delimiter=";",
        )
        target = tmp_path / "import.csv"
        assert (
            canvas_command(results_dir=graded_folder(tmp_path, results), roster=roster, out=target) == EXIT_OK
        )
        assert target.read_bytes().startswith(BOM.encode())
        assert read_table(target, ";") == [
            ["Student", "ID", "SIS Login ID", "Section", "Lesson 13 — Attention (555)"],
            ["    Points Possible", "", "", "", "20,00"],
            ["Zola, Émile", "1001", "ezola", "A", "17.5"],
        ]

    def test_an_existing_assignment_is_found_by_its_title_and_totals_are_scaled_to_its_points(
        self, canvas_class, capsys
    ):
        """Does --column find "Title (id)", keep its id and points, scale totals and keep others' cells?"""
        out, roster, target = canvas_class
        assert canvas_command(results_dir=out, roster=roster, out=target, column="Lesson 13") == EXIT_OK
        rows = read_table(target)
        assert rows[0][-1] == "Lesson 13 (555)" and rows[1][-1] == "20"
        learners = by_id(rows)
        assert learners["1001"][5] == "17.5" and learners["1004"][5] == "20"
        assert learners["1002"][5] == "15"  # no submission: the grade Canvas holds stays
        assert "scaled" in capsys.readouterr().err

    def test_who_did_not_match_is_listed_and_nothing_is_matched_by_name(self, canvas_class, capsys):
        """Are the gradebook's learner without a submission and the submission of nobody both listed,
        the test student left alone, and the stray submission kept out of the import?"""
        out, roster, target = canvas_class
        canvas_command(results_dir=out, roster=roster, out=target)
        err = capsys.readouterr().err
        assert "matched 3 learner(s)" in err
        assert "1 in the gradebook without a submission" in err and "Doe, Jane" in err
        assert "2 submission(s) matching no row" in err and "Canvas user id 7777" in err
        assert "Doe, Jane_8888 (Canvas user id 8888)" in err and by_id(read_table(target))["1002"][5] == ""
        assert "Student, Test" not in err
        assert "7777" not in target.read_text(encoding="utf-8") and "55" not in target.read_text(
            encoding="utf-8"
        )

    def test_formula_looking_names_stay_what_canvas_wrote_and_never_come_from_results(self, canvas_class):
        """Is the gradebook's formula-like name written back exactly, and the learner-chosen one absent?"""
        out, roster, target = canvas_class
        canvas_command(results_dir=out, roster=roster, out=target)
        text = target.read_text(encoding="utf-8")
        assert by_id(read_table(target))["1003"][0] == '=HYPERLINK("http://x.example","y")'
        assert "cmd|" not in text

    def test_a_read_only_column_is_refused(self, canvas_class, capsys):
        """Is a total Canvas computes refused as the target column?"""
        out, roster, target = canvas_class
        assert (
            canvas_command(results_dir=out, roster=roster, out=target, column="Current Score") == EXIT_USAGE
        )
        assert "read-only" in capsys.readouterr().err and not target.exists()


WORKSHEET_HEADER = [
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
]


def worksheet_rows(maximum: str = "100.00") -> list[list[str]]:
    return [
        list(WORKSHEET_HEADER),
        [
            "Participant 501",
            "Émile Zola",
            "emile@example.com",
            "Submitted for grading",
            "",
            maximum,
            "Yes",
            "Monday, 3 March 2025, 10:00 AM",
            "-",
            "",
        ],
        [
            "Participant 502",
            "Jane Doe, Jr.",
            "jane@example.com",
            "No submission",
            "",
            maximum,
            "Yes",
            "-",
            "-",
            "<p>Seen in class</p>",
        ],
        [
            "Participant 503",
            "../../evil_1_assignfeedback\x1b_x",
            "x@example.com",
            "Submitted for grading",
            "",
            maximum,
            "No",
            "Tuesday, 4 March 2025, 9:00 AM",
            "-",
            "",
        ],
    ]


@pytest.fixture
def moodle_class(tmp_path):
    """A Moodle worksheet and a grading output: two learners matched (one locked), one without a
    submission, one submission of nobody."""
    results = [
        result("Émile Zola_501", "moodle", "501", 87.5, "Émile Zola"),
        result("evil_503", "moodle", "503", 50, "evil"),
        result(FORMULA_NAME, "moodle", "777", 60, FORMULA_NAME),
    ]
    out = graded_folder(tmp_path, results)
    return out, tmp_path / "worksheet.csv", tmp_path / "import.csv"


def run_moodle(out: Path, worksheet: Path, target: Path, maximum: str = "100.00", **options) -> int:
    write_table(worksheet, worksheet_rows(maximum))
    return moodle_command(results_dir=out, worksheet=worksheet, out=target, **options)


class TestMoodleWorksheet:
    def test_only_grade_and_feedback_comments_of_matched_learners_change(self, moodle_class):
        """Is every other cell and row of the worksheet kept, value for value?"""
        out, worksheet, target = moodle_class
        assert run_moodle(out, worksheet, target) == EXIT_OK
        before, after = worksheet_rows(), read_table(target)
        assert after[0] == before[0] and len(after) == len(before)
        grade, comments = WORKSHEET_HEADER.index("Grade"), WORKSHEET_HEADER.index("Feedback comments")
        for old, new in zip(before[1:], after[1:]):
            assert [c for i, c in enumerate(new) if i not in (grade, comments)] == [
                c for i, c in enumerate(old) if i not in (grade, comments)
            ]
        assert [row[grade] for row in after[1:]] == ["87.5", "", "50"]
        assert after[2][comments] == "<p>Seen in class</p>"  # no submission: their comment stays
        assert target.read_bytes().startswith(BOM.encode())

    def test_the_comment_is_escaped_html_with_the_points_of_each_exercise(self, tmp_path):
        """Does the comment give the total and each exercise's points, with learner text escaped?"""
        hostile = result("x_501", "moodle", "501", 87.5)
        hostile.exercises[0].module = "<script>alert(1)</script>"
        out = graded_folder(tmp_path, [hostile])
        target = tmp_path / "import.csv"
        run_moodle(out, tmp_path / "worksheet.csv", target)
        comment = read_table(target)[1][WORKSHEET_HEADER.index("Feedback comments")]
        assert comment.startswith("<p><strong>Lesson 13 — Attention: 87.5 / 100 points</strong>")
        assert "<li>3. masking: 7.5 / 20</li>" in comment and "feedback file" in comment
        assert "<script>" not in comment and "&lt;script&gt;" in comment

    def test_grades_are_scaled_to_the_worksheets_maximum_and_the_instructor_is_told(
        self, moodle_class, capsys
    ):
        """Is 87.5 of 100 written as 17.5 when Moodle's maximum is 20, and does stderr say so?"""
        out, worksheet, target = moodle_class
        assert run_moodle(out, worksheet, target, maximum="20,00") == EXIT_OK
        row = read_table(target)[1]
        assert row[WORKSHEET_HEADER.index("Grade")] == "17.5"
        assert "17.5 / 20" in row[WORKSHEET_HEADER.index("Feedback comments")]
        assert "scaled" in capsys.readouterr().err

    def test_unmatched_learners_and_locked_grades_are_listed(self, moodle_class, capsys):
        """Are the learner without a submission, the submission of nobody and the locked grade named?"""
        out, worksheet, target = moodle_class
        run_moodle(out, worksheet, target)
        err = capsys.readouterr().err
        assert "matched 2 learner(s)" in err and "Jane Doe, Jr. (Participant 502)" in err
        assert "Moodle participant id 777" in err and "cannot be changed in Moodle" in err
        assert "\x1b" not in err

    def test_a_comment_already_in_the_worksheet_is_replaced_and_named(self, moodle_class, capsys):
        """Is the instructor told whose earlier Feedback comments the import replaces?"""
        out, worksheet, target = moodle_class
        rows = worksheet_rows()
        rows[1][WORKSHEET_HEADER.index("Feedback comments")] = "<p>Great start</p>"
        write_table(worksheet, rows)
        assert moodle_command(results_dir=out, worksheet=worksheet, out=target) == EXIT_OK
        err = capsys.readouterr().err
        assert "1 learner(s) already had Feedback comments" in err and "Émile Zola (Participant 501)" in err


def moodle_member(name: str) -> tuple[str, str, str, str]:
    """What Moodle's importziplib.php reads from a member's path: explode('_', part, 5), part by part."""
    for part in name.split("/"):
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit():
            return info[1], info[2], info[3], (info[4] if len(info) == 5 else "")
    raise AssertionError(f"Moodle would skip {name!r}")


class TestFeedbackZip:
    def test_each_member_parses_back_to_its_participant_and_holds_their_page(self, moodle_class):
        """Would Moodle give each page to the right participant, under the feedback file plugin?"""
        out, worksheet, target = moodle_class
        archive_path = out.parent / "feedback.zip"
        assert run_moodle(out, worksheet, target, feedback_zip=archive_path) == EXIT_OK
        with zipfile.ZipFile(archive_path) as archive:
            members = {moodle_member(name)[0]: (name, archive.read(name)) for name in archive.namelist()}
        assert sorted(members) == ["501", "503"]
        for participant, (name, page) in members.items():
            assert moodle_member(name)[1:] == ("assignfeedback", "file", FEEDBACK_FILE)
            assert f"Feedback for {participant}".encode() in page
            assert not set(name) & set("/\\\x1b\0") and ".." not in name and not name.startswith((".", "~"))
            assert len(name) < 120

    def test_member_names_are_plain_whatever_the_name(self):
        """Is a name with separators, dots, controls and underscores reduced to a plain one?"""
        name = member_name("../..\\evil_1_assignfeedback\u202e\x1b_x", "503")
        assert moodle_member(name) == ("503", "assignfeedback", "file", FEEDBACK_FILE)
        assert name == f"evil 1 assignfeedback x_503_assignfeedback_file_{FEEDBACK_FILE}"
        assert member_name("", "7").startswith("Participant_7_")
        with pytest.raises(ValueError):
            member_name("x", "7/../8")

    def test_pages_are_read_by_the_grading_runs_stem_never_by_a_name_from_results(self, tmp_path, capsys):
        """Does a submission named like a path read nothing outside DIR/feedback/?"""
        (tmp_path / "secret.html").write_text("SECRET", encoding="utf-8")
        out = graded_folder(tmp_path, [result("../../secret", "moodle", "501", 90)], pages=False)
        archive_path = tmp_path / "feedback.zip"
        assert (
            run_moodle(out, tmp_path / "worksheet.csv", tmp_path / "import.csv", feedback_zip=archive_path)
            == 0
        )
        with zipfile.ZipFile(archive_path) as archive:
            assert archive.namelist() == []
        assert "have no page in the feedback zip" in capsys.readouterr().err


class TestRefusals:
    def test_results_of_another_lms_say_what_dir_holds(self, moodle_class, tmp_path, capsys):
        """Is a Moodle-graded DIR given to `export canvas` a usage error naming both?"""
        out, _, _ = moodle_class
        roster = write_table(tmp_path / "gradebook.csv", [CANVAS_HEADER, *CANVAS_ROWS])
        assert canvas_command(results_dir=out, roster=roster, out=tmp_path / "import.csv") == EXIT_USAGE
        err = capsys.readouterr().err
        assert "3 from a Moodle export" in err and "Canvas user id" in err and len(err.splitlines()) == 1

    def test_results_without_identities_are_refused(self, tmp_path, capsys):
        """Is a DIR graded from a plain folder refused, saying so?"""
        out = graded_folder(tmp_path, [result("alice", "", "", 90)])
        code = run_moodle(out, tmp_path / "worksheet.csv", tmp_path / "import.csv")
        assert code == EXIT_USAGE and "plain folder (no LMS identities)" in capsys.readouterr().err

    def test_duplicate_ids_in_the_roster_are_named(self, canvas_class, capsys):
        """Is a Canvas user id found on two rows of the gradebook refused, naming it?"""
        out, roster, target = canvas_class
        write_table(
            roster, [CANVAS_HEADER, *CANVAS_ROWS, ["Twin, Émile", "1001", "", "", "A", "", "", "", ""]]
        )
        assert canvas_command(results_dir=out, roster=roster, out=target) == EXIT_USAGE
        assert "more than one row for the same Canvas user id: 1001" in capsys.readouterr().err

    def test_duplicate_ids_in_the_results_are_named(self, tmp_path, capsys):
        """Are two results for one participant refused, naming the id, rather than one picked?"""
        out = graded_folder(
            tmp_path, [result("a_501", "moodle", "501", 1), result("b_501", "moodle", "501", 2)]
        )
        assert run_moodle(out, tmp_path / "worksheet.csv", tmp_path / "import.csv") == EXIT_USAGE
        assert "more than one result for the same Moodle participant id: 501" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "content, expected",
        [
            (None, "does not exist"),
            (b'{"submissions": [', "is not valid JSON"),
            (b'{"max_score": 100}', "has no 'submissions' list"),
            (b'{"submissions": [{"submission": "x", "total": "lots"}]}', "'total' is not a number"),
            (b" " * 2048, "larger than"),
        ],
    )
    def test_a_missing_or_corrupt_results_file_is_named(
        self, tmp_path, capsys, monkeypatch, content, expected
    ):
        """Is a missing, broken, foreign or oversized results.json one line naming the file and why?"""
        monkeypatch.setattr(tables, "MAX_RESULTS_BYTES", 1024)
        out = tmp_path / "graded"
        out.mkdir()
        if content is not None:
            (out / "results.json").write_bytes(content)
        assert run_moodle(out, tmp_path / "worksheet.csv", tmp_path / "import.csv") == EXIT_USAGE
        err = capsys.readouterr().err
        assert str(out / "results.json") in err and expected in err

    @pytest.mark.parametrize(
        "content, expected",
        [
            (None, "does not exist"),
            (b"PK\x03\x04\x00\x00binary", "not a CSV file"),
            (b"Student,ID,Section\r\nZ\xe9la,1,A\r\n", "not UTF-8"),
            (b"\xff\xfeS\x00t\x00", "is UTF-16 text"),
            (b"Student,ID,Lesson\r\n", "lacks the column(s) 'Section'"),
            (b'Student,ID,Section\r\n"open,1,A\r\n', "not a well-formed CSV"),
        ],
    )
    def test_a_bad_roster_is_named_with_its_problem(self, canvas_class, capsys, content, expected):
        """Is a roster that is missing, binary, not UTF-8, short of a column or malformed named with why?"""
        out, roster, target = canvas_class
        roster.unlink()
        if content is not None:
            roster.write_bytes(content)
        assert canvas_command(results_dir=out, roster=roster, out=target) == EXIT_USAGE
        err = capsys.readouterr().err
        assert f"--roster {roster}" in err and expected in err and not target.exists()

    def test_a_worksheet_for_a_scale_or_with_a_strange_identifier_is_refused(self, moodle_class, capsys):
        """Are a scale-graded worksheet and a row without a participant number refused?"""
        out, worksheet, target = moodle_class
        rows = worksheet_rows()
        rows[0][WORKSHEET_HEADER.index("Maximum Grade")] = "Scale"
        write_table(worksheet, rows)
        assert moodle_command(results_dir=out, worksheet=worksheet, out=target) == EXIT_USAGE
        assert "graded on a scale" in capsys.readouterr().err
        rows = worksheet_rows()
        rows[2][0] = "Somebody"
        write_table(worksheet, rows)
        assert moodle_command(results_dir=out, worksheet=worksheet, out=target) == EXIT_USAGE
        assert "row 3: its Identifier is 'Somebody'" in capsys.readouterr().err

    def test_the_import_never_overwrites_the_lms_file(self, canvas_class, capsys):
        """Is --out equal to the LMS's own file refused, leaving it as it was?"""
        out, roster, _ = canvas_class
        before = roster.read_bytes()
        assert canvas_command(results_dir=out, roster=roster, out=roster) == EXIT_USAGE
        assert roster.read_bytes() == before and "is the --roster file itself" in capsys.readouterr().err

    def test_a_write_that_fails_leaves_the_old_file_whole_and_no_temporary(self, tmp_path):
        """Does a write that fails midway leave the old file and no temporary file?"""
        target = tmp_path / "import.csv"
        target.write_text("old", encoding="utf-8")
        with pytest.raises(RuntimeError), atomic_path(target) as temporary:
            temporary.write_text("half", encoding="utf-8")
            raise RuntimeError("disk full")
        assert target.read_text(encoding="utf-8") == "old" and sorted(tmp_path.iterdir()) == [target]


class TestGrades:
    @pytest.mark.parametrize(
        "value, text",
        [(87.5, "87.5"), (100.0, "100"), (100 / 3, "33.33"), (0.0, "0"), (1e-9, "0"), (19.999, "20")],
    )
    def test_a_grade_has_at_most_two_decimals_and_a_point(self, value, text):
        """Is a grade written with a point and at most two decimals, as both LMSs read it?"""
        assert format_grade(value) == text

    def test_scaling_stays_within_the_lms_maximum(self):
        """Is a scaled grade never above the LMS's maximum (which Moodle would skip)?"""
        assert scaled(87.5, 100, 20) == 17.5 and scaled(150, 100, 20) == 20 and scaled(50, 100, 100) == 50

    @pytest.mark.parametrize(
        "text, value", [("100.00", 100), ("20,00", 20), (" 1 000,5 ", 1000.5), ("x", None)]
    )
    def test_points_are_read_as_the_lms_writes_them(self, text, value):
        """Are points read with a decimal point or comma and thousands spaces?"""
        assert parse_points(text) == value


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", "export", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestCommandLine:
    def test_success_exits_zero_and_a_usage_error_exits_two_in_one_line(self, canvas_class):
        """Does the command exit 0 when it wrote the import and 2, in one line, when it cannot?"""
        out, roster, target = canvas_class
        done = run("canvas", str(out), "--roster", str(roster), "--out", str(target))
        assert done.returncode == 0 and target.exists() and "matched 3 learner(s)" in done.stderr
        missing = run(
            "canvas", str(out), "--roster", str(roster.parent / "nowhere.csv"), "--out", str(target)
        )
        assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
        assert missing.stderr.startswith("grader export canvas: --roster ")

    def test_help_teaches_with_examples_and_exit_codes(self):
        """Does --help show real command lines and the exit codes; does a bare `export` list the LMSs?"""
        for lms in ("canvas", "moodle"):
            done = run(lms, "--help")
            assert done.returncode == 0 and "examples:" in done.stdout and "exit codes:" in done.stdout
            assert f"python -m grader export {lms} grades" in done.stdout
        bare = run()
        assert bare.returncode == 2 and "canvas" in bare.stdout and "moodle" in bare.stdout
