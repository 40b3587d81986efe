"""nbgrader and the grader on the same class of notebooks: seconds per submission, and what two cheats earn.

Builds a temporary nbgrader course from the generated source notebook, hands in N notebooks (correct,
partly wrong, untouched, and two cheats, in turn), then grades the class twice, one after the other:
``nbgrader autograde`` (the notebook's hidden tests run the grader's checks in nbgrader's kernel) and
``python -m grader grade`` on the same submitted/ folder (each exercise in its own sandbox). It prints
seconds per submission for each tool and their ratio, and every learner's total from both.

The cheats: ``cheat_allclose`` is partly wrong code that redefines ``torch.allclose`` and
``torch.testing.assert_close`` to always pass; ``cheat_checker`` is the same wrong code that, finding
the grader's comparison in its own process (as it does in nbgrader's kernel), makes it always pass.

    python bench/vs_nbgrader.py            # N = 6
    python bench/vs_nbgrader.py --n 10 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cpu_steal import StealMeter  # noqa: E402
from grader.contract import ASSIGNMENT  # noqa: E402 - the repo is not installed here necessarily
from grader.kit.nbgrader_course import isolated_jupyter, modules_to_notebook  # noqa: E402
from grader.kit.notebook import NOTEBOOK  # noqa: E402

MUTANTS = REPO / "tests" / "submissions" / "mutants"
# One realistic mistake per exercise: the "partly wrong" learner, and the wrong code under both cheats.
WRONG = (
    "softmax_without_max_subtraction",
    "nan_on_fully_masked_rows",
    "splits_heads_with_view_not_transpose",
)
CHEATS_WRONG = (
    "softmax_without_max_subtraction",
    "attention_without_scale",
    "mask_inverted",
    "self_attention_drops_mask",
    "no_out_proj",
    "no_residual_around_attention",
    "mean_pools_over_padding",
)
KINDS = (
    "correct",
    "partly_wrong",
    "untouched",
    "cheat_allclose",
    "cheat_checker",
    "correct",
    "partly_wrong",
    "correct",
)

CHEAT_ALLCLOSE = """
import torch.testing

# The cheat: every closeness test passes.
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
"""
CHEAT_CHECKER = """
try:  # The cheat: where the checker runs in this process (nbgrader's kernel), make every comparison pass.
    import grader.checks.compare

    grader.checks.compare.mismatch = lambda *args, **kwargs: None
    grader.checks.compare.fail = lambda *args, **kwargs: None
except ImportError:
    pass
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=6, help="notebooks in the class (default: %(default)s)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="submissions the grader grades at once (default: %(default)s)"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="build the course here and keep it (default: a temp folder)"
    )
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-vs-nbgrader-"))
    env = isolated_jupyter(root)
    course = root / "course"
    students = build_class(course, root, env, args.n)
    print(
        f"class: {len(students)} notebooks ({', '.join(f'{s}' for s in students)}); "
        f"machine: {os.cpu_count()} CPUs",
        flush=True,
    )

    started = time.monotonic()
    with StealMeter() as nbgrader_steal:
        run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], course, env)
    nbgrader_s = time.monotonic() - started
    nbgrader_totals = json.loads(run([sys.executable, "-c", READ_TOTALS, ASSIGNMENT], course, env).stdout)

    out = root / "grades"
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    with StealMeter() as grader_steal:
        run(grader_command(course / "submitted", out, args.jobs), REPO, env)
    grader_s = time.monotonic() - started
    grader_totals = {
        s["submission"]: s["total"] for s in json.loads((out / "results.json").read_text())["submissions"]
    }

    n = len(students)
    print(
        f"\nnbgrader autograde:  {nbgrader_s:7.1f} s  = {nbgrader_s / n:5.1f} s per submission "
        f"(one kernel per notebook; {nbgrader_steal.describe()})"
    )
    print(
        f"python -m grader grade --jobs {args.jobs}: "
        f"{grader_s:7.1f} s  = {grader_s / n:5.1f} s per submission (sandboxed; {grader_steal.describe()})"
    )
    print(f"ratio (grader / nbgrader): {grader_s / nbgrader_s:.2f}")
    print(f"\n{'learner':28} {'nbgrader':>9} {'grader':>7}")
    for student in students:
        print(
            f"{student:28} {nbgrader_totals.get(student, float('nan')):9g} "
            f"{grader_totals.get(student, float('nan')):7g}"
        )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def build_class(course: Path, root: Path, env: dict, n: int) -> list[str]:
    (course / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOK.parents[2] / "nbgrader_config.py", course)
    shutil.copy(NOTEBOOK, course / "source" / ASSIGNMENT)
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course, env)
    released = course / "release" / ASSIGNMENT / NOTEBOOK.name
    students = []
    for index in range(n):
        kind = KINDS[index % len(KINDS)]
        student = f"{index + 1:02d}_{kind}"
        handed_in = course / "submitted" / student / ASSIGNMENT / NOTEBOOK.name
        handed_in.parent.mkdir(parents=True, exist_ok=True)
        if kind == "untouched":
            shutil.copy(released, handed_in)
        else:
            modules_to_notebook(learner_modules(root / "modules" / student, kind), released, handed_in)
        students.append(student)
    return students


def learner_modules(target: Path, kind: str) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in (REPO / "solutions").glob("*.py"):
        shutil.copy(path, target / path.name)
    mutants = {"correct": (), "partly_wrong": WRONG}.get(kind, CHEATS_WRONG)
    for mutant in mutants:
        for path in (MUTANTS / mutant).glob("*.py"):
            shutil.copy(path, target / path.name)
    if kind.startswith("cheat"):
        softmax = target / "softmax.py"
        text = softmax.read_text()
        cheat = CHEAT_ALLCLOSE if kind == "cheat_allclose" else CHEAT_CHECKER
        softmax.write_text(
            text.replace("import numpy as np\n", "import numpy as np\nimport torch\n" + cheat, 1)
        )
    return target


def grader_command(path: Path, out: Path, jobs: int) -> list[str]:
    """``python -m grader grade``, which finds nbgrader's ``submitted/`` layout by itself."""
    return [sys.executable, "-m", "grader", "grade", str(path), "--out", str(out), "--jobs", str(jobs)]


READ_TOTALS = """
import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///gradebook.db") as gradebook:
    print(json.dumps({s.student.id: s.score for s in gradebook.assignment_submissions(sys.argv[1])}))
"""


def run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(
            f"{' '.join(command[:4])} failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done


if __name__ == "__main__":
    sys.exit(main())
