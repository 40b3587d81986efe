"""Do a folder, an exercises/ subfolder, a .zip and a folder of submissions all load — and bad entries
get a reason?"""

import shutil
import zipfile
from pathlib import Path

import pytest

from grader.exits import UsageError
from grader.intake.layout import discover, take_in
from grader.intake.submission import MODULE_FILES, extract_modules

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"


def write_modules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in MODULE_FILES:
        shutil.copy(SOLUTIONS / name, folder / name)
    return folder


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


class TestOneSubmission:
    def test_folder_with_modules(self, tmp_path):
        folder = write_modules(tmp_path / "alice")
        (submission,) = discover(folder, tmp_path / "scratch")
        assert submission.name == "alice" and submission.folder == folder and submission.problems == []

    def test_modules_under_exercises(self, tmp_path):
        write_modules(tmp_path / "alice" / "exercises")
        (submission,) = discover(tmp_path / "alice", tmp_path / "scratch")
        assert submission.folder == tmp_path / "alice" / "exercises"

    def test_zip_with_a_nested_top_folder(self, tmp_path):
        archive = zip_folder(
            write_modules(tmp_path / "src"), tmp_path / "bob.zip", prefix="bob-lesson13/exercises/"
        )
        (submission,) = discover(archive, tmp_path / "scratch")
        assert submission.name == "bob" and submission.problems == []
        assert all(submission.has_module(name) for name in MODULE_FILES)

    def test_zip_and_folder_hold_the_same_modules(self, tmp_path):
        folder = write_modules(tmp_path / "src")
        (from_zip,) = discover(zip_folder(folder, tmp_path / "a.zip"), tmp_path / "scratch")
        for name in MODULE_FILES:
            assert (from_zip.folder / name).read_bytes() == (folder / name).read_bytes()


class TestClassFolder:
    def test_every_entry_gets_a_submission_in_name_order(self, tmp_path):
        klass = tmp_path / "class"
        write_modules(klass / "carol")
        zip_folder(write_modules(tmp_path / "src"), klass / "alice.zip")
        (klass / "empty").mkdir()
        (klass / "notes.txt").write_text("not a submission")
        (klass / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
        intake = take_in(klass, tmp_path / "scratch")
        names = {s.name: s for s in intake.submissions}
        assert list(names) == ["alice", "broken", "carol", "empty"]
        assert names["alice"].problems == [] and names["carol"].problems == []
        assert "could not be read as a zip" in names["broken"].problems[0]
        assert "holds none of softmax.py" in names["empty"].problems[0]
        assert intake.skipped == [("notes.txt", "a loose file, neither a learner's folder nor a .zip")]

    def test_symlinked_entry_is_never_followed(self, tmp_path):
        klass = tmp_path / "class"
        write_modules(tmp_path / "elsewhere")
        klass.mkdir()
        (klass / "linked").symlink_to(tmp_path / "elsewhere")
        (submission,) = discover(klass, tmp_path / "scratch")
        assert submission.folder is None and "symbolic link" in submission.problems[0]

    def test_empty_class_folder_is_a_usage_error_naming_the_fix(self, tmp_path):
        (tmp_path / "class").mkdir()
        with pytest.raises(
            UsageError, match="holds no submissions .* it holds nothing. Expected one submission"
        ):
            discover(tmp_path / "class", tmp_path / "scratch")

    def test_missing_path_is_a_usage_error(self, tmp_path):
        with pytest.raises(UsageError, match="does not exist"):
            discover(tmp_path / "nope", tmp_path / "scratch")


class TestUnsafeZips:
    @pytest.mark.parametrize(
        "member", ["../escape.py", "/abs/softmax.py", "a/../../escape.py", "C:/windows/softmax.py"]
    )
    def test_paths_outside_the_archive_are_refused(self, tmp_path, member):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr(member, "print('escaped')\n")
        with pytest.raises(ValueError):
            extract_modules(archive, tmp_path / "target")
        assert not (tmp_path / "escape.py").exists()

    def test_symlink_members_are_refused(self, tmp_path):
        archive = tmp_path / "link.zip"
        info = zipfile.ZipInfo("softmax.py")
        info.external_attr = 0o120777 << 16  # a symbolic link
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr(info, "/etc/passwd")
        with pytest.raises(ValueError, match="symbolic link"):
            extract_modules(archive, tmp_path / "target")

    def test_a_zip_bomb_is_refused_without_filling_the_disk(self, tmp_path):
        archive = tmp_path / "bomb.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr("softmax.py", b"#" * (50 << 20))
        assert archive.stat().st_size < 1 << 20
        with pytest.raises(ValueError, match="limit"):
            extract_modules(archive, tmp_path / "target")
        assert sum(p.stat().st_size for p in (tmp_path / "target").rglob("*") if p.is_file()) == 0

    def test_bad_zip_in_a_class_costs_only_itself(self, tmp_path):
        klass = tmp_path / "class"
        write_modules(klass / "good")
        with zipfile.ZipFile(klass / "evil.zip", "w") as bundle:
            bundle.writestr("../../x.py", "x = 1\n")
        found = {s.name: s for s in discover(klass, tmp_path / "scratch")}
        assert found["good"].problems == [] and "outside the archive" in found["evil"].problems[0]


def test_a_path_that_cannot_be_read_is_a_usage_error_not_a_traceback(tmp_path, monkeypatch):
    """PATH unreadable (a folder of another user, say): the command says so in one line and stops."""
    from grader.intake import layout

    class Unreadable(type(Path())):
        def is_symlink(self):
            raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(layout, "Path", Unreadable)
    with pytest.raises(UsageError, match="cannot be read: Permission denied"):
        layout.detect_layout(tmp_path)
