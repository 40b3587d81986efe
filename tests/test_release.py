"""Does `python -m grader release OUT` build a kit with what learners need, and nothing of the grader?

And does `python -m grader autograder` build Gradescope's zip with what grading needs, and nothing else?
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

from grader.contract import EXERCISES
from grader.exits import UsageError
from grader.kit import stubs
from grader.kit.autograder import build_autograder
from grader.kit.release import KIT_DEPENDENCIES, ReleaseError, find_leaks, release

REPO = Path(__file__).resolve().parent.parent
MODULES = [exercise.module for exercise in EXERCISES]
TEXT_SUFFIXES = (".py", ".md", ".toml", ".txt", ".cfg", ".json", ".gitignore")


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    return release(tmp_path_factory.mktemp("release") / "lesson13-kit")


def kit_texts(kit: Path) -> dict[str, str]:
    return {
        path.relative_to(kit).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(kit.rglob("*"))
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_SUFFIXES)
    }


def hidden_check_texts() -> set[str]:
    """What only the hidden checks hold: their function names, their titles and their longer strings."""
    found = set()
    for path in (REPO / "grader" / "checks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("check_"):
                found.add(node.name)
                title = (ast.get_docstring(node) or "").strip().splitlines()
                if title and len(title[0]) > 20:
                    found.add(title[0].rstrip("."))
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and len(node.value.strip()) >= 40
            ):
                found.add(node.value.strip())
    return found


class TestWhatTheKitHolds:
    def test_stubs_visible_tests_tools_readme_and_pyproject(self, kit):
        files = {path.relative_to(kit).as_posix() for path in kit.rglob("*") if path.is_file()}
        exercises = {
            f"exercises/{name}" for name in ["__init__.py", "conftest.py"] + [f"{m}.py" for m in MODULES]
        }
        exercises |= {f"exercises/test_{m}.py" for m in MODULES}
        assert {f for f in files if f.startswith("exercises/")} == exercises
        assert {"README.md", "pyproject.toml", "constraints.txt", ".gitignore"} <= files
        assert {
            "learner/__main__.py",
            "learner/cli.py",
            "learner/hints.py",
            "learner/watch.py",
            "learner/show.py",
            "learner/drawing.py",
            "learner/kit.py",
            "learner/lesson.py",
            "learner/torch_modules.py",
        } <= files
        assert not [
            f
            for f in files
            if f.split("/")[0] in ("solutions", "grader", "tests", "examples") or "__pycache__" in f
        ]

    def test_the_stubs_are_generated_from_the_solutions_and_the_tests_copied(self, kit):
        for name, text in stubs.generate(REPO / "solutions").items():
            assert (kit / "exercises" / name).read_text(encoding="utf-8") == text
        for module in MODULES:
            assert (kit / "exercises" / f"test_{module}.py").read_bytes() == (
                REPO / "exercises" / f"test_{module}.py"
            ).read_bytes()

    def test_the_readme_is_for_learners_and_shows_a_picture(self, kit):
        readme = (kit / "README.md").read_text(encoding="utf-8")
        assert (
            "pytest exercises" in readme
            and "python -m learner hint" in readme
            and "python -m learner watch" in readme
        )
        picture = re.search(r"!\[[^\]]*\]\(([^)]+\.png)\)", readme).group(1)
        assert (kit / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "grader" not in readme and "solutions/" not in readme

    def test_the_zip_unpacks_to_the_same_folder(self, kit):
        with zipfile.ZipFile(kit.with_name(kit.name + ".zip")) as bundle:
            names = sorted(bundle.namelist())
            assert names == sorted(
                f"{kit.name}/{p.relative_to(kit).as_posix()}" for p in kit.rglob("*") if p.is_file()
            )
            assert (
                bundle.read(f"{kit.name}/exercises/masking.py")
                == (kit / "exercises" / "masking.py").read_bytes()
            )

    def test_the_kit_asks_for_what_the_project_asks_for(self, kit):
        project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
        needed = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["learner"]
        # The visible tests' runner; pytest-xdist only speeds up the kit's own suite.
        dev = project["project"]["optional-dependencies"]["dev"]
        needed += [r for r in dev if re.match(r"pytest\b(?!-)", r)]
        assert sorted(needed) == sorted(KIT_DEPENDENCIES)
        kit_project = tomllib.loads((kit / "pyproject.toml").read_text(encoding="utf-8"))
        assert kit_project["project"]["dependencies"] == list(KIT_DEPENDENCIES)
        assert kit_project["tool"]["pytest"]["ini_options"]["testpaths"] == ["exercises"]
        pins = [
            line
            for line in (REPO / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")
        ]
        assert [
            line for line in (kit / "constraints.txt").read_text().splitlines() if not line.startswith("#")
        ] == pins


class TestNothingOfTheGraderLeaks:
    def test_no_solution_region_and_no_solution_code(self, kit):
        solution_code = set()
        for path in (REPO / "solutions").glob("*.py"):
            lines = path.read_text(encoding="utf-8").splitlines()
            for region in stubs.find_regions(path.read_text(encoding="utf-8"), str(path)):
                solution_code |= {
                    line.strip() for line in lines[region.begin : region.end - 1] if len(line.strip()) > 12
                }
        for name, text in kit_texts(kit).items():
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name
            assert not [
                line
                for line in text.splitlines()
                if line.strip() in solution_code and not line.strip().startswith("#")
            ], name

    def test_no_hidden_check_source(self, kit):
        # The visible tests read like the checks by design (STYLE.md); what they share is public already.
        public = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "exercises").glob("*.py"))
        secrets = {secret for secret in hidden_check_texts() if secret not in public}
        assert len(secrets) > 100  # names, titles and messages of the hidden checks
        for name, text in kit_texts(kit).items():
            assert not [secret for secret in secrets if secret in text], name

    def test_no_file_of_the_grader_or_the_reference_is_copied_under_any_name(self, kit):
        grader = [p for p in (REPO / "grader").rglob("*.py") if p.stat().st_size > 200]
        reference = [
            p
            for p in (REPO / "solutions").glob("*.py")
            if stubs.find_regions(p.read_text(encoding="utf-8"), str(p))
        ]
        private = {p.read_bytes() for p in grader + reference}
        assert not [p for p in kit.rglob("*") if p.is_file() and p.read_bytes() in private]

    def test_the_leak_guard_finds_solution_code(self, tmp_path):
        (tmp_path / "exercises").mkdir()
        (tmp_path / "exercises" / "masking.py").write_text((REPO / "solutions" / "masking.py").read_text())
        leaks = find_leaks(tmp_path)
        assert any(re.fullmatch(r"exercises/masking.py line \d+: a solution marker", leak) for leak in leaks)
        assert any("a line of the reference solution" in leak for leak in leaks)

    def test_a_release_that_would_leak_stops_before_writing_anything(self, tmp_path, monkeypatch):
        import grader.kit.release as release_module

        monkeypatch.setattr(release_module, "KIT_README", Path("solutions") / "masking.py")
        with pytest.raises(ReleaseError, match="README.md line .*: a solution marker"):
            release(tmp_path / "kit")
        assert not (tmp_path / "kit").exists() and not (tmp_path / "kit.zip").exists()
        assert [p.name for p in tmp_path.iterdir()] == []


class TestTheCommand:
    def test_a_non_empty_folder_is_refused_unless_forced(self, tmp_path):
        (tmp_path / "kit").mkdir()
        (tmp_path / "kit" / "notes.txt").write_text("mine")
        with pytest.raises(UsageError, match="already exists and is not empty: .* --force"):
            release(tmp_path / "kit")
        assert release(tmp_path / "kit", force=True) == (tmp_path / "kit").resolve()
        assert (
            not (tmp_path / "kit" / "notes.txt").exists()
            and (tmp_path / "kit" / "exercises" / "softmax.py").exists()
        )

    def test_the_sources_cannot_be_overwritten(self):
        for target in (REPO, REPO / "exercises", REPO / "learner" / "kit", REPO.parent):
            with pytest.raises(UsageError, match="would overwrite the kit's sources"):
                release(target, force=True)

    def test_the_keyword_function_prints_one_line_and_returns_exit_codes(self, tmp_path, capsys):
        from grader.kit.release import release_command

        assert release_command(out=tmp_path / "kit") == 0
        assert capsys.readouterr().err.startswith(f"wrote the learner kit to {(tmp_path / 'kit').resolve()}/")
        assert release_command(out=tmp_path / "kit") == 2
        assert capsys.readouterr().err.count("\n") == 1


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    """The zip, built by the one command an instructor runs."""
    out = tmp_path_factory.mktemp("autograder") / "autograder.zip"
    command = [sys.executable, "-m", "grader", "autograder", "--out", str(out)]
    built = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0 and built.stderr.startswith(f"wrote {out}"), built.stderr
    return out


class TestTheAutograderZip:
    def test_the_scripts_sit_at_the_root_and_stay_executable(self, autograder):
        with zipfile.ZipFile(autograder) as bundle:
            for script in ("setup.sh", "run_autograder"):
                assert bundle.read(script) == (REPO / "gradescope" / script).read_bytes()
                assert bundle.getinfo(script).external_attr >> 16 & 0o111 == 0o111, script

    def test_it_holds_the_grader_the_reference_and_what_installs_them(self, autograder):
        with zipfile.ZipFile(autograder) as bundle:
            names = set(bundle.namelist())
        grader = {p.relative_to(REPO).as_posix() for p in (REPO / "grader").rglob("*.py")}
        assert grader - {n for n in grader if "__pycache__" in n} <= names
        assert {f"solutions/{m}.py" for m in MODULES} | {"learner/lesson.py", "grader/__main__.py"} <= names
        assert {"pyproject.toml", "constraints.txt", "README.md"} <= names
        assert {name.split("/")[0] for name in names} == {
            "setup.sh", "run_autograder", "grader", "solutions", "learner", "pyproject.toml",
            "constraints.txt", "README.md",
        }  # fmt: skip

    def test_no_tests_git_caches_or_build_leftovers(self, autograder):
        with zipfile.ZipFile(autograder) as bundle:
            parts = {part for name in bundle.namelist() for part in name.split("/")}
        assert not {"tests", "exercises", "examples", ".git", "__pycache__", ".pytest_cache"} & parts
        assert not [part for part in parts if part.endswith((".pyc", ".egg-info")) or part.startswith(".")]

    def test_two_builds_are_the_same_bytes_and_an_existing_zip_needs_force(self, autograder, tmp_path):
        with pytest.raises(UsageError, match="already exists: .* --force"):
            build_autograder(autograder)
        assert build_autograder(tmp_path / "again.zip").read_bytes() == autograder.read_bytes()
        with pytest.raises(UsageError, match="inside what the zip holds"):
            build_autograder(REPO / "grader" / "autograder.zip", force=True)
        assert not (REPO / "grader" / "autograder.zip").exists()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv (no --system-site-packages) with `pip install -c constraints.txt -e .` run in the kit.

    The kit's requirements and theirs are linked in first, from this interpreter (as on a learner's
    machine that already has them): pip still resolves the kit's requirements against the constraints
    and would replace any whose version disagreed; only unpacking 300 MB of wheels is saved.
    """
    root = tmp_path_factory.mktemp("installed")
    kit = release(root / "kit")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name in sorted(_with_requirements(KIT_DEPENDENCIES)):
        _link_distribution(name, Path(site))
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", "."],
        cwd=kit,
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(python), *args], cwd=kit, capture_output=True, text=True, timeout=600, env=environment
        )

    return kit, run


def _with_requirements(requirements) -> set[str]:
    """The distributions ``requirements`` name and every one they require at run time, as installed here."""
    found, todo = set(), list(requirements)
    while todo:
        current = canonical(re.split(r"[ ;<>=!~\[(]", todo.pop(), maxsplit=1)[0])
        if current in found:
            continue
        try:
            needs = metadata.requires(current) or []
        except metadata.PackageNotFoundError:
            continue
        found.add(current)
        todo += [need for need in needs if "extra ==" not in need]
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _link_distribution(name: str, site: Path) -> None:
    """Hard-link (or copy) every file of the installed distribution ``name`` into ``site``."""
    distribution = metadata.distribution(name)
    for file in distribution.files or []:
        source = Path(distribution.locate_file(file))
        if file.parts[0] == ".." or not source.is_file():
            continue  # scripts outside site-packages: the kit needs none of them
        target = site / file
        if target.exists():
            continue  # a file two distributions list (a shared __pycache__ entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


@pytest.mark.slow
class TestTheKitInstallsAndRuns:
    def test_pytest_exercises_shows_the_seven_stubs_failing_with_short_messages(self, installed):
        kit, run = installed
        result = run("-m", "pytest", "exercises")
        failures = re.findall(
            r"^(\w+\.py): (\S+\(\)) is not implemented yet — TODO: .+$", result.stdout, re.MULTILINE
        )
        assert [file for file, _ in failures] == [exercise.filename for exercise in EXERCISES]
        assert (
            re.search(r"\b7 failed, \d+ skipped in", result.stdout.splitlines()[-1])
            and result.returncode == 1
        )
        assert "0 of 7 exercises pass their visible checks" in result.stdout
        assert "Stuck? `python -m learner hint` shows hint 1 of 3 for softmax.py." in result.stdout
        assert "Traceback" not in result.stdout

    def test_the_learner_tools_run_without_the_grader(self, installed):
        kit, run = installed
        assert run("-c", "import grader").returncode != 0 and run("-c", "import solutions").returncode != 0
        hint = run("-m", "learner", "hint")
        assert hint.returncode == 0 and hint.stdout.startswith("Exercise 1, softmax.py — hint 1 of 3")
        show = run("-m", "learner", "show", "masking")
        assert show.returncode == 1 and show.stderr.startswith(
            "masking.py: masked_attention() is not implemented yet"
        )
        assert run("-c", "import watchfiles, matplotlib").returncode == 0
