"""Whole-class LMS exports: each learner found once, under their LMS identity, from a folder or the zip.

Exports are built as Moodle, Canvas, GitHub Classroom and Gradescope lay them out (``tests/lms_exports.py``):
names with spaces and accents, a Moodle participant with a zip, one with a nested folder, one with online
text only; Canvas late entries, re-uploads and a learner's zip; a GitHub Classroom clone; a Gradescope
export with a group submission. The layout is decided from the whole class and said; nothing is dropped
without a reason.
"""

from __future__ import annotations

import io
import shutil
import unicodedata
import zipfile

import pytest

from grader.exits import UsageError
from grader.intake.layout import (
    CANVAS,
    CLASS,
    GITHUB_CLASSROOM,
    GRADESCOPE,
    MOODLE,
    NBGRADER,
    ONE_SUBMISSION,
    take_in,
)
from tests.lms_exports import (
    MODULES,
    SOLUTIONS,
    canvas_export,
    github_classroom_clone,
    gradescope_export,
    modules_into,
    moodle_export,
    zip_folder,
)


def found(intake) -> dict[str, tuple[str, str, bool]]:
    return {s.name: (s.identity.id, s.identity.name, s.folder is not None) for s in intake.submissions}


def graded_files(submission) -> dict[str, bytes]:
    return {name: (submission.folder / name).read_bytes() for name in MODULES if submission.has_module(name)}


class TestMoodle:
    @pytest.mark.parametrize("style", ["4.1", "3.x", "flat"])
    def test_each_participant_is_one_learner_under_their_participant_id(self, tmp_path, style):
        expected = moodle_export(tmp_path / "export", style)
        intake = take_in(tmp_path / "export", tmp_path / "scratch")
        assert intake.layout.kind == MOODLE, intake.layout
        assert found(intake) == expected
        assert all(s.identity.lms == "moodle" for s in intake.submissions)
        for submission in intake.submissions:
            if submission.folder is not None:
                assert graded_files(submission) == {m: (SOLUTIONS / m).read_bytes() for m in MODULES}

    def test_what_each_learner_handed_in_is_said_in_their_notes(self, tmp_path):
        moodle_export(tmp_path / "export")
        by_name = {s.name: s for s in take_in(tmp_path / "export", tmp_path / "scratch").submissions}
        assert by_name["Chloé Dubois_1003"].notes == ["graded the modules in your my work.zip"]
        dan = by_name["Dan Smith_1004"]
        assert "online text" in dan.notes[0] and "nothing to grade" in dan.problems[0]
        assert "online text" in by_name["Eve Stone_1005"].notes[0]

    def test_the_console_counts_say_who_has_no_submission(self, tmp_path):
        moodle_export(tmp_path / "export")
        intake = take_in(tmp_path / "export", tmp_path / "scratch")
        assert (
            intake.counts() == "5 participant(s): 4 graded, 1 without a submission; 6 entries seen, 0 skipped"
        )

    def test_two_zips_in_a_folder_are_a_question_not_a_guess(self, tmp_path):
        folder = tmp_path / "export" / "Ana Pérez_1001_assignsubmission_file"
        folder.mkdir(parents=True)
        for name in ("v1.zip", "v2.zip"):
            shutil.copy(zip_folder(modules_into(tmp_path / "src"), tmp_path / name), folder / name)
        (submission,) = take_in(tmp_path / "export", tmp_path / "scratch").submissions
        assert (
            submission.folder is None
            and "2 zips (v1.zip, v2.zip): which one to grade?" in submission.problems[0]
        )


class TestCanvas:
    def test_each_student_is_one_learner_under_their_user_id(self, tmp_path):
        expected = canvas_export(tmp_path / "export")
        intake = take_in(tmp_path / "export", tmp_path / "scratch")
        assert intake.layout.kind == CANVAS, intake.layout
        assert found(intake) == expected
        assert intake.skipped == []

    def test_the_latest_upload_of_a_module_is_graded_and_the_feedback_says_which(self, tmp_path):
        canvas_export(tmp_path / "export")
        by_name = {s.name: s for s in take_in(tmp_path / "export", tmp_path / "scratch").submissions}
        chloe = by_name["duboischloe_2003"]
        assert (chloe.folder / "softmax.py").read_text().endswith("# the second upload\n")
        assert chloe.notes == [
            "graded softmax-1.py as softmax.py (your latest upload of it); not graded: softmax.py"
        ]

    def test_a_learners_zip_is_unpacked_and_text_entries_are_noted(self, tmp_path):
        canvas_export(tmp_path / "export")
        by_name = {s.name: s for s in take_in(tmp_path / "export", tmp_path / "scratch").submissions}
        dan = by_name["smithdan_2004"]
        assert graded_files(dan) == {m: (SOLUTIONS / m).read_bytes() for m in MODULES}
        assert any("text entry" in note for note in dan.notes)
        assert "only online text or a link" in by_name["stoneeve_2005"].problems[0]

    def test_anonymous_grading_names_learners_by_their_anonymous_id(self, tmp_path):
        export = tmp_path / "export"
        export.mkdir()
        for n, name in enumerate(MODULES):
            shutil.copy(SOLUTIONS / name, export / f"anon_Ab3xZ_{900 + n}_{name}")
            shutil.copy(SOLUTIONS / name, export / f"LATE_anon_Qr7Tu_{800 + n}_{name}")
        intake = take_in(export, tmp_path / "scratch")
        assert intake.layout.kind == CANVAS
        assert found(intake) == {
            "anon_Ab3xZ": ("anon_Ab3xZ", "", True),
            "anon_Qr7Tu": ("anon_Qr7Tu", "", True),
        }


class TestOtherExports:
    def test_a_github_classroom_clone_names_learners_by_login(self, tmp_path):
        expected = github_classroom_clone(tmp_path / "clones")
        intake = take_in(tmp_path / "clones", tmp_path / "scratch")
        assert intake.layout.kind == GITHUB_CLASSROOM, intake.layout
        assert "lesson-13-attention-submissions/" in intake.layout.why
        assert found(intake) == expected
        assert {s.identity.login for s in intake.submissions} == set(expected)

    def test_a_gradescope_export_names_learners_from_its_metadata(self, tmp_path):
        expected = gradescope_export(tmp_path / "export")
        intake = take_in(tmp_path / "export", tmp_path / "scratch")
        assert intake.layout.kind == GRADESCOPE, intake.layout
        assert found(intake) == expected
        emails = {s.name: s.identity.login for s in intake.submissions}
        assert emails == {"submission_111": "ana@example.edu", "submission_222": "bob@example.edu"}

    def test_nbgrader_students_are_named_by_their_student_id(self, tmp_path):
        notebook = tmp_path / "course" / "submitted" / "s1" / "lesson13" / "lesson13.ipynb"
        notebook.parent.mkdir(parents=True)
        notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        intake = take_in(tmp_path / "course", tmp_path / "scratch")
        assert intake.layout.kind == NBGRADER
        assert [(s.identity.lms, s.identity.id) for s in intake.submissions] == [("nbgrader", "s1")]


class TestTheWholeExportZip:
    @pytest.mark.parametrize(
        "build", [moodle_export, canvas_export, gradescope_export, github_classroom_clone]
    )
    def test_the_zip_and_the_unzipped_folder_give_the_same_learners_and_files(self, tmp_path, build):
        build(tmp_path / "export")
        archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
        folder = take_in(tmp_path / "export", tmp_path / "scratch-folder")
        zipped = take_in(archive, tmp_path / "scratch-zip")
        assert zipped.layout.kind == folder.layout.kind
        assert zipped.layout.why.startswith("PATH is a .zip of a whole class, read as if unzipped")
        assert found(zipped) == found(folder)
        for a, b in zip(zipped.submissions, folder.submissions):
            assert (a.identity, a.problems, a.notes) == (b.identity, b.problems, b.notes)
            assert graded_files(a) == graded_files(b)

    def test_a_zip_of_one_learners_modules_is_still_one_submission(self, tmp_path):
        archive = zip_folder(modules_into(tmp_path / "mine" / "exercises").parent, tmp_path / "mine.zip")
        intake = take_in(archive, tmp_path / "scratch")
        assert intake.layout.kind == ONE_SUBMISSION and [s.name for s in intake.submissions] == ["mine"]

    def test_names_written_without_the_utf8_flag_are_read_as_utf8(self, tmp_path):
        """zipfile reads a name as cp437 unless the zip flags it UTF-8; not every LMS's writer does."""
        placeholder, real = "Ana Mar__a_1001_assignsubmission_file_softmax.py", "Ana María_1001_"
        archive = tmp_path / "export.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.write(SOLUTIONS / "softmax.py", placeholder)
        data = archive.read_bytes().replace(b"Mar__a", "María".encode())  # same length: offsets hold
        archive.write_bytes(data)
        (submission,) = take_in(archive, tmp_path / "scratch").submissions
        assert submission.name == "Ana María_1001" and real.startswith(submission.identity.name)

    def test_names_unzipped_on_a_mac_are_the_same_learner(self, tmp_path):
        expected = moodle_export(tmp_path / "export")
        decomposed = tmp_path / "nfd"
        decomposed.mkdir()
        for entry in (tmp_path / "export").iterdir():
            entry.rename(decomposed / unicodedata.normalize("NFD", entry.name))
        assert found(take_in(decomposed, tmp_path / "scratch")) == expected


class TestDecidedFromTheWholeClass:
    def test_one_moodle_named_entry_does_not_turn_a_class_into_an_export(self, tmp_path):
        klass = tmp_path / "class"
        for name in ("alice", "bob", "carol"):
            modules_into(klass / name)
        modules_into(klass / "Mallory_666_assignsubmission_file_")
        intake = take_in(klass, tmp_path / "scratch")
        assert intake.layout.kind == CLASS
        assert [s.name for s in intake.submissions] == [
            "Mallory_666_assignsubmission_file_",
            "alice",
            "bob",
            "carol",
        ]
        assert all(s.identity.lms == "" for s in intake.submissions)

    def test_entries_that_are_no_ones_are_listed_with_their_reason(self, tmp_path):
        moodle_export(tmp_path / "export")
        (tmp_path / "export" / "__MACOSX").mkdir()
        (tmp_path / "export" / ".DS_Store").write_text("")
        (tmp_path / "export" / "index.html").write_text("")
        intake = take_in(tmp_path / "export", tmp_path / "scratch")
        assert intake.layout.kind == MOODLE
        reasons = dict(intake.skipped)
        assert set(reasons) == {"__MACOSX", ".DS_Store", "index.html"}
        assert "not a Moodle participant's entry" in reasons["index.html"]
        assert "operating system" in reasons["__MACOSX"]

    def test_an_export_unzipped_into_a_folder_of_its_own_is_looked_through(self, tmp_path):
        expected = moodle_export(tmp_path / "wrapper" / "DL101-Lesson 13-4521")
        intake = take_in(tmp_path / "wrapper", tmp_path / "scratch")
        assert intake.layout.kind == MOODLE and "DL101-Lesson 13-4521/" in intake.layout.why
        assert found(intake) == expected

    def test_a_forced_layout_reads_the_class_by_its_rules(self, tmp_path):
        klass = tmp_path / "class"
        modules_into(klass / "Ana_1001_assignsubmission_file")
        modules_into(klass / "bob")
        assert take_in(klass, tmp_path / "s1").layout.kind == CLASS  # one of two: no majority
        forced = take_in(klass, tmp_path / "s2", forced=MOODLE)
        assert found(forced) == {"Ana_1001": ("1001", "Ana", True)}
        assert [name for name, _ in forced.skipped] == ["bob"]

    def test_an_unknown_layout_says_what_was_found(self, tmp_path):
        klass = tmp_path / "class"
        klass.mkdir()
        for name in ("report.pdf", "notes.txt", "marks.xlsx"):
            (klass / name).write_text("x")
        with pytest.raises(UsageError) as error:
            take_in(klass, tmp_path / "scratch")
        said = str(error.value)
        assert "it holds marks.xlsx, notes.txt, report.pdf" in said
        assert "Moodle (<full name>_<id>_assignsubmission_file_)" in said and "Canvas" in said

    def test_a_zip_with_neither_modules_nor_a_class_says_what_it_holds(self, tmp_path):
        archive = tmp_path / "export.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr("readme.txt", "hello")
        with pytest.raises(UsageError, match="it holds readme.txt"):
            take_in(archive, tmp_path / "scratch")


class TestHostileExports:
    def test_an_oversized_upload_costs_its_learner_and_says_why(self, tmp_path):
        export = tmp_path / "export"
        canvas_export(export)
        (export / "perezana_2001_999999_softmax.py").write_bytes(b"#" * (2 << 20))
        by_name = {s.name: s for s in take_in(export, tmp_path / "scratch").submissions}
        (problem,) = by_name["perezana_2001"].problems
        assert "softmax.py is more than 1048576 bytes" in problem

    def test_unsafe_members_of_a_class_zip_are_skipped_each_with_why(self, tmp_path):
        moodle_export(tmp_path / "export")
        archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
        with zipfile.ZipFile(archive, "a") as bundle:
            bundle.writestr("../../escaped.py", "x = 1\n")
            link = zipfile.ZipInfo("Mallory_666_assignsubmission_file/softmax.py")
            link.external_attr = 0o120777 << 16
            bundle.writestr(link, "/etc/passwd")
        intake = take_in(archive, tmp_path / "scratch")
        reasons = dict(intake.skipped)
        assert "points outside the archive" in reasons["../../escaped.py (in the zip)"]
        assert "symbolic link" in reasons["Mallory_666_assignsubmission_file/softmax.py (in the zip)"]
        assert not (tmp_path / "escaped.py").exists() and not list(tmp_path.rglob("escaped.py"))
        assert len(intake.submissions) == 5

    def test_a_member_past_its_limit_is_cut_so_its_row_says_it_is_too_large(self, tmp_path):
        archive = tmp_path / "export.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr("Ana_1_assignsubmission_file_softmax.py", b"#" * (50 << 20))
            bundle.writestr("Bob_2_assignsubmission_file_softmax.py", (SOLUTIONS / "softmax.py").read_bytes())
        intake = take_in(archive, tmp_path / "scratch")
        on_disk = sum(p.stat().st_size for p in (tmp_path / "scratch").rglob("*") if p.is_file())
        assert on_disk < 3 << 20  # a bomb is never unpacked whole
        by_name = {s.name: s for s in intake.submissions}
        assert (
            "is more than 1048576 bytes" in by_name["Ana_1"].problems[0] and by_name["Bob_2"].problems == []
        )

    def test_names_from_the_export_reach_the_console_inert(self, tmp_path):
        from grader.bulk import _announce

        export = tmp_path / "export"
        moodle_export(export)
        (export / "\x1b]0;owned\x07\u202eevil").write_text("")
        stream = io.StringIO()
        _announce(take_in(export, tmp_path / "scratch"), stream)
        printed = stream.getvalue()
        assert "skipped: \\x1b]0;owned\\x07\\u202eevil" in printed
        assert "\x1b" not in printed and "\u202e" not in printed
