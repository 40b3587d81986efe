"""Where the learner's kit is, what its last ``pytest exercises`` run said, and how to run it again.

The visible tests' ``conftest.py`` keeps each run's progress in pytest's own cache
(``.pytest_cache/v/lesson13/progress``, JSON); the hint command keeps which hints it has shown beside
it (``lesson13/hints-shown``), where the progress line reads it back. ``pytest --cache-clear`` forgets both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from learner.lesson import MODULES

EXERCISES = MODULES  # lesson order
PROGRESS_KEY, HINTS_SHOWN_KEY = (
    "lesson13/progress",
    "lesson13/hints-shown",
)  # exercises/conftest.py writes them
CACHE_VALUES = (
    Path(".pytest_cache") / "v"
)  # pytest's cache for the kit's rootdir (the folder holding pyproject.toml)
TEST_TIMEOUT_S = 600


class UsageError(Exception):
    """A one-line message for the learner: what is wrong and how to fix it."""


@dataclass(frozen=True)
class Kit:
    """The learner's kit: ``root`` holds ``exercises/`` (the stubs, the visible tests and their conftest)."""

    exercises: Path

    @property
    def root(self) -> Path:
        return self.exercises.parent

    def module_path(self, module: str) -> Path:
        return self.exercises / f"{module}.py"

    def test_path(self, module: str) -> Path:
        return self.exercises / f"test_{module}.py"

    def read(self, key: str) -> object | None:
        """A value from the kit's pytest cache, or ``None`` when it is missing or unreadable."""
        try:
            return json.loads((self.root / CACHE_VALUES / key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write(self, key: str, value: object) -> None:
        """Store ``value`` where pytest's ``config.cache.get(key)`` finds it."""
        cache = self.root / CACHE_VALUES.parent
        if not cache.exists():
            cache.mkdir(parents=True)
            # What pytest writes into a cache folder it creates: keep it out of the learner's git.
            (cache / ".gitignore").write_text("# Created by pytest automatically.\n*\n", encoding="utf-8")
        path = self.root / CACHE_VALUES / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")


def find_kit(exercises: Path | None = None) -> Kit:
    """The kit whose ``exercises/`` is given, or else the one in (or at) the current folder,
    or beside this package."""
    if exercises is not None:
        candidates = [Path(exercises)]
    else:
        here = Path.cwd()
        candidates = [here / "exercises", here, Path(__file__).resolve().parent.parent / "exercises"]
    for folder in candidates:
        if (folder / "conftest.py").is_file() and (folder / "softmax.py").is_file():
            return Kit(folder.resolve())
    where = f"{exercises} is not" if exercises is not None else "no exercises/ folder found here:"
    raise UsageError(
        f"{where} the kit's exercises folder (one holding softmax.py and conftest.py); "
        "run from the kit's folder or pass --exercises DIR"
    )


def module_of(name: str) -> str:
    """``"masking"``, ``"masking.py"``, ``"test_masking.py"``, ``"exercises/masking.py"`` or ``"3"``
    → ``"masking"``."""
    stem = Path(name.strip()).stem.removeprefix("test_")
    if stem.isdigit() and 1 <= int(stem) <= len(EXERCISES):
        return EXERCISES[int(stem) - 1]
    if stem not in EXERCISES:
        raise UsageError(
            f"{name!r} is not an exercise: expected a number 1-{len(EXERCISES)} "
            f"or one of {', '.join(EXERCISES)}"
        )
    return stem


@dataclass(frozen=True)
class Progress:
    """One ``pytest exercises`` run as the conftest recorded it."""

    finished_at: float
    first_failing: str | None
    not_run: tuple[str, ...]
    exercises: dict

    @property
    def passing(self) -> list[str]:
        return [m for m in EXERCISES if m in self.exercises and self.exercises[m].get("failed", 0) == 0]

    def todo(self, module: str) -> str | None:
        """The stub's "not implemented yet" line for ``module``, if that is how it failed."""
        return (self.exercises.get(module) or {}).get("todo")


def last_progress(kit: Kit) -> Progress | None:
    record = kit.read(PROGRESS_KEY)
    if not isinstance(record, dict) or not isinstance(record.get("exercises"), dict):
        return None
    first = record.get("first_failing")
    return Progress(
        float(record.get("finished_at", 0.0)),
        first if first in EXERCISES else None,
        tuple(m for m in record.get("not_run", ()) if m in EXERCISES),
        record["exercises"],
    )


def is_stale(kit: Kit, progress: Progress) -> bool:
    """Was any exercise or test file saved after the run that ``progress`` records?"""
    saved = [path.stat().st_mtime for path in kit.exercises.glob("*.py")]
    return bool(saved) and max(saved) > progress.finished_at


def run_visible_tests(
    kit: Kit, modules: list[str] | tuple[str, ...] = (), *, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """``pytest exercises`` (or only the tests of ``modules``) in a subprocess, output captured as text."""
    targets = [str(kit.test_path(m)) for m in modules] or [str(kit.exercises)]
    # The rootdir decides where pytest keeps its cache, so the progress lands where ``read`` looks.
    command = [sys.executable, "-m", "pytest", *targets, "--rootdir", str(kit.root), "--color=no", *extra]
    return subprocess.run(
        command,
        cwd=kit.root,
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
