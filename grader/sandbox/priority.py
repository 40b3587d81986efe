"""Lowering a session's processes in priority while one of its calls runs long, and raising them back.

Each session's processes are a session of their own (``setsid``), so a kernel that groups sessions for
the scheduler (autogroup: ``/proc/sys/kernel/sched_autogroup_enabled``, on by default in most
distributions) shares the CPU between sessions first, and a process's niceness counts only within its
own session. On such a kernel ``setpriority`` alone changed nothing: a demoted endless loop still took a
full share against two busy sandboxes (0.99 of a core, measured), so the session's group is reniced too
(0.2 of a core). Raising either back to 0 needs privileges for a process but not for a group.
"""

from __future__ import annotations

import os
import signal


def set_session_niceness(pid: int, process_group: int, pidfd: int | None, niceness: int) -> None:
    """Best effort: the niceness of every process in ``process_group`` and of the scheduler group of
    ``pid``'s session; nothing if the session has ended (its ``pidfd`` says so)."""
    if process_group <= 0:
        return
    try:
        os.setpriority(os.PRIO_PGRP, process_group, niceness)
    except OSError:
        pass
    if pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, 0)  # its pid is not someone else's yet
        except OSError:
            return
    try:
        with open(f"/proc/{pid}/autogroup", "w", encoding="ascii") as group:
            group.write(str(niceness))
    except OSError:  # no autogroup in this kernel, the session ended, or a rate limit (non-root: 10/s)
        pass
