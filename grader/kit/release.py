"""Build the learner kit: ``python -m grader release OUT`` writes the folder ``OUT`` and ``OUT.zip``.

The kit is what a learner gets and nothing more: the stubs (generated afresh from ``solutions/``),
the visible tests and their ``conftest.py``, the learner's tools (``learner/``, which never import the
grader), a learner README, a ``pyproject.toml`` and the ``constraints.txt`` pins. No ``solutions/``, no
``grader/``, no ``tests/``: the build checks its own output for solution regions and solution code
before it writes the zip, and stops if it finds any.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

from grader.exits import EXIT_FAILED_CHECK, EXIT_OK, EXIT_USAGE, UsageError
from grader.kit import stubs

REPO = Path(__file__).resolve().parents[2]
KIT_README = Path("learner") / "KIT_README.md"  # becomes the kit's README.md
KIT_VERSION = "13.0"
# The kit's requirements: the exercises' (as in pyproject.toml's [project]), the visible tests' runner,
# and the learner tools' (pyproject.toml's `learner` extra). tests/test_release.py keeps them in step.
KIT_DEPENDENCIES = ("torch>=2.2,<3", "numpy>=1.24", "pytest>=8", "watchfiles>=0.21", "matplotlib>=3.7")
SOURCE_FOLDERS = ("exercises", "solutions", "grader", "learner", "tests")
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", KIT_README.name)

KIT_PYPROJECT = """\
# The Lesson 13 exercise kit. Install it once, in a virtual environment (README.md, "Set up"):
#   pip install -c constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu -e .
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "lesson13-attention-kit"
version = "{version}"
description = "Lesson 13 — Attention: seven exercises, their visible tests, hints, watch mode and pictures."
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
{dependencies}
]

[tool.setuptools]
packages = ["learner"]  # the exercises are not installed: pytest and the tools read them where they are

[tool.pytest.ini_options]
testpaths = ["exercises"]
pythonpath = ["."]
"""

KIT_GITIGNORE = """\
.venv/
__pycache__/
.pytest_cache/
*.egg-info/
show-*.png
"""


class ReleaseError(Exception):
    """The kit would carry something a learner must not get; the message lists what and where."""


def release(out: Path, *, repo: Path = REPO, force: bool = False) -> Path:
    """Build the learner kit into the folder ``out`` and the archive ``out.zip`` beside it; returns
    ``out``."""
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UsageError(
            f"{out} already exists and is not empty: choose a new folder, or pass --force to replace it"
        )
    repo = Path(repo).resolve()
    if repo.is_relative_to(out) or any(out.is_relative_to(repo / name) for name in SOURCE_FOLDERS):
        raise UsageError(
            f"{out} would overwrite the kit's sources: choose a folder such as dist/lesson13-kit"
        )
    building = out.with_name(f".{out.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    try:
        _lay_out(building, repo)
        leaks = find_leaks(building, repo)
        if leaks:
            raise ReleaseError("the kit would leak: " + "; ".join(leaks[:10]))
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        building.rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _zip(out, out.with_name(out.name + ".zip"))
    return out


def release_command(*, out: Path, force: bool = False) -> int:
    """``python -m grader release OUT``: build the kit, print what was written; an exit code."""

    try:
        folder = release(out, force=force)
    except UsageError as error:
        print(f"grader release: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (ReleaseError, stubs.StubError) as error:
        print(f"grader release: {error}", file=sys.stderr)
        return EXIT_FAILED_CHECK
    files = sum(1 for path in folder.rglob("*") if path.is_file())
    print(
        f"wrote the learner kit to {folder}/ ({files} files) and {folder.name}.zip beside it", file=sys.stderr
    )
    return EXIT_OK


def find_leaks(kit: Path, repo: Path = REPO) -> list[str]:
    """What in ``kit`` a learner must not get: grader or reference folders, solution markers, solution
    code."""
    leaks = [f"{name}/ is in the kit" for name in ("solutions", "grader", "tests") if (kit / name).exists()]
    solution_lines = _solution_lines(repo / "solutions")
    for path in sorted(
        p for p in kit.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".toml", ".txt", ".cfg")
    ):
        where = path.relative_to(kit).as_posix()
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1
        ):
            if stubs.BEGIN_MARK in line or stubs.END_MARK in line:
                leaks.append(f"{where} line {number}: a solution marker")
            elif line.strip() in solution_lines:
                leaks.append(f"{where} line {number}: a line of the reference solution")
    return leaks


def _lay_out(kit: Path, repo: Path) -> None:
    exercises = kit / "exercises"
    exercises.mkdir(parents=True)
    for name, text in stubs.generate(repo / "solutions").items():
        (exercises / name).write_text(text, encoding="utf-8")
    for test in sorted((repo / "exercises").glob("test_*.py")) + [repo / "exercises" / "conftest.py"]:
        shutil.copy2(test, exercises / test.name)
    shutil.copytree(repo / "learner", kit / "learner", ignore=NOT_SHIPPED)
    shutil.copy2(repo / KIT_README, kit / "README.md")
    dependencies = "\n".join(f'    "{requirement}",' for requirement in KIT_DEPENDENCIES)
    (kit / "pyproject.toml").write_text(
        KIT_PYPROJECT.format(version=KIT_VERSION, dependencies=dependencies), encoding="utf-8"
    )
    pins = [
        line
        for line in (repo / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (kit / "constraints.txt").write_text(
        "# Use with `pip install -c constraints.txt -e .`. The pin is a version, not a build: on Linux add\n"
        "# `--extra-index-url https://download.pytorch.org/whl/cpu` for the CPU build (README.md, Set up).\n"
        + "\n".join(pins)
        + "\n",
        encoding="utf-8",
    )
    (kit / ".gitignore").write_text(KIT_GITIGNORE, encoding="utf-8")


def _solution_lines(solutions: Path) -> set[str]:
    """The code lines inside every solution region (comments and short lines such as ``return x`` left
    out)."""
    found = set()
    for path in solutions.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for region in stubs.find_regions(source, str(path)):
            for line in lines[region.begin : region.end - 1]:
                stripped = line.strip()
                if len(stripped) > 12 and not stripped.startswith("#"):
                    found.add(stripped)
    return found


def _zip(folder: Path, archive: Path) -> None:
    """``archive`` unpacks to ``folder.name/``; entries sorted so two builds of one tree list the same."""
    archive.unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, (Path(folder.name) / path.relative_to(folder)).as_posix())
