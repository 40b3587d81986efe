"""How long does grading a class take, per submission, next to the cost of one `import torch`?

Builds a class of N synthetic submissions (correct, wrong, crashing, hanging) from the reference and
the test corpus, grades it with `python -m grader grade --jobs J` in a fresh output folder, and
prints seconds per submission for the whole grade and per exercise, beside `python -c "import torch"`
measured in the same run (median of 6: three before the grade and three after, as this machine's speed
drifts), and their ratio. With ``--dask N`` it grades the same class again on a Dask ``LocalCluster`` of N
workers (``--dask local:N``) and prints that wall time beside the first. Beside each figure: the share of
the CPU the hypervisor gave to other guests meanwhile (``cpu_steal.py``); figures measured with more than
5 % stolen are not comparable with quiet ones.

    python bench/grade_class.py             # 12 submissions, 2 jobs
    python bench/grade_class.py --n 24 --jobs 2
    python bench/grade_class.py --n 48 --jobs 2 --dask 2    # and on a 2-worker Dask LocalCluster
    python bench/grade_class.py --n 48 --call-timeout 3     # what the endless loops' 10 s costs
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cpu_steal import StealMeter  # noqa: E402 - the repo is not installed here necessarily

MUTANTS = REPO / "tests" / "submissions" / "mutants"
KINDS = (
    "correct",
    "wrong",
    "correct",
    "wrong",
    "crashing",
    "correct",
    "wrong",
    "correct",
    "wrong",
    "correct",
    "hanging",
    "correct",
)
WRONG = sorted(path for path in MUTANTS.iterdir() if path.is_dir()) if MUTANTS.is_dir() else []
CRASHING = "def softmax(x, axis=-1):\n    return undefined_name\n"
HANGING = "def softmax(x, axis=-1):\n    while True:\n        pass\n"


def build_class(root: Path, n: int) -> dict[str, str]:
    """``n`` submissions in ``root``; returns name -> kind."""
    kinds = {}
    for index in range(n):
        kind = KINDS[index % len(KINDS)]
        folder = root / f"{index:03d}_{kind}"
        folder.mkdir(parents=True)
        for source in (REPO / "solutions").glob("*.py"):
            shutil.copy(source, folder / source.name)
        if kind == "wrong" and WRONG:
            for source in WRONG[(index * 7) % len(WRONG)].glob("*.py"):
                shutil.copy(source, folder / source.name)
        elif kind == "crashing":
            (folder / "softmax.py").write_text(CRASHING)
        elif kind == "hanging":
            (folder / "softmax.py").write_text(HANGING)
        kinds[folder.name] = kind
    return kinds


def import_torch_seconds(times: int = 3) -> list[float]:
    measured = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        measured.append(time.perf_counter() - started)
    return measured


def grade_seconds(klass: Path, out: Path, executor: list[str]) -> tuple[float, list[dict], StealMeter]:
    """Wall seconds of one ``python -m grader grade`` of ``klass`` into a fresh ``out``, its results, and
    the CPU stolen meanwhile."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), *executor]
    with StealMeter() as steal:
        subprocess.run(command, cwd=REPO, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return wall, json.loads((out / "results.json").read_text())["submissions"], steal


def driver_seconds_per_answer(graded: Path, replay: Path) -> float:
    """What a cluster run's driver does for each answer, timed on the answers of ``graded``: the JSON text
    read and checked against the lesson, the atomic record, the feedback pictures."""
    from grader.checks import checks_for
    from grader.cluster.verdict import read_verdict
    from grader.contract import EXERCISES
    from grader.gradebook import Gradebook
    from grader.reports.page import draw_pictures

    for exercise in EXERCISES:  # imported once per run, with the first answer: not a cost of each answer
        checks_for(exercise.module)

    document = json.loads((graded / "results.json").read_text())
    gradebook = Gradebook(replay)
    answers = [
        (
            row["submission"],
            json.dumps({"grader": gradebook.grader, "protections": document["protections"], "result": row}),
        )
        for row in document["submissions"]
    ]
    started = time.perf_counter()
    for name, text in answers:
        result, _ = read_verdict(text, name=name, grader=gradebook.grader)
        gradebook.save(result, "replayed")
        draw_pictures(result, replay)
    return (time.perf_counter() - started) / len(answers)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=12, help="submissions in the class (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="grading jobs (default: %(default)s)")
    parser.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="N",
        help="also grade the class on a Dask LocalCluster of N workers (--dask local:N; needs the cluster "
        "extra) and compare its wall time with --jobs",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        metavar="S",
        help="passed on to the grader (default: the grader's, 10 s): what the endless loops' timeouts cost",
    )
    args = parser.parse_args()
    limits = [] if args.call_timeout is None else ["--call-timeout", str(args.call_timeout)]

    with StealMeter() as torch_steal:
        torch_times = import_torch_seconds()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as scratch:
        klass = Path(scratch) / "class"
        kinds = build_class(klass, args.n)
        jobs = ["--jobs", str(args.jobs), *limits]
        wall, results, steal = grade_seconds(klass, Path(scratch) / "out", jobs)
        if args.dask:
            on_cluster, _, cluster_steal = grade_seconds(
                klass, Path(scratch) / "cluster", ["--dask", f"local:{args.dask}", *limits]
            )
            driver_s = driver_seconds_per_answer(Path(scratch) / "cluster", Path(scratch) / "replay")
    with StealMeter() as torch_steal_after:
        torch_times += import_torch_seconds()
    torch_s = statistics.median(torch_times)

    per_submission = wall / args.n
    print(
        f"class of {args.n} "
        f"({', '.join(f'{kinds_count} {kind}' for kind, kinds_count in _count(kinds).items())}), "
        f"--jobs {args.jobs}" + (f", --call-timeout {args.call_timeout:g}" if limits else "")
    )
    print(
        f"import torch (median of 6):           {torch_s:6.2f} s "
        f"(from {min(torch_times):.2f} to {max(torch_times):.2f}; before the grade {torch_steal.describe()}, "
        f"after it {torch_steal_after.describe()})"
    )
    print(f"grading wall time, whole class:       {wall:6.2f} s (zygote start included; {steal.describe()})")
    print(f"grading wall time per submission:     {per_submission:6.2f} s")
    print(f"ratio per submission / import torch:  {per_submission / torch_s:6.2f}")
    if args.dask:
        print(
            f"--dask local:{args.dask}, whole class:        {on_cluster:6.2f} s (cluster start included; "
            f"{cluster_steal.describe()})"
        )
        print(f"--dask local:{args.dask} per submission:      {on_cluster / args.n:6.2f} s")
        print(f"ratio --dask local:{args.dask} / --jobs {args.jobs}:     {on_cluster / wall:6.2f}")
        print(f"driver's work per answer (one core):  {driver_s:6.3f} s (read, checked, recorded, drawn)")
    by_kind: dict[str, list[float]] = {}
    for result in results:
        by_kind.setdefault(kinds[result["submission"]], []).append(result["elapsed_s"])
    for kind, times in sorted(by_kind.items()):
        print(
            f"  {kind:9s} mean {statistics.mean(times):6.2f} s each "
            "(its exercises' wall times added up, waits for a worker included)"
        )
    print("per exercise, mean wall seconds per submission (waits for a worker included):")
    for index, exercise in enumerate(results[0]["exercises"]):
        seconds = statistics.mean(result["exercises"][index]["elapsed_s"] for result in results)
        print(f"  {exercise['module']:15s} {seconds:6.2f} s")
    return 0


def _count(kinds: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    return counts


if __name__ == "__main__":
    raise SystemExit(main())
