"""One confined process holding one submission, seen from the grader: its calls, limits and errors.

A call is sent as a ``wire`` request and waited for with a deadline; a long call is demoted to a lower
priority and lends its worker's slot to another submission. Whatever goes wrong inside (a timeout, memory,
a crash, an exit) comes back as a ``ChildError`` with a message for the learner, never as an exception.
"""

import os
import secrets
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.channels import ChannelClosed, Channels, ChannelTimeout
from grader.sandbox.harness import wire
from grader.sandbox.harness.confine import Protection
from grader.sandbox.priority import LoweredCall
from grader.sandbox.protections import SandboxError
from grader.settings import Limits

SANDBOX_START_TIMEOUT_S = 30
STATUS_TIMEOUT_S = 2
KILL_TIMEOUT_S = 10
MESSAGE_CHARS = 2000
# What a failed call's reply may say it reached of the forbidden built-ins: the learner's process writes it,
# and it can only withhold the learner's own points, but it is shown, so it is bounded.
MAX_FORBIDDEN, FORBIDDEN_NAME_CHARS = 20, 200
# A call still running after a quarter of its limit (DEMOTE_AFTER_S at least) is lowered to DEMOTED_NICENESS
# and, on a busy machine, run a tenth of each 100 ms (priority.LoweredCall) until it ends; its worker lends
# its slot meanwhile (lend_slot_during_long_calls). So a call needing up to a third of its limit ends in time
# on a busy machine: 3.25 s of 10, where an entry-by-entry positional encoding takes 1.5 s; 39 s of the
# classifier's 120 s, where training on one example at a time takes 27 s.
DEMOTE_AFTER_S = 0.25
DEMOTE_AFTER_SHARE = 0.25
DEMOTED_NICENESS = 10


@dataclass
class ChildError:
    """Why a call returned no value.

    kind: "exception" | "not_implemented" | "missing" (no such module or name) | "timeout" |
        "memory" | "crash" (killed by a signal) | "exit" (the process ended) | "protocol" (its
        reply could not be read or its result could not be sent).
    exc_type, file, line: the exception's class name and the innermost line of the learner's
        files it passed through (file relative to the submission), when there was an exception.
    message: the exception's text for "exception", else the sentence for the learner.
    forbidden: the forbidden built-ins the call reached before it failed (a forbidden operator refuses to
        run in the sandbox, so reaching one fails the call).
    """

    kind: str
    message: str = ""
    exc_type: str | None = None
    file: str | None = None
    line: int | None = None
    forbidden: tuple[str, ...] = ()

    def describe(self) -> str:
        """One sentence for the learner: what happened and where."""
        where = f" at {self.file} line {self.line}" if self.file and self.line is not None else ""
        if self.kind == "exception":
            return f"your code raised {self.exc_type}{where}: {self.message}"
        if self.kind == "not_implemented":
            return f"not implemented yet (NotImplementedError{where})"
        if self.kind == "memory":
            return f"{self.message}{where}"
        return self.message


@dataclass
class CallResult:
    """What one call gave: ``value`` if ``ok``, else ``error``; ``output`` is what it printed."""

    ok: bool
    value: object = None
    error: ChildError | None = None
    output: str = ""
    elapsed_s: float = 0.0


class Session:
    """One confined process holding one submission. Calls are serialised; use as a context manager."""

    def __init__(self, channels: "Channels", scratch: Path, limits: Limits, on_close):
        self._channels = channels
        self._scratch = scratch
        self._limits = limits
        self._on_close = on_close
        self._lock = threading.Lock()
        channels.output.limit = limits.output_bytes
        channels.channel.limit = limits.reply_mb * 2**20
        self._failure: ChildError | None = None
        self._closed = False
        self._pidfd: int | None = None
        self._process_group = 0
        self._deadline = time.monotonic() + limits.session_timeout_s
        self.pid: int | None = None
        self.isolation: dict[str, str] = {}

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def call(self, task: str, payload: dict, timeout_s: float | None = None) -> CallResult:
        """Run ``task`` on ``payload`` in the sandbox; never raises for anything the learner's code did.

        ``timeout_s``: this call's wall-clock limit instead of the session's ``call_timeout_s``.
        """
        # A fresh id per call: a frame the learner's code writes blindly onto the channel is not a reply,
        # and cannot shift the real replies onto later calls.
        call_id = secrets.token_hex(16)
        request = wire.pack_frame(wire.TAG_CALL, {"task": task, "payload": payload, wire.CALL_ID: call_id})
        with self._lock:
            started = time.monotonic()
            if self._failure is None:
                value, error = self._exchange(request, started, call_id, timeout_s)
            else:
                value, error = None, self._failure
            output = self._channels.output.take()
        return CallResult(error is None, value, error, output, time.monotonic() - started)

    def close(self) -> None:
        """Kill every process of the session and remove its scratch folder. Safe to call twice."""
        self._kill()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._failure = self._failure or ChildError("exit", "the session was closed by the grader")
            self._await_supervisor()
            self._channels.close()
            if self._pidfd is not None:
                os.close(self._pidfd)
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._on_close()

    def _start(self, config: dict) -> None:
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT_S
        try:
            self._channels.channel.send(wire.pack_frame(wire.TAG_SETUP, config), deadline)
            _, hello = self._channels.status.receive({wire.TAG_INIT}, deadline)
            self.pid = int(hello["pid"])
            self._pidfd = _open_pidfd(self.pid)
            self._process_group = os.getpgid(self.pid)
            tag, body = self._channels.channel.receive({wire.TAG_READY, wire.TAG_BROKEN}, deadline)
            if tag == wire.TAG_BROKEN:
                raise SandboxError(f"a stand-in failed to load in the sandbox:\n{body.get('traceback')}")
            report = {
                name: str(Protection(active is True, str(detail)[:300]))
                for name, (active, detail) in body.items()
            }
        except (
            ChannelTimeout,
            ChannelClosed,
            wire.WireError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            OSError,
        ) as error:
            ended = (
                self._why_it_ended().describe() if isinstance(error, ChannelClosed) else type(error).__name__
            )
            output = self._channels.output.take()
            raise SandboxError(f"the sandbox did not start ({ended}); it printed:\n{output}") from None
        self.isolation = report

    def _exchange(
        self, request: bytes, started: float, call_id: str, timeout_s: float | None
    ) -> tuple[object, ChildError | None]:
        call_limit_s = self._limits.call_timeout_s if timeout_s is None else timeout_s
        call_deadline = started + call_limit_s
        deadline = min(call_deadline, self._deadline)
        limit_s = call_limit_s if deadline == call_deadline else self._limits.session_timeout_s
        demote_after_s = self._limits.demote_after_s
        if demote_after_s is None:
            demote_after_s = max(DEMOTE_AFTER_S, DEMOTE_AFTER_SHARE * call_limit_s)
        demote_at = min(started + demote_after_s, deadline)
        lowered: LoweredCall | None = None
        lent = False
        try:
            self._channels.channel.send(request, deadline)
            try:
                while True:
                    wake = demote_at if lowered is None else lowered.next_switch(deadline)
                    try:
                        tag, body = self._channels.channel.receive({wire.TAG_VALUE, wire.TAG_FAIL}, wake)
                    except ChannelTimeout:
                        if wake >= deadline:
                            raise
                        if lowered is None:
                            lowered = LoweredCall(
                                self.pid or 0, self._process_group, self._pidfd, DEMOTED_NICENESS
                            )
                            lent = _lend_worker_slot()
                        else:
                            lowered.switch()
                        continue
                    if type(body) is dict and body.pop(wire.CALL_ID, None) == call_id:
                        break
            finally:
                if lowered is not None:
                    lowered.end()  # running again before its reply is read, or its session killed
        except ChannelTimeout:
            return None, self._fail(
                ChildError("timeout", f"did not finish in {_seconds(limit_s)} s — an endless loop?")
            )
        except ChannelClosed:
            return None, self._fail(self._why_it_ended())
        except wire.WireError as error:
            detail = str(error)[:100]
            return None, self._fail(
                ChildError("protocol", f"sent the grader a reply it cannot read ({detail})")
            )
        finally:
            if lent:
                _take_back_worker_slot()
        if tag == wire.TAG_VALUE:
            return body, None
        return None, _error_from_record(body, self._limits)

    def _fail(self, error: ChildError) -> ChildError:
        self._failure = error
        self._kill()
        return error

    def _why_it_ended(self) -> ChildError:
        try:
            _, body = self._channels.status.receive({wire.TAG_EXIT}, time.monotonic() + STATUS_TIMEOUT_S)
            status = int(body["wait_status"])
        except (ChannelTimeout, ChannelClosed, wire.WireError, KeyError, TypeError, ValueError):
            return ChildError("protocol", "closed its connection to the grader before returning a result")
        if os.WIFSIGNALED(status):
            return _signal_error(os.WTERMSIG(status), self._limits)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        return ChildError("exit", f"the process exited with status {code} before returning a result")

    def _await_supervisor(self) -> None:
        """Wait until the supervisor has reaped the init: by then its PID namespace is empty, zombies
        included."""
        deadline = time.monotonic() + KILL_TIMEOUT_S
        try:
            while True:
                self._channels.status.receive({wire.TAG_INIT, wire.TAG_EXIT}, deadline)
        except (ChannelTimeout, ChannelClosed, wire.WireError):
            pass

    def _kill(self) -> None:
        """SIGKILL the session's init; the kernel then kills everything in its PID namespace."""
        if self.pid is None or self._closed:
            return
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
            if not self.isolation.get("pid namespace", "").startswith("active"):
                os.killpg(self._process_group, signal.SIGKILL)  # the best we can do without a namespace
        except OSError:
            pass


_WORKER = threading.local()


def lend_slot_during_long_calls(lend, take_back) -> None:
    """For this thread's later calls: ``lend()`` when a call is demoted, ``take_back()`` when it ends.

    The grading workers pass a semaphore's release and acquire, so a worker waiting out an endless
    loop lets another worker run meanwhile. ``lend=None`` forgets them (a cluster's task thread runs
    other tasks afterwards).
    """
    _WORKER.hooks = None if lend is None else (lend, take_back)


def _lend_worker_slot() -> bool:
    hooks = getattr(_WORKER, "hooks", None)
    if hooks is None:
        return False
    hooks[0]()
    return True


def _take_back_worker_slot() -> None:
    _WORKER.hooks[1]()


def _open_pidfd(pid: int) -> int | None:
    """A handle on the init that stays valid if its pid is reused (Linux >= 5.3), else None."""
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def forbidden_names(reported) -> tuple[str, ...]:
    """The forbidden built-ins a reply says its call reached (untrusted): strings only, bounded."""
    if type(reported) not in (list, tuple):
        return ()
    return tuple(name[:FORBIDDEN_NAME_CHARS] for name in reported[:MAX_FORBIDDEN] if type(name) is str)


def _error_from_record(record, limits: Limits) -> ChildError:
    """Turn the sandbox's error record (untrusted data) into a ChildError, checking every field."""
    if type(record) is not dict:
        return ChildError("protocol", "sent an error report the grader cannot read")

    def text(key: str) -> str:
        value = record.get(key)
        return value[:MESSAGE_CHARS] if type(value) is str else ""

    kind = record.get("kind")
    if kind in ("missing", "protocol"):
        return ChildError(kind, text("message"))
    if kind != "exception":
        return ChildError("protocol", "sent an error report the grader cannot read")
    file = text("file") or None
    line = record["line"] if type(record.get("line")) is int else None
    forbidden = forbidden_names(record.get("forbidden"))
    if record.get("not_implemented") is True:
        return ChildError("not_implemented", text("message"), "NotImplementedError", file, line, forbidden)
    if record.get("memory") is True:
        return ChildError(
            "memory", f"ran out of memory (limit {limits.memory_mb} MB)", text("type"), file, line, forbidden
        )
    return ChildError("exception", text("message"), text("type") or "an exception", file, line, forbidden)


def _signal_error(number: int, limits: Limits) -> ChildError:
    if number == signal.SIGXCPU:
        cpu_s = int(limits.session_timeout_s) + 1
        return ChildError("timeout", f"used more than {cpu_s} s of CPU time — an endless loop?")
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"number {number}"
    return ChildError("crash", f"crashed with signal {name}")


def _seconds(value: float) -> str:
    return f"{value:g}"
