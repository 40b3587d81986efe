"""A call that runs long: its session lowered in priority, held to a duty cycle while the machine is busy,
and both undone when the call ends.

Each session's processes are a session of their own (``setsid``), so a kernel that groups sessions for
the scheduler (autogroup: ``/proc/sys/kernel/sched_autogroup_enabled``, on by default in most
distributions) shares the CPU between sessions first, and a process's niceness counts only within its
own session. On such a kernel ``setpriority`` alone changed nothing: a demoted endless loop still took a
full share against two busy sandboxes (0.99 of a core, measured), so the session's group is reniced too
(0.2 of a core). Raising either back to 0 needs privileges for a process but not for a group.

Niceness weighs CPU time between processes that all want it; grading leaves gaps. A grading worker
alternates between the grader's process and its sandbox, each waiting for the other, and a lowered
endless loop ran in every gap: 0.4 of a core in the bench's class of 48 (``--jobs 2``), whose four
endless loops cost it ~8 s of wall time against the same class without them. So while the machine's
other work wants the CPU, a lowered call runs ``BUSY_RUN_SHARE`` of every ``DUTY_PERIOD_S`` and is
stopped (SIGSTOP, then SIGCONT) the rest; while a core stands idle (the stopped part of each period
measures it, from ``/proc/stat``), it runs ``SPARE_RUN_SHARE``, so a long call never waits for nothing.
"""

from __future__ import annotations

import os
import signal
import time

DUTY_PERIOD_S = 0.1
# Of each period while the machine is busy: ~1/10 of a core, what nice 10 was meant to give.
BUSY_RUN_SHARE = 0.1
SPARE_RUN_SHARE = 0.9  # while a core is spare; the stopped tenth measures whether it still is
SPARE_CPUS = 0.5  # idle CPUs, on average over a stopped part, for the machine to count as having one spare


def set_session_niceness(pid: int, process_group: int, pidfd: int | None, niceness: int) -> None:
    """Best effort: the niceness of every process in ``process_group`` and of the scheduler group of
    ``pid``'s session; nothing if the session has ended (its ``pidfd`` says so)."""
    if process_group <= 0:
        return
    try:
        os.setpriority(os.PRIO_PGRP, process_group, niceness)
    except OSError:
        pass
    if not _still_running(pidfd):
        return
    try:
        with open(f"/proc/{pid}/autogroup", "w", encoding="ascii") as group:
            group.write(str(niceness))
    except OSError:  # no autogroup in this kernel, the session ended, or a rate limit (non-root: 10/s)
        pass


class LoweredCall:
    """One long call's session, lowered to ``niceness`` from now until ``end()``, and held to the duty
    cycle: the caller waits for its reply until ``next_switch(deadline)``, then calls ``switch()``.

    Best effort, as the niceness is: the signals go to the session's process group (the sandbox denies
    ``setpgid`` and ``setsid``), and nothing is sent once its init has ended (its ``pidfd`` says so). The
    group's leader, the session's supervisor, runs on: it must reap the init whenever the init is killed,
    or closing the session would wait for it.
    """

    def __init__(self, pid: int, process_group: int, pidfd: int | None, niceness: int):
        self._pid, self._group, self._pidfd = pid, process_group, pidfd
        set_session_niceness(pid, process_group, pidfd, niceness)
        self._stopped = False
        self._busy = True  # until a stopped part shows a spare core
        self._idle_mark: tuple[int, int] | None = None
        self._switch_at = time.monotonic() + BUSY_RUN_SHARE * DUTY_PERIOD_S

    def next_switch(self, deadline: float) -> float:
        return min(deadline, self._switch_at)

    def switch(self) -> None:
        """Stop a running session, or let a stopped one run again, for the next part of the period."""
        now = time.monotonic()
        if self._stopped:
            spare = _spare_cpus(self._idle_mark, cpu_times())
            self._busy = spare is None or spare < SPARE_CPUS
            self._signal(signal.SIGCONT)
            self._stopped = False
            self._switch_at = now + self._run_share() * DUTY_PERIOD_S
        else:
            self._idle_mark = cpu_times()
            self._stopped = self._signal(signal.SIGSTOP)
            self._switch_at = now + (1 - self._run_share()) * DUTY_PERIOD_S

    def end(self) -> None:
        """Running again, at niceness 0: before the call's result is read, or its session killed."""
        if self._stopped:
            self._signal(signal.SIGCONT)
            self._stopped = False
        set_session_niceness(self._pid, self._group, self._pidfd, 0)

    def _run_share(self) -> float:
        return BUSY_RUN_SHARE if self._busy else SPARE_RUN_SHARE

    def _signal(self, number: int) -> bool:
        if self._group <= 0 or not _still_running(self._pidfd):
            return False
        try:
            os.killpg(self._group, number)
            if number == signal.SIGSTOP:
                os.kill(self._group, signal.SIGCONT)  # the supervisor: the group's leader
        except OSError:
            return False
        return True


def cpu_times() -> tuple[int, int] | None:
    """``(idle, total)`` jiffies of every CPU since boot, from ``/proc/stat``; ``None`` where unreadable."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
        values = [int(value) for value in fields[1:9]]  # user .. steal; guest time is counted in user
    except (OSError, ValueError):
        return None
    if fields[:1] != [b"cpu"] or len(values) < 5:
        return None
    return values[3] + values[4], sum(values)  # idle and iowait: nothing ran


def _spare_cpus(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """How many CPUs stood idle, on average, between two ``cpu_times()``; ``None`` when unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)


def _still_running(pidfd: int | None) -> bool:
    """Whether the session's init runs still (so its pid, and its group's, are not someone else's yet)."""
    if pidfd is None:
        return True
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except OSError:
        return False
    return True
