"""What does the seccomp filter cost: to install in each sandbox, and while a learner's code runs?

Prints, from one run on this machine:

(a) fork + install the filter + exit, next to fork + exit, median of 30 each, alternated, with the
    library already opened in the parent (as the harness preloads it before Landlock); and the
    install() call alone, timed inside the child;
(b) a typical sandbox workload in a forked child, filtered and not, median of 5 alternating runs:
    200 iterations of a small attention forward + backward in PyTorch (float32, B=4, L=32, E=64),
    each also writing and reading back a small file;
(c) one allowed system call (getppid) through the filter and without, per call.

    python bench/syscall_filter.py
    python bench/syscall_filter.py --forks 30 --runs 5 --iterations 200
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader.sandbox.harness import syscall_filter  # noqa: E402  (the repository root is put on the path just above)


def in_child(body: Callable[[], object]) -> tuple[object, float]:
    """Fork, run ``body`` in the child and return (its result, seconds from fork to the child's exit)."""
    read_end, write_end = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.write(write_end, pickle.dumps(body()))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        raise RuntimeError(f"the child failed (wait status {status})")
    return pickle.loads(data), elapsed


def timed_install() -> float:
    """Seconds that install() takes; a refused filter stops the benchmark rather than timing nothing."""
    start = time.perf_counter()
    protection = syscall_filter.install()
    elapsed = time.perf_counter() - start
    if not protection.active:
        raise RuntimeError(f"the filter did not load: {protection.detail}")
    return elapsed


def attention_workload(iterations: int, folder: str) -> float:
    """Seconds for ``iterations`` of attention forward + backward, each with a small file round trip."""
    torch.set_num_threads(1)  # as in the sandbox
    torch.manual_seed(0)
    batch, length, width = 4, 32, 64
    q, k, v = (torch.randn(batch, length, width, requires_grad=True) for _ in range(3))
    payload = os.urandom(4096)
    path = Path(folder, f"scratch-{os.getpid()}.bin")
    start = time.perf_counter()
    for _ in range(iterations):
        weights = (q @ k.transpose(-2, -1) / math.sqrt(width)).softmax(dim=-1)
        (weights @ v).square().sum().backward()
        path.write_bytes(payload)
        if path.read_bytes() != payload:
            raise RuntimeError("the file came back different")
    return time.perf_counter() - start


def getppid_ns(calls: int) -> float:
    """Nanoseconds per getppid(), an allowed call that still passes through every filter in force."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        os.getppid()
    return (time.perf_counter_ns() - start) / calls


def filtered(body: Callable[[], object]) -> Callable[[], object]:
    def run():
        timed_install()
        return body()

    return run


def alternate(body: Callable[[], object], runs: int) -> tuple[list, list]:
    """(unfiltered, filtered) results of ``body`` in fresh forks, alternating so that drift hits both."""
    plain, under_filter = [], []
    for _ in range(runs):
        plain.append(in_child(body))
        under_filter.append(in_child(filtered(body)))
    return plain, under_filter


def install_cost(forks: int) -> None:
    baseline, with_filter = alternate(lambda: None, forks)
    fork_plain = statistics.median(elapsed for _, elapsed in baseline)
    fork_filtered = statistics.median(elapsed for _, elapsed in with_filter)
    install_alone = statistics.median(in_child(timed_install)[0] for _ in range(forks))
    print(f"(a) install, median of {forks} forks each")
    print(f"    fork + exit:                   {fork_plain * 1e3:8.3f} ms")
    print(f"    fork + install + exit:         {fork_filtered * 1e3:8.3f} ms")
    print(f"    difference:                    {(fork_filtered - fork_plain) * 1e3:8.3f} ms")
    print(f"    install() alone, in the child: {install_alone * 1e3:8.3f} ms")


def workload_cost(runs: int, iterations: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        plain, under_filter = alternate(lambda: attention_workload(iterations, folder), runs)
    plain_s = statistics.median(result for result, _ in plain)
    filtered_s = statistics.median(result for result, _ in under_filter)
    print("(b) attention forward + backward (B=4, L=32, E=64, float32) + a 4 KiB file round trip,")
    print(f"    {iterations} iterations, median of {runs} alternating runs each")
    for label, seconds in (("unfiltered", plain_s), ("filtered", filtered_s)):
        per_iteration_us = seconds / iterations * 1e6
        print(f"    {label + ':':11} {seconds * 1e3:8.1f} ms  ({per_iteration_us:7.1f} us per iteration)")
    print(f"    filtered/unfiltered: {filtered_s / plain_s:.3f}")


def syscall_cost(runs: int, calls: int) -> None:
    plain, under_filter = alternate(lambda: getppid_ns(calls), runs)
    plain_ns = statistics.median(result for result, _ in plain)
    filtered_ns = statistics.median(result for result, _ in under_filter)
    print(f"(c) os.getppid(), {calls} calls, median of {runs} alternating runs each")
    print(f"    unfiltered: {plain_ns:6.1f} ns per call")
    print(f"    filtered:   {filtered_ns:6.1f} ns per call  (ratio {filtered_ns / plain_ns:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, default=30, help="forks per variant for (a)")
    parser.add_argument("--runs", type=int, default=5, help="runs per variant for (b) and (c)")
    parser.add_argument("--iterations", type=int, default=200, help="attention iterations per run in (b)")
    parser.add_argument("--calls", type=int, default=200_000, help="getppid calls per run in (c)")
    options = parser.parse_args()
    library = syscall_filter.preload()
    if not library.active:
        sys.exit(f"no filter to measure: {library.detail}")
    names = len(syscall_filter.denied_names())
    python = sys.version.split()[0]
    print(f"{library.detail}, {names} names in the policy; Python {python}, torch {torch.__version__}")
    install_cost(options.forks)
    workload_cost(options.runs, options.iterations)
    syscall_cost(options.runs, options.calls)


if __name__ == "__main__":
    main()
