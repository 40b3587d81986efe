"""What does one sandbox cost to open, call once and close, next to a baseline measured in the same run?

Each session holds a one-function module and makes one call (a small tensor sum): fork, confinement,
import, the call and the close. Two baselines:

- by default, this tree with its own root and its syscall filter turned off (``Runner(without=...)``);
  note that without its own root the sandbox must leave the editable install's pointers out of its
  Landlock rules one entry at a time, which costs more than the root itself;
- ``--baseline DIR``: another checkout of the kit (say ``git worktree add /tmp/old HEAD~3``), its
  sandbox as it is, each side in its own process, in alternating rounds.

Prints the median per session of each and the difference.

    python bench/session_start.py                       # 40 sessions each way
    python bench/session_start.py --baseline /tmp/old --n 60
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 4

MEASURE = """
import json, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from grader.settings import Limits
from grader.sandbox.runner import Runner

n, without = int(sys.argv[2]), [name for name in sys.argv[3].split(",") if name]
options = {"without": without, "accepted_risks": [*without, "identity"]} if without else {}
folder = Path(tempfile.mkdtemp(prefix="bench-session-"))
(folder / "ping.py").write_text("import torch\\n\\n\\ndef ping():\\n    return torch.ones(3).sum().item()\\n")
limits = Limits(call_timeout_s=30, session_timeout_s=60)
times = []
try:
    with Runner(**options) as runner:
        for index in range(n + 1):
            started = time.perf_counter()
            with runner.open_session(folder, limits=limits) as session:
                assert session.call("call_unwatched", {"module": "ping", "function": "ping", "args": []}).ok
            if index:  # the first one waits for the fork server
                times.append(time.perf_counter() - started)
finally:
    shutil.rmtree(folder, ignore_errors=True)
print(json.dumps(times))
"""


def measure(tree: Path, n: int, without: str = "") -> list[float]:
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tree), str(n), without],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(completed.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="sessions each way (default: %(default)s)")
    parser.add_argument("--baseline", type=Path, help="another checkout of the kit to compare with")
    args = parser.parse_args()
    per_round = max(args.n // ROUNDS, 1)
    if args.baseline:
        baseline_tree, baseline_off, label = args.baseline.resolve(), "", f"baseline ({args.baseline})"
    else:
        baseline_tree, baseline_off, label = (
            REPO,
            "private-root,syscall-filter",
            "no own root, no syscall filter",
        )
    times: dict[str, list[float]] = {"this tree": [], label: []}
    for _ in range(ROUNDS):
        times["this tree"] += measure(REPO, per_round)
        times[label] += measure(baseline_tree, per_round, baseline_off)
    this, base = statistics.median(times["this tree"]), statistics.median(times[label])
    print(f"sessions each way:                    {len(times['this tree'])} (in {ROUNDS} alternating rounds)")
    print(f"median per session, this tree:        {this * 1000:6.1f} ms")
    print(f"median per session, {label}: {base * 1000:6.1f} ms")
    print(
        f"difference:                           {(this - base) * 1000:+6.1f} ms per session "
        f"(ratio {this / base:.2f})"
    )


if __name__ == "__main__":
    main()
