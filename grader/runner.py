"""Run a learner's code in a sandbox and get plain data back: the grader's side.

The learner's code never runs in this process. A ``Runner`` starts one fork server (the zygote,
``grader/child.py``) per grading run; each ``Session`` is a fresh fork of it, confined to a
scratch copy of one submission. Requests and replies travel as ``grader.wire`` messages, never
pickle, and every wait has a deadline, so nothing the learner's code does can hang or fool the
grader: it can only make its own calls fail.

    with Runner() as runner, runner.open_session(folder, limits=Limits(call_timeout_s=10)) as session:
        result = session.call("call_function", {"module": "softmax", "function": "softmax", "args": [x]})
        result.value["result"] if result.ok else result.error.describe()
"""

import os
import secrets
import select
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import wire
from .confine import Protection, library_folders
from .forkserver import HARNESS_DIR, Launched, launch, make_workdir
from .protections import (  # noqa: F401 - SandboxError and MissingProtection are the runner's to raise
    REQUIRED_PROTECTIONS,
    RISKS,
    MissingProtection,
    SandboxError,
    is_active,
    missing_protections,
    risk_name,
)

REPO_ROOT = HARNESS_DIR.parent
INSTRUCTOR_FOLDERS = ("grader", "solutions", "tests")
SKIPPED_FILES = {"conftest.py", "sitecustomize.py", "usercustomize.py", "__init__.py"}
MAX_SUBMISSION_BYTES = 5 * 2**20
EDITABLE_INSTALL_PREFIXES = ("__editable__", "attention_kit")  # they name the repository's folder
SANDBOX_ID_BASE = 2_000_000_000  # one unused uid per live session, so RLIMIT_NPROC counts only its processes
ZYGOTE_START_TIMEOUT_S = 120
SANDBOX_START_TIMEOUT_S = 30
STATUS_TIMEOUT_S = 2
KILL_TIMEOUT_S = 10
WITHOUT_VARIABLE = "KIT_SANDBOX_WITHOUT"
# What the sandbox can leave out to stand for a weaker machine (the rest it always applies).
CAN_BE_TURNED_OFF = (
    "pid-namespace",
    "network-namespace",
    "mount-namespace",
    "ipc-namespace",
    "user-namespace",
    "private-root",
    "landlock",
    "syscall-filter",
)
MESSAGE_CHARS = 2000
# A call still running after DEMOTE_AFTER_S (the slowest correct call in this lesson takes ~3 s) is
# lowered to DEMOTED_NICENESS until it returns or times out, and its worker lends its slot (see
# lend_slot_during_long_calls): while it spins, other submissions get the CPU. It keeps its full
# wall-clock limit.
DEMOTE_AFTER_S = 4.0
DEMOTED_NICENESS = 10


@dataclass(frozen=True)
class Limits:
    """What one session may use.

    call_timeout_s: wall-clock seconds for one call (the first also imports the learner's modules).
    session_timeout_s: wall-clock seconds for all calls of a session together; also the CPU-time
        limit of each of its processes.
    memory_mb: address space each process may add to what the zygote had already mapped.
    max_processes: processes and threads the session may have at once (RLIMIT_NPROC counts both).
    output_bytes: how much of what a call prints is kept; the rest is counted, not stored.
    file_size_mb: the largest file the learner's code may write in its scratch folder.
    scratch_mb, scratch_files: what the scratch folder may hold in all (a tmpfs of that size and
        number of files; the submission's own modules count).
    reply_mb: the largest reply the grader reads; a larger one is refused from its header, unread.
    gpu: the session may use NVIDIA GPUs (their device files and driver); ``memory_mb`` then bounds
        private writable memory (RLIMIT_DATA), since CUDA reserves more address space than it uses.
        GPU memory itself is not bounded: the session's end frees it.
    """

    call_timeout_s: float = 30
    session_timeout_s: float = 180
    memory_mb: int = 2048
    max_processes: int = 64
    output_bytes: int = 2000
    file_size_mb: int = 64
    scratch_mb: int = 64
    scratch_files: int = 1024
    reply_mb: int = 32
    gpu: bool = False


@dataclass
class ChildError:
    """Why a call returned no value.

    kind: "exception" | "not_implemented" | "missing" (no such module or name) | "timeout" |
        "memory" | "crash" (killed by a signal) | "exit" (the process ended) | "protocol" (its
        reply could not be read or its result could not be sent).
    exc_type, file, line: the exception's class name and the innermost line of the learner's
        files it passed through (file relative to the submission), when there was an exception.
    message: the exception's text for "exception", else the sentence for the learner.
    """

    kind: str
    message: str = ""
    exc_type: str | None = None
    file: str | None = None
    line: int | None = None

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


class SubmissionError(ValueError):
    """The submission folder cannot be copied into a sandbox (too large, unreadable)."""


class Runner:
    """Owns the zygote and the sessions forked from it. Use as a context manager.

    workdir: where the scratch folders go (a fresh folder inside it; default: the system's temp folder).
    accepted_risks: protections (``RISKS`` names: "syscall-filter") the sandbox may go without; any
        other missing protection makes ``open_session`` raise ``MissingProtection``.
    without: protections to turn off, standing for a machine without them (tests; a Gradescope
        container has no namespaces): ``CAN_BE_TURNED_OFF`` names (naming one namespace turns them all
        off, as such a machine grants none). Default: ``$KIT_SANDBOX_WITHOUT`` (comma-separated). The
        refusal above still applies to them.
    announce: called once with ``isolation_report()`` when the first session has passed the check,
        before any learner code runs in it (the submission is imported at the first call).
    launched: a zygote started earlier (``forkserver.launch_in_new_workdir``), so it imported PyTorch
        while this process did; the runner adopts it and its folder.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        launched: Launched | None = None,
        accepted_risks=(),
        without=None,
        announce=None,
    ):
        without = _from_environment(WITHOUT_VARIABLE) if without is None else tuple(without)
        unknown = (set(accepted_risks) | set(without)) - set(RISKS)
        if unknown:
            raise ValueError(f"no such protection: {', '.join(sorted(unknown))}; the risks are {', '.join(RISKS)}")
        if set(without) - set(CAN_BE_TURNED_OFF):
            kept = ", ".join(sorted(set(without) - set(CAN_BE_TURNED_OFF)))
            raise ValueError(f"{kept} cannot be turned off; these can: {', '.join(CAN_BE_TURNED_OFF)}")
        self._accepted = {name for name in REQUIRED_PROTECTIONS if risk_name(name) in set(accepted_risks)}
        self._without = [name for name in REQUIRED_PROTECTIONS if risk_name(name) in set(without)]
        self._folder = launched.folder if launched is not None else make_workdir(workdir)
        self._workdir = self._folder.path
        self._launched = launched
        self._lock = threading.Lock()
        self._zygote: _Zygote | None = None
        self._sessions: dict[int, Session] = {}
        self._last_isolation: dict[str, str] | None = None
        self._libraries = library_folders()
        self._closing = False
        self._announce = announce
        self._pointers = _pointers_to_the_repository(self._libraries)

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open_session(
        self, submission_dir: Path, *, standins: dict | None = None, limits: Limits = Limits(), forbidden_paths=()
    ) -> "Session":
        """Fork a confined process for one submission, ready for ``Session.call``.

        standins: ``{module: {"source": str, "names": [str]}}`` in module order; each listed name in
            the learner's module is replaced by the stand-in's (the whole module if it fails to import).
        forbidden_paths: more paths the learner's code must not read (say, the class folder); the
            repository's grader/, solutions/ and tests/ and ``submission_dir`` itself never are. The
            sandbox sees none of these paths: it gets the folders it may read, and only those forbidden
            paths that lie inside them (to hide).
        """
        with self._lock:
            if self._closing:
                raise SandboxError("the grading run is stopping: no new sandbox")
            slot = next(i for i in range(len(self._sessions) + 1) if i not in self._sessions)
            self._sessions[slot] = None  # reserve the slot, and with it a uid
        try:
            scratch = self._make_scratch(Path(submission_dir), slot)
            config = {
                "scratch": str(scratch),
                "standins": dict(standins or {}),
                "read_only": [str(p) for p in self._libraries],
                "hidden": [str(p) for p in _hidden(self._libraries, self._pointers, Path(submission_dir), forbidden_paths)],
                "without": self._without,
                "uid": SANDBOX_ID_BASE + slot,
                "gid": SANDBOX_ID_BASE + slot,
                "limits": {
                    "memory_mb": limits.memory_mb,
                    "file_size_mb": limits.file_size_mb,
                    "max_processes": limits.max_processes,
                    "cpu_s": int(limits.session_timeout_s) + 1,
                    "scratch_mb": limits.scratch_mb,
                    "scratch_files": limits.scratch_files,
                    "gpu": limits.gpu,
                },
            }
            session = Session(self._fork_session(), scratch, limits, on_close=lambda: self._release(slot))
        except BaseException:
            self._release(slot)
            raise
        with self._lock:
            self._sessions[slot] = session
        try:
            session._start(config)
            missing = missing_protections(session.isolation, self._accepted)
            if missing:
                raise MissingProtection(missing)
        except BaseException:
            session.close()
            raise
        self._last_isolation = session.isolation
        with self._lock:
            announce, self._announce = self._announce, None
        if announce is not None:
            announce(self.isolation_report())
        return session

    def isolation_report(self) -> dict[str, str]:
        """Each protection and whether it is active here, as seen by the last session (or a probe).

        Raises MissingProtection when one is missing and its risk was not accepted; an accepted one
        reads "unavailable: … (risk accepted)".
        """
        if self._last_isolation is None:
            empty = Path(tempfile.mkdtemp(dir=self._workdir))
            try:
                self.open_session(empty).close()
            finally:
                empty.rmdir()
        zygote = self._zygote
        report = {"fork server": f"active ({zygote.threads} thread(s) at fork)"}
        for name, status in self._last_isolation.items():
            report[name] = status + (" (risk accepted)" if name in self._accepted and not is_active(status) else "")
        return report

    def close(self) -> None:
        """End every session and the zygote, and remove the scratch folders; no session opens after this."""
        with self._lock:
            self._closing = True
        for session in list(self._sessions.values()):
            if session is not None:
                session.close()
        with self._lock:
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None
            if self._launched is not None:
                self._launched.close()
                self._launched = None
        self._folder.remove()

    def _fork_session(self) -> "_Channels":
        channels = _Channels()
        with self._lock:
            for attempt in range(2):
                if self._zygote is None or not self._zygote.alive():
                    launched, self._launched = self._launched, None
                    self._zygote = _Zygote(launched or launch(self._folder))
                try:
                    self._zygote.fork(channels.child_fds)
                    break
                except OSError:
                    if attempt:
                        channels.close()
                        raise SandboxError("the sandbox's fork server stopped responding") from None
                    self._zygote.close()
                    self._zygote = None
        channels.close_child_ends()
        return channels

    def _make_scratch(self, submission_dir: Path, slot: int) -> Path:
        scratch = Path(tempfile.mkdtemp(prefix=f"session-{slot}-", dir=self._workdir))
        try:
            _copy_modules(submission_dir, scratch)
            if os.geteuid() == 0:
                os.chown(scratch, SANDBOX_ID_BASE + slot, SANDBOX_ID_BASE + slot)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return scratch

    def _release(self, slot: int) -> None:
        with self._lock:
            self._sessions.pop(slot, None)


class Session:
    """One confined process holding one submission. Calls are serialised; use as a context manager."""

    def __init__(self, channels: "_Channels", scratch: Path, limits: Limits, on_close):
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

    def call(self, task: str, payload: dict) -> CallResult:
        """Run ``task`` on ``payload`` in the sandbox; never raises for anything the learner's code did."""
        # A fresh id per call: a frame the learner's code writes blindly onto the channel is not a reply,
        # and cannot shift the real replies onto later calls.
        call_id = secrets.token_hex(16)
        request = wire.pack_frame(wire.TAG_CALL, {"task": task, "payload": payload, wire.CALL_ID: call_id})
        with self._lock:
            started = time.monotonic()
            if self._failure is None:
                value, error = self._exchange(request, started, call_id)
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
            report = {name: str(Protection(active is True, str(detail)[:300])) for name, (active, detail) in body.items()}
        except (_Timeout, _Closed, wire.WireError, KeyError, TypeError, ValueError, AttributeError, OSError) as error:
            ended = self._why_it_ended().describe() if isinstance(error, _Closed) else type(error).__name__
            output = self._channels.output.take()
            raise SandboxError(f"the sandbox did not start ({ended}); it printed:\n{output}") from None
        self.isolation = report

    def _exchange(self, request: bytes, started: float, call_id: str) -> tuple[object, ChildError | None]:
        call_deadline = started + self._limits.call_timeout_s
        deadline = min(call_deadline, self._deadline)
        limit_s = self._limits.call_timeout_s if deadline == call_deadline else self._limits.session_timeout_s
        demote_at = min(started + DEMOTE_AFTER_S, deadline)
        demoted = lent = False
        try:
            self._channels.channel.send(request, deadline)
            while True:
                try:
                    tag, body = self._channels.channel.receive(
                        {wire.TAG_VALUE, wire.TAG_FAIL}, deadline if demoted else demote_at
                    )
                except _Timeout:
                    if demoted or demote_at >= deadline:
                        raise
                    self._set_niceness(DEMOTED_NICENESS)
                    demoted, lent = True, _lend_worker_slot()
                    continue
                if type(body) is dict and body.pop(wire.CALL_ID, None) == call_id:
                    break
        except _Timeout:
            return None, self._fail(ChildError("timeout", f"did not finish in {_seconds(limit_s)} s — an endless loop?"))
        except _Closed:
            return None, self._fail(self._why_it_ended())
        except wire.WireError as error:
            detail = str(error)[:100]
            return None, self._fail(ChildError("protocol", f"sent the grader a reply it cannot read ({detail})"))
        finally:
            if lent:
                _take_back_worker_slot()
        if demoted:
            self._set_niceness(0)
        if tag == wire.TAG_VALUE:
            return body, None
        return None, _error_from_record(body, self._limits)

    def _set_niceness(self, niceness: int) -> None:
        """Best effort: a call that runs long (most often an endless loop) gets only the CPU others leave."""
        if self._process_group > 0:
            try:
                os.setpriority(os.PRIO_PGRP, self._process_group, niceness)
            except OSError:
                pass

    def _fail(self, error: ChildError) -> ChildError:
        self._failure = error
        self._kill()
        return error

    def _why_it_ended(self) -> ChildError:
        try:
            _, body = self._channels.status.receive({wire.TAG_EXIT}, time.monotonic() + STATUS_TIMEOUT_S)
            status = int(body["wait_status"])
        except (_Timeout, _Closed, wire.WireError, KeyError, TypeError, ValueError):
            return ChildError("protocol", "closed its connection to the grader before returning a result")
        if os.WIFSIGNALED(status):
            return _signal_error(os.WTERMSIG(status), self._limits)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        return ChildError("exit", f"the process exited with status {code} before returning a result")

    def _await_supervisor(self) -> None:
        """Wait until the supervisor has reaped the init: by then its PID namespace is empty, zombies included."""
        deadline = time.monotonic() + KILL_TIMEOUT_S
        try:
            while True:
                self._channels.status.receive({wire.TAG_INIT, wire.TAG_EXIT}, deadline)
        except (_Timeout, _Closed, wire.WireError):
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


# --- worker slots -------------------------------------------------------------------------------

_WORKER = threading.local()


def lend_slot_during_long_calls(lend, take_back) -> None:
    """For this thread's later calls: ``lend()`` when a call is demoted, ``take_back()`` when it ends.

    The grading workers pass a semaphore's release and acquire, so a worker waiting out an endless
    loop lets another worker run meanwhile.
    """
    _WORKER.hooks = (lend, take_back)


def _lend_worker_slot() -> bool:
    hooks = getattr(_WORKER, "hooks", None)
    if hooks is None:
        return False
    hooks[0]()
    return True


def _take_back_worker_slot() -> None:
    _WORKER.hooks[1]()


# --- channels -----------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


class _Closed(Exception):
    pass


class _FrameSocket:
    """One end of a socket, read and written frame by frame, each wait bounded by a deadline."""

    def __init__(self, sock: socket.socket, output: "_Output | None" = None):
        self.sock = sock
        self.output = output
        self.buffer = bytearray()
        self.limit = wire.MAX_MESSAGE_BYTES

    def send(self, data: bytes, deadline: float) -> None:
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise _Timeout from None
        except OSError:
            raise _Closed from None

    def receive(self, tags: set[bytes], deadline: float) -> tuple[bytes, object]:
        """The next frame, decoded; WireError if it is malformed or not one of ``tags``."""
        while True:
            frame = self._buffered_frame(tags)
            if frame is not None:
                return frame
            self._wait_for_bytes(deadline)

    def _buffered_frame(self, tags: set[bytes]):
        if len(self.buffer) < wire.FRAME.size:
            return None
        tag, length = wire.FRAME.unpack_from(self.buffer)
        if tag not in tags:
            raise wire.WireError(f"unexpected frame {tag!r} of {length} bytes")
        if length > self.limit:  # refused from its header, before a byte of it is read
            raise wire.WireError(f"a reply of {length / 2**20:.0f} MB; the limit is {self.limit / 2**20:.0f} MB")
        end = wire.FRAME.size + length
        if len(self.buffer) < end:
            return None
        with memoryview(self.buffer) as view:  # decoded in place: the reply is held once, not three times
            value = wire.decode(view[wire.FRAME.size : end], max_bytes=self.limit)
        try:
            del self.buffer[:end]
        except BufferError:  # a view of it outlived the decoding (in a traceback, say)
            self.buffer = bytearray(self.buffer[end:])
        return tag, value

    def _wait_for_bytes(self, deadline: float) -> None:
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        if self.output is not None and not self.output.finished:
            poller.register(self.output.fd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout
            ready = {fd for fd, _ in poller.poll(remaining * 1000)}
            if self.output is not None and self.output.fd in ready and not self.output.drain():
                poller.unregister(self.output.fd)
            if self.sock.fileno() in ready:
                break
        self.sock.settimeout(0)
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            raise _Closed from None
        if not chunk:
            raise _Closed
        self.buffer += chunk


class _Output:
    """The read end of a session's stdout/stderr pipe: keeps the first ``limit`` bytes of each call."""

    def __init__(self, fd: int):
        os.set_blocking(fd, False)
        self.fd = fd
        self.limit = 0
        self.kept = bytearray()
        self.dropped = 0
        self.finished = False

    def drain(self) -> bool:
        """Read what is waiting, up to 4 MB so that endless printing cannot starve the deadline
        checks; False once every writer has gone."""
        for _ in range(64):
            if self.finished:
                return False
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                chunk = b""
            if not chunk:
                self.finished = True
                return False
            room = max(self.limit - len(self.kept), 0)
            self.kept += chunk[:room]
            self.dropped += len(chunk) - min(room, len(chunk))
        return True

    def take(self) -> str:
        self.drain()
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output not shown]"
        self.kept, self.dropped = bytearray(), 0
        return text


class _Channels:
    """The grader's ends of a session's channel, supervisor socket and output pipe (and, until
    they are handed to the zygote, the sandbox's ends)."""

    def __init__(self):
        channel, child_channel = socket.socketpair()
        status, child_status = socket.socketpair()
        output_read, output_write = os.pipe()
        self.output = _Output(output_read)
        self.channel = _FrameSocket(channel, self.output)
        self.status = _FrameSocket(status)
        self.child_fds = [child_channel.detach(), child_status.detach(), output_write]

    def close_child_ends(self) -> None:
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    def close(self) -> None:
        self.close_child_ends()
        self.output.finished = True  # its descriptor number may be reused at once
        self.channel.sock.close()
        self.status.sock.close()
        os.close(self.output.fd)


class _Zygote:
    """The fork server: a clean interpreter that has imported torch and the harness, nothing else."""

    def __init__(self, launched: Launched):
        self._process, self._control = launched.process, launched.control
        try:
            _, hello = _FrameSocket(self._control).receive({wire.TAG_ZYGOTE}, launched.started + ZYGOTE_START_TIMEOUT_S)
        except (_Timeout, _Closed, wire.WireError) as error:
            self.close()
            raise SandboxError(f"the sandbox's fork server did not start ({type(error).__name__})") from None
        self.pid = self._process.pid
        self.threads = hello["threads"]
        self.start_s = time.monotonic() - launched.started

    def alive(self) -> bool:
        return self._process.poll() is None

    def fork(self, fds: list[int]) -> None:
        self._control.settimeout(5)
        socket.send_fds(self._control, [b"S"], fds)

    def close(self) -> None:
        self._control.close()
        self._process.kill()
        self._process.wait()


# --- helpers ------------------------------------------------------------------------------------


def _copy_modules(source: Path, scratch: Path) -> None:
    """Copy the top-level ``*.py`` regular files a learner may submit, never following a link."""
    total = 0
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        name = entry.name
        if (
            not name.endswith(".py")
            or not name[:-3].isidentifier()
            or name in SKIPPED_FILES
            or name.startswith("test_")
            or not entry.is_file(follow_symlinks=False)
        ):
            continue
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            data = file.read(MAX_SUBMISSION_BYTES + 1 - total)
        total += len(data)
        if total > MAX_SUBMISSION_BYTES:
            raise SubmissionError(f"{source} holds more than {MAX_SUBMISSION_BYTES // 2**20} MB of Python files")
        (scratch / name).write_bytes(data)
        (scratch / name).chmod(0o644)  # readable by the sandbox uid whatever the grader's umask


def _from_environment(variable: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in os.environ.get(variable, "").split(",") if name.strip())


def _pointers_to_the_repository(libraries: list[Path]) -> set[Path]:
    """An editable install's finder and metadata in the library folders: they name the repository's folder."""
    return {library / name for library in libraries for name in os.listdir(library) if name.startswith(EDITABLE_INSTALL_PREFIXES)}


def _hidden(libraries: list[Path], pointers: set[Path], submission_dir: Path, extra) -> list[Path]:
    """The paths the sandbox must not read that lie inside a folder it may read (say, the grader when it
    is installed in site-packages, or an editable install's pointer back to the repository)."""
    folders = [REPO_ROOT / name for name in INSTRUCTOR_FOLDERS] + [HARNESS_DIR, submission_dir, *map(Path, extra)]
    forbidden = {Path(os.path.realpath(folder)) for folder in folders} | pointers
    return sorted(path for path in forbidden if any(path.is_relative_to(library) for library in libraries))


def _open_pidfd(pid: int) -> int | None:
    """A handle on the init that stays valid if its pid is reused (Linux >= 5.3), else None."""
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


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
    if record.get("not_implemented") is True:
        return ChildError("not_implemented", text("message"), "NotImplementedError", file, line)
    if record.get("memory") is True:
        return ChildError("memory", f"ran out of memory (limit {limits.memory_mb} MB)", text("type"), file, line)
    return ChildError("exception", text("message"), text("type") or "an exception", file, line)


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
