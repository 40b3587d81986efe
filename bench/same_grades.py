"""Do two versions of the grader give every fixture the same grades?
``python bench/same_grades.py --before REV``.

A refactoring of the grader must not change one grade. This script grades, with the grader of git
revision ``REV`` and with the working tree's, the same two classes:

* every fixture of ``tests/submissions/`` (mutants, unusual-but-correct, adversarial, device mutants),
  each laid over a copy of the reference as the tests lay it (``tests/grading_helpers.overlay``);
* the bundled sample class, ``examples/class/``.

Each side builds its classes from its own tree and runs ``python -m grader grade`` from its own tree.
The two ``results.json`` are compared after dropping what may differ between two runs of one grader:
elapsed seconds and the run's protections line. It prints one line per difference and a summary, and
exits 1 when any grade, check status or message differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_SETS = ("mutants", "unusual", "adversarial", "device_mutants")
DROPPED = {"elapsed_s", "protections"}  # run-dependent, not grades
# A learner's prints may show its scratch folder, whose name is random in every run.
SCRATCH_PATH = re.compile(r"grader-sandbox-[^/\s]+/session-\d+-[^/\s]+")
# One worker: a call that outlives the demotion threshold (4 s) is lowered to nice 10, and with a second
# worker busy its wall time, and so whether later checks fit the exercise's budget, depends on the load.
GRADE_FLAGS = ("--jobs", "1")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--before", required=True, help="git revision of the grader to compare with (e.g. ed8594f)"
    )
    parser.add_argument("--after", help="git revision to compare (default: the working tree)")
    parser.add_argument("--keep", type=Path, help="keep both sides' outputs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-grades-") as scratch:
        scratch = Path(scratch)
        before_tree = scratch / "before-tree"
        _export(args.before, before_tree)
        after_tree = REPO
        if args.after:
            after_tree = scratch / "after-tree"
            _export(args.after, after_tree)
        outputs = {}
        for side, tree in (("before", before_tree), ("after", after_tree)):
            started = time.monotonic()
            outputs[side] = {
                name: _grade(tree, folder, scratch / side / name)
                for name, folder in _classes(tree, scratch / side)
            }
            label = args.before if side == "before" else (args.after or "working tree")
            print(f"{side} ({label}): graded in {time.monotonic() - started:.0f} s")
        if args.keep:
            shutil.copytree(
                scratch,
                args.keep,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("before-tree", "after-tree"),
            )
        return _report(outputs["before"], outputs["after"])


def _export(revision: str, target: Path) -> None:
    """The tracked files of ``revision`` in ``target`` (``git archive``: no checkout of this repository
    is touched)."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)


def _classes(tree: Path, scratch: Path):
    """``(name, folder)`` of the two classes graded from ``tree``."""
    fixtures = scratch / "fixtures"
    for group in FIXTURE_SETS:
        for fixture in sorted((tree / "tests" / "submissions" / group).iterdir()):
            if fixture.is_dir():
                _overlay(tree / "solutions", fixture, fixtures / f"{group}--{fixture.name}")
    yield "fixtures", fixtures
    yield "examples", tree / "examples" / "class"


def _overlay(solutions: Path, fixture: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for source in solutions.glob("*.py"):
        shutil.copy(source, target / source.name)
    for source in fixture.iterdir():
        if source.is_file() and source.suffix == ".py":
            shutil.copy(source, target / source.name)


def _grade(tree: Path, folder: Path, out: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), *GRADE_FLAGS]
    finished = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(
            f"{tree}: grading {folder} failed ({finished.returncode}):\n{finished.stderr[-3000:]}"
        )
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {entry["submission"]: _without_timings(entry) for entry in results["submissions"]}


def _without_timings(value):
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key not in DROPPED}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    if isinstance(value, str):
        return SCRATCH_PATH.sub("grader-sandbox-…/session-…", value)
    return value


def _report(before: dict, after: dict) -> int:
    differences = 0
    graded = 0
    for name in before:
        old, new = before[name], after[name]
        graded += len(old)
        for submission in sorted(set(old) | set(new)):
            if old.get(submission) != new.get(submission):
                differences += 1
                print(f"DIFFERS {name}/{submission}:")
                print(f"  before: {json.dumps(old.get(submission))[:1500]}")
                print(f"  after:  {json.dumps(new.get(submission))[:1500]}")
    verdict = "identical" if differences == 0 else f"{differences} submission(s) differ"
    print(f"{graded} submissions graded by both versions: results.json (without timings) {verdict}")
    return 0 if differences == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
