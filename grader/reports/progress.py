"""Progress of a grading run: a bar with count, ETA and failures on a terminal, plain lines in CI logs.

A learner's name and notes reach these lines only through ``safe_text.for_terminal``: one bounded
line each, so no escape sequence reaches the terminal and no name can start a line of its own.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from grader.reports.causes import main_reason, misbehaved
from grader.results import SubmissionResult
from grader.safe_text import SHOWN_NAME_LIMIT, for_terminal

BAR_WIDTH = 24


def write_line(stream: TextIO, line: str) -> None:
    """``line`` and its newline in one write: lines from several threads (progress, the sandbox's
    protections) never interleave, as ``print``'s two writes did (a protection's line ran into a progress
    line, which then no longer began the line)."""
    stream.write(line + "\n")
    stream.flush()


class Progress:
    """Call ``done(result)`` as each submission finishes (from any thread); ``close()`` at the end."""

    def __init__(self, total: int, stream: TextIO | None = None, interactive: bool | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.count = 0
        self.troubled = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        if self.interactive and total:
            self._draw("")

    def done(self, result: SubmissionResult) -> None:
        with self._lock:
            self.count += 1
            trouble = self._trouble(result)
            self.troubled += misbehaved(result)
            name = for_terminal(result.submission, SHOWN_NAME_LIMIT, tag=True)
            score = f"{result.total:g}/{result.max_score:g} ({result.elapsed_s:.1f} s)"
            line = f"[{self.count}/{self.total}] {name}: {score}{trouble}"
            if self.interactive:
                self._draw(line)
            else:
                write_line(self.stream, line)

    def close(self) -> None:
        if self.interactive and self.total:
            print(file=self.stream, flush=True)

    def eta_s(self) -> float | None:
        if not self.count:
            return None
        return (time.monotonic() - self.started) / self.count * (self.total - self.count)

    def _draw(self, last: str) -> None:
        filled = int(BAR_WIDTH * self.count / self.total) if self.total else BAR_WIDTH
        eta = self.eta_s()
        eta_text = "ETA --" if eta is None else f"ETA {eta:.0f} s"
        bar = (
            f"\r\x1b[2K[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.count}/{self.total}  {eta_text}  "
            f"troubled: {self.troubled}"
        )
        self.stream.write(bar + (f"  last: {last}" if last else ""))
        self.stream.flush()

    @staticmethod
    def _trouble(result: SubmissionResult) -> str:
        """ " — syntax error at multi_head.py line 55" when the learner's code could not run as it should
        (``causes.main_reason``), with the first note about loading the submission; else ""."""
        parts = [main_reason(result)] + [for_terminal(note) for note in result.notes[:1]]
        return (" — " + "; ".join(filter(None, parts))) if any(parts) else ""
