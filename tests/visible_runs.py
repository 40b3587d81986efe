"""The visible tests run against many fixture submissions at once, and what they catch beside the grader.

One ``pytest exercises/test_<module>.py`` per fixture costs a pytest start and an ``import torch`` each,
about 2 s, times some 90 fixtures. ``run_visible`` pays them once: each submission becomes a package of
its own (``<scratch>/kit/<package>/``: the reference with the fixture's modules laid over it, as
``grading_helpers.overlay`` lays them, and the visible tests of the exercises asked for), beside one copy
of the visible tests' ``conftest.py``, and a single pytest subprocess runs them all. Its JUnit XML says,
per submission and exercise, which visible tests failed and with what message.

``disagreements`` and ``catch_rates`` compare that with the grader: a visible test must never fail a
submission the grader gives full marks in that exercise, and the share of mutants the visible tests
catch is reported per exercise (``bench/visible_catch_rate.py`` prints it for the README).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from grader.contract import MODULES
from tests.grading_helpers import REPO, SOLUTIONS, SUBMISSIONS, changed_modules, overlay

REFERENCE = "reference"  # the job name of the reference itself (no fixture laid over it)
RUN_TIMEOUT_S = 600


@dataclass(frozen=True)
class VisibleFailure:
    """A visible test that failed: its name (with parameters) and the message a learner reads."""

    test: str
    message: str


def fixture_jobs(groups: tuple[str, ...] = ("mutants", "unusual")) -> list[tuple[str, Path, list[str]]]:
    """``("mutants/<fault>", folder, [its module])`` for every fixture of ``groups``, sorted by name."""
    jobs = []
    for group in groups:
        for folder in sorted((SUBMISSIONS / group).iterdir()):
            if folder.is_dir() and changed_modules(folder):
                jobs.append((f"{group}/{folder.name}", folder, changed_modules(folder)))
    return jobs


def package_name(name: str) -> str:
    """A Python package name for the job ``name``: ``mutants/mask_inverted`` → ``mutants__mask_inverted``."""
    return re.sub(r"\W", "_", name.replace("/", "__"))


def run_visible(
    jobs: list[tuple[str, Path | None, list[str]]], scratch: Path
) -> dict[str, dict[str, list[VisibleFailure]]]:
    """``{name: {module: [failures]}}`` for each ``(name, fixture folder or None, modules)`` job: the
    visible tests of ``modules`` run on the reference with the fixture laid over it, all in one pytest
    process. An exercise whose tests all pass has an empty list."""
    kit = scratch / "kit"
    shutil.rmtree(kit, ignore_errors=True)
    kit.mkdir(parents=True)
    shutil.copy(REPO / "exercises" / "conftest.py", kit / "conftest.py")
    (kit / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # none of the kit's own options
    packages = {}
    for name, folder, modules in jobs:
        package = kit / package_name(name)
        if folder is None:
            shutil.copytree(SOLUTIONS, package, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            overlay(folder, package)
        shutil.copy(REPO / "exercises" / "__init__.py", package / "__init__.py")
        for module in modules:
            shutil.copy(REPO / "exercises" / f"test_{module}.py", package / f"test_{module}.py")
        packages[package.name] = name
    report = scratch / "visible.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(kit),
        "-c",
        str(kit / "pytest.ini"),
        "--rootdir",
        str(kit),
        "-p",
        "no:cacheprovider",
        "-q",
        "--junitxml",
        str(report),
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    environment.setdefault("OMP_NUM_THREADS", "1")  # tiny tensors: threads only add contention
    finished = subprocess.run(
        command, cwd=kit, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    if not report.is_file():
        raise RuntimeError(
            f"the visible tests did not run ({finished.returncode}):\n{finished.stdout[-3000:]}"
        )
    results = {name: {module: [] for module in modules} for name, _, modules in jobs}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        problem = next((child for child in case if child.tag in ("failure", "error")), None)
        if problem is None:
            continue
        where = case.get("classname") or case.get("name", "")
        found = re.match(r"(\w+)\.test_(\w+)", where.replace("/", "."))
        if not found or found.group(1) not in packages or found.group(2) not in MODULES:
            raise RuntimeError(f"a visible test result of no known submission: {where}")
        text = (problem.text or problem.get("message") or "").strip()
        test = case.get("name", "") if case.get("classname") else "(collection)"
        results[packages[found.group(1)]][found.group(2)].append(VisibleFailure(test, text))
    return results


def disagreements(graded: dict, visible: dict) -> list[str]:
    """Each exercise a fixture gets full marks in from the grader while one of its visible tests fails."""
    found = []
    for name, exercises in graded.items():
        for module, result in exercises.items():
            failures = visible.get(name, {}).get(module, [])
            if failures and result.score == result.max_score:
                first = failures[0]
                found.append(
                    f"{name}: {module} scores {result.score}/{result.max_score} at grading, but the visible "
                    f"{first.test} fails:\n    {first.message.splitlines()[0] if first.message else ''}"
                )
    return found


def catch_rates(visible: dict) -> dict[str, tuple[int, int]]:
    """``{module: (mutants whose visible tests fail, mutants)}`` in lesson order, each mutant counted in
    the exercise it changes."""
    rates = {module: [0, 0] for module in MODULES}
    for name, exercises in visible.items():
        if not name.startswith("mutants/"):
            continue
        for module in changed_modules(SUBMISSIONS / name):
            rates[module][1] += 1
            rates[module][0] += bool(exercises.get(module))
    return {module: (caught, total) for module, (caught, total) in rates.items() if total}


def catch_rate_table(visible: dict) -> str:
    """The per-exercise share of mutants the visible tests catch, as text lines."""
    rates = catch_rates(visible)
    lines = [f"{'exercise':<16}{'caught':>8}{'mutants':>9}{'share':>8}"]
    for module, (caught, total) in rates.items():
        lines.append(f"{module:<16}{caught:>8}{total:>9}{caught / total:>8.0%}")
    caught, total = sum(c for c, _ in rates.values()), sum(t for _, t in rates.values())
    lines.append(f"{'all':<16}{caught:>8}{total:>9}{caught / total:>8.0%}")
    return "\n".join(lines)


def missed(visible: dict) -> list[str]:
    """The mutants no visible test catches, by exercise: what only the hidden checks see."""
    return [
        name
        for name, exercises in visible.items()
        if name.startswith("mutants/")
        and not any(exercises.get(m) for m in changed_modules(SUBMISSIONS / name))
    ]


def unreadable(visible: dict) -> list[str]:
    """Each visible failure that does not read like the grader's: a first line that says where (the
    exercise's module) and either expected-vs-got or what raised, and a hint."""
    found = []
    for name, exercises in visible.items():
        for module, failures in exercises.items():
            for failure in failures:
                lines = failure.message.splitlines() or [""]
                first = lines[0]
                says_where = first.startswith((f"{module}.", f"{module}.py: "))
                says_what = "expected" in first or first.startswith(
                    (f"{module}.py: your code raised ", f"{module}.py: your result broke the test at ")
                )
                has_hint = any(line.startswith("  hint: ") and len(line) > 10 for line in lines[1:])
                if not (says_where and says_what and has_hint):
                    found.append(f"{name}: {failure.test}:\n    " + "\n    ".join(lines[:4]))
    return found
