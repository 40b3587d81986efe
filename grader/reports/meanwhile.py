"""Pictures drawn on a thread of their own as each submission is recorded, while grading goes on.

A failed check's picture takes matplotlib tens of milliseconds. Drawn by the grading worker that
recorded the submission, it held that worker (with ``--jobs 1``, the whole run) while the other core
sat idle. Each picture is drawn once, named by what it shows (``pictures.cached_png``); a picture not
drawn yet when the run stops is drawn by the reports.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from grader.reports.page import draw_pictures
from grader.results import SubmissionResult


class PicturesMeanwhile:
    """``add(result)`` queues ``result``'s pictures; leaving the ``with`` block waits until all are drawn."""

    def __init__(self, out: Path):
        self._out = out
        self._waiting: queue.SimpleQueue[SubmissionResult | None] = queue.SimpleQueue()
        # A daemon: a run that fails does not wait for its pictures to end.
        self._thread = threading.Thread(target=self._draw, name="drawing-pictures", daemon=True)

    def __enter__(self) -> PicturesMeanwhile:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._waiting.put(None)
        self._thread.join()

    def add(self, result: SubmissionResult) -> None:
        self._waiting.put(result)

    def _draw(self) -> None:
        while (result := self._waiting.get()) is not None:
            try:
                draw_pictures(result, self._out)
            except Exception:  # noqa: BLE001 - a picture is never worth a grade; the reports try once more
                pass
