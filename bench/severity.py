"""How much does one slip cost? ``python bench/severity.py [--rev REV] [--compare REV] [--markdown|--hints]``.

Grades every mutant of ``tests/submissions/mutants/`` (one mistake each, laid over the reference as the
tests lay it) with ``python -m grader grade`` and prints, per mutant: its exercise, the points it loses
of that exercise's points, the checks that fail, and the hint of the first failing check (the one a
learner reads first). ``--hints`` prints each mutant's first hint; ``--markdown`` prints the table the
README quotes; ``--compare REV`` grades the same mutants with the grader of git revision REV too and
prints, per mutant, the points lost before and after and whether the first hint changed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from same_grades import _export, _overlay  # noqa: E402 - the bench's own helpers, one folder up the path

REPO = Path(__file__).resolve().parent.parent
FLAGS = ("--jobs", "2", "--cuda", "off")


def grade_mutants(tree: Path, scratch: Path) -> dict[str, dict]:
    """``{mutant: {"exercise", "lost", "of", "failed", "first_hint"}}`` graded by ``tree``'s grader."""
    klass = scratch / "class"
    for fixture in sorted((tree / "tests" / "submissions" / "mutants").iterdir()):
        if fixture.is_dir():
            _overlay(tree / "solutions", fixture, klass / fixture.name)
    out = scratch / "out"
    command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), *FLAGS]
    finished = subprocess.run(
        command,
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    if finished.returncode != 0:
        raise SystemExit(f"grading with {tree} failed:\n{finished.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {entry["submission"]: _severity(entry) for entry in results["submissions"]}


def _severity(entry: dict) -> dict:
    hurt = [e for e in entry["exercises"] if e["score"] < e["max_score"]]
    exercise = hurt[0] if hurt else min(entry["exercises"], key=lambda e: e["score"] - e["max_score"])
    failed = [c for c in exercise["checks"] if c["status"] != "passed" and c["max_score"] > 0]
    first_hint = next((c["hint"] for c in failed if c["hint"]), "")
    return {
        "exercise": f"{exercise['number']} {exercise['module']}",
        "lost": round(exercise["max_score"] - exercise["score"], 6),
        "of": exercise["max_score"],
        "failed": [c["name"] for c in failed],
        "first_hint": first_hint,
        "elsewhere": [e["module"] for e in hurt[1:]],
    }


def markdown(rows: dict[str, dict]) -> str:
    lines = ["| exercise | mutant | points lost | checks that fail |", "|---|---|---|---|"]
    for name, row in sorted(rows.items(), key=lambda item: (item[1]["exercise"], -item[1]["lost"], item[0])):
        lost = f"{row['lost']:g} of {row['of']:g}"
        lines.append(f"| {row['exercise']} | `{name}` | {lost} | {', '.join(row['failed'])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rev", help="grade with the grader of this git revision (default: the working tree)"
    )
    parser.add_argument("--compare", metavar="REV", help="also grade with REV and print before → after")
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    parser.add_argument("--hints", action="store_true", help="print each mutant's first hint")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save every row (both sides) as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="severity-") as scratch:
        scratch = Path(scratch)
        trees = {}
        for side, revision in (("after", args.rev), ("before", args.compare)):
            if side == "before" and not revision:
                continue
            tree = REPO
            if revision:
                tree = scratch / f"{side}-tree"
                _export(revision, tree)
            trees[side] = grade_mutants(tree, scratch / side)
    after = trees["after"]
    if args.json:
        args.json.write_text(json.dumps(trees, indent=1, ensure_ascii=False), encoding="utf-8")
    if args.hints:
        for name, row in sorted(after.items(), key=lambda item: (item[1]["exercise"], item[0])):
            first = row["failed"][0] if row["failed"] else "-"
            print(f"{name} [{first}]: {row['first_hint']}")
    elif args.markdown:
        print(markdown(after))
    else:
        for name, row in sorted(after.items(), key=lambda item: (item[1]["exercise"], -item[1]["lost"])):
            lost = f"{row['lost']:g}/{row['of']:g}"
            print(f"{row['exercise']:18} {name:45} lost {lost:8} {', '.join(row['failed'])}")
    if "before" in trees:
        before, changed = trees["before"], 0
        print("\nbefore → after (points lost; * where the first hint changed):")
        for name in sorted(after):
            old = before.get(name)
            if old is None:
                print(f"  {name}: new mutant, loses {after[name]['lost']:g}")
                continue
            moved = old["first_hint"] != after[name]["first_hint"]
            changed += moved
            print(f"  {'*' if moved else ' '} {name}: {old['lost']:g} → {after[name]['lost']:g}")
            if moved:
                print(f"      before: {old['first_hint'][:150]}")
                print(f"      after:  {after[name]['first_hint'][:150]}")
        print(f"{changed} of {len(after)} mutants' first hint changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
