"""What does watching for forbidden built-ins cost a learner's call, next to the same call unwatched?

The sandbox runs each of the learner's calls inside a ``Recorder`` (``grader/sandbox/harness/recorder.py``).
It is measured here the way it runs there, on one thread, on the reference's own modules: a multi-head
attention and a 2-layer encoder, each a forward and a backward pass. Three ways, alternating in rounds
within this one process:

- unwatched: the call alone (the baseline);
- recorder: the function-level mode plus the dispatcher's tripwires, armed, as a notebook kernel runs it
  (the sandbox seals the forbidden operators instead, which costs the other operators nothing either);
- recorder with the dispatch mode: as it ran before the tripwires, and still runs on a PyTorch that
  cannot take them (every ATen operator through Python).

Prints the median per call of each and its ratio to the unwatched call.

    python bench/recorder_overhead.py
    python bench/recorder_overhead.py --calls 400
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.sandbox.harness import operator_tripwires  # noqa: E402
from grader.sandbox.harness.recorder import Recorder  # noqa: E402
from solutions.encoder import Encoder  # noqa: E402
from solutions.multi_head import MultiHeadAttention  # noqa: E402

ROUNDS = 5


def models() -> dict:
    torch.manual_seed(0)
    return {
        "multi-head attention (E=16, 4 heads, 2×5 tokens)": (
            MultiHeadAttention(16, 4),
            torch.randn(2, 5, 16),
        ),
        "2-layer encoder (E=16, 4 heads, 2×5 tokens)": (
            Encoder(num_layers=2, embed_dim=16, num_heads=4, ff_dim=32, dropout=0.0).eval(),
            torch.randn(2, 5, 16),
        ),
    }


@contextlib.contextmanager
def with_dispatch_mode():
    """The recorder as it was: the tripwires reported unavailable, so it falls back to the mode."""
    real = operator_tripwires.install
    operator_tripwires.install = lambda: False
    try:
        with Recorder():
            yield
    finally:
        operator_tripwires.install = real


WAYS = {
    "unwatched": contextlib.nullcontext,
    "recorder (tripwires)": Recorder,
    "recorder (dispatch mode)": with_dispatch_mode,
}


def one_call(model, x) -> None:
    x = x.clone().requires_grad_(True)
    output = model(x)
    output = output[0] if isinstance(output, tuple) else output
    output.sum().backward()


def per_call(way, model, x, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        with way():
            one_call(model, x)
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=200, help="calls per way per round (default: %(default)s)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"tripwires set: {operator_tripwires.install()}; {ROUNDS} rounds of {args.calls} calls each way")
    for label, (model, x) in models().items():
        times: dict[str, list[float]] = {name: [] for name in WAYS}
        for way in WAYS.values():  # warm up each way once
            per_call(way, model, x, 10)
        for _ in range(ROUNDS):
            for name, way in WAYS.items():
                times[name].append(per_call(way, model, x, args.calls))
        base = statistics.median(times["unwatched"])
        print(label)
        for name, measured in times.items():
            median = statistics.median(measured)
            print(f"  {name:26} {median * 1000:7.3f} ms per call   ratio {median / base:5.2f}")


if __name__ == "__main__":
    main()
