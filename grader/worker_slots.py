"""The grading workers' slots: how many exercises run at once, and who gets a slot that comes free.

A worker holds a slot while it grades an exercise. One waiting out a long call (most often an endless
loop) lends its slot to a spare thread and takes a slot back when the call ends. A plain semaphore lets
a worker that releases its slot take it again at once, ahead of those waiting: the spare thread went on
through the queue while the worker back from its call waited (15 s behind a 10 s timeout, measured).
Here a worker taking a slot back goes before every worker about to begin a new task.
"""

from __future__ import annotations

import threading


class WorkerSlots:
    def __init__(self, count: int):
        self._free = max(1, count)
        self._returning = 0  # workers back from a long call, waiting for a slot
        self._changed = threading.Condition()

    def acquire(self) -> None:
        """A slot to begin a new task: once no worker back from a long call is waiting for one."""
        with self._changed:
            self._changed.wait_for(lambda: self._free and not self._returning)
            self._free -= 1

    def take_back(self) -> None:
        """A slot for a worker whose long call has ended: the first one free."""
        with self._changed:
            self._returning += 1
            try:
                self._changed.wait_for(lambda: self._free)
                self._free -= 1
            finally:
                self._returning -= 1
                self._changed.notify_all()

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()

    def __enter__(self) -> WorkerSlots:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
