"""How much of this machine's CPU time the hypervisor gave to other guests while a figure was measured.

On a shared virtual machine, "steal" time is time a runnable process waited because the host ran
someone else: the same grade measured twice an hour apart took 66.6 s and 78.8 s here, and vmstat
showed 25 to 69 % steal through the slow one. A wall-clock figure taken with more than a few percent
stolen is not comparable with one taken without; the benchmarks print the share beside each figure.

    with StealMeter() as meter:
        ...
    print(meter.describe())     # "2.1% of the CPU stolen"
"""

from __future__ import annotations

from pathlib import Path

PROC_STAT = Path("/proc/stat")
STEAL_COLUMN = 8  # user nice system idle iowait irq softirq steal (guest time is counted in user)
NOT_COMPARABLE = 0.05


def cpu_ticks(stat: Path = PROC_STAT) -> tuple[int, int] | None:
    """``(all ticks, stolen ticks)`` of every CPU so far, or None where /proc/stat cannot say."""
    try:
        first = stat.read_text(encoding="ascii").splitlines()[0].split()
        ticks = [int(value) for value in first[1 : STEAL_COLUMN + 1]]
    except (OSError, IndexError, ValueError):
        return None
    if first[0] != "cpu" or len(ticks) < STEAL_COLUMN:
        return None
    return sum(ticks), ticks[STEAL_COLUMN - 1]


class StealMeter:
    """The share of CPU ticks stolen between ``__enter__`` and ``__exit__`` (None where unknown)."""

    def __init__(self, stat: Path = PROC_STAT):
        self._stat, self._start, self.share = stat, None, None

    def __enter__(self) -> StealMeter:
        self._start = cpu_ticks(self._stat)
        return self

    def __exit__(self, *exc_info) -> None:
        end = cpu_ticks(self._stat)
        if self._start is not None and end is not None and end[0] > self._start[0]:
            self.share = (end[1] - self._start[1]) / (end[0] - self._start[0])

    def describe(self) -> str:
        if self.share is None:
            return "CPU steal unknown (no /proc/stat)"
        warning = " — not comparable with a quiet run" if self.share > NOT_COMPARABLE else ""
        return f"{self.share:.1%} of the CPU stolen{warning}"
