"""What does each sandbox pay for its own root and its syscall filter?

Opens sessions on a one-function module and makes one call in each (a small tensor sum), with every protection
and, in the same run and alternating, with the private root and the syscall filter turned off (the
baseline: the sandbox as it was before them). Prints the median seconds per session (fork, confine,
import, one call, close) and the difference.

    python bench/session_start.py            # 40 sessions each way
    python bench/session_start.py --n 100
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.runner import Limits, Runner  # noqa: E402

OFF = ("private-root", "syscall-filter")
ACCEPTED = (*OFF, "identity")  # without its own root, a uid drop cannot reach a Python under /root
LIMITS = Limits(call_timeout_s=30, session_timeout_s=60)


def one_session(runner: Runner, folder: Path) -> float:
    started = time.perf_counter()
    with runner.open_session(folder, limits=LIMITS) as session:
        reply = session.call("call_function", {"module": "ping", "function": "ping", "args": []})
        assert reply.ok, reply.error
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="sessions each way (default: %(default)s)")
    n = parser.parse_args().n
    folder = Path(tempfile.mkdtemp(prefix="bench-session-"))
    (folder / "ping.py").write_text("import torch\n\n\ndef ping():\n    return torch.ones(3).sum().item()\n")
    try:
        with Runner() as full, Runner(without=OFF, accepted_risks=ACCEPTED) as baseline:
            for runner in (full, baseline):  # both fork servers started and warm before timing
                one_session(runner, folder)
            times = {"full": [], "baseline": []}
            for _ in range(n):
                times["full"].append(one_session(full, folder))
                times["baseline"].append(one_session(baseline, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    full, baseline = statistics.median(times["full"]), statistics.median(times["baseline"])
    print(f"sessions each way:                          {n}")
    print(f"median per session, every protection:       {full * 1000:6.1f} ms")
    print(f"median per session, no own root, no filter: {baseline * 1000:6.1f} ms")
    print(f"cost of the own root and the filter:        {(full - baseline) * 1000:+6.1f} ms per session")
    print(f"ratio:                                      {full / baseline:6.2f}")


if __name__ == "__main__":
    main()
