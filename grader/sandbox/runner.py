"""Run a learner's code in a sandbox and get plain data back: the grader's side.

The learner's code never runs in this process. A ``Runner`` starts one fork server (the zygote,
``grader/sandbox/harness/child.py``) per grading run; each ``Session`` is a fresh fork of it, confined to a
scratch copy of one submission. Requests and replies travel as ``grader.sandbox.harness.wire`` messages, never
pickle, and every wait has a deadline, so nothing the learner's code does can hang or fool the
grader: it can only make its own calls fail.

    with Runner() as runner, runner.open_session(folder, limits=Limits(call_timeout_s=10)) as session:
        result = session.call("call_unwatched", {"module": "softmax", "function": "softmax", "args": [x]})
        result.value["result"] if result.ok else result.error.describe()
"""

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from grader.sandbox import uid_blocks
from grader.sandbox.channels import ChannelClosed, Channels, ChannelTimeout, FrameSocket
from grader.sandbox.forkserver import HARNESS_DIR, Launched, launch, make_workdir
from grader.sandbox.harness import wire
from grader.sandbox.harness.confine import library_folders
from grader.sandbox.module_files import read_modules
from grader.sandbox.protections import (
    RISKS,
    WITHOUT_VARIABLE,
    MissingProtection,
    SandboxError,
    is_active,
    missing_protections,
    protections_named,
)
from grader.sandbox.session import Session
from grader.settings import Limits

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTRUCTOR_FOLDERS = ("grader", "solutions", "tests")
EDITABLE_INSTALL_PREFIXES = ("__editable__", "attention_kit")  # they name the repository's folder
ZYGOTE_START_TIMEOUT_S = 120
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
            raise ValueError(
                f"no such protection: {', '.join(sorted(unknown))}; the risks are {', '.join(RISKS)}"
            )
        if set(without) - set(CAN_BE_TURNED_OFF):
            kept = ", ".join(sorted(set(without) - set(CAN_BE_TURNED_OFF)))
            raise ValueError(f"{kept} cannot be turned off; these can: {', '.join(CAN_BE_TURNED_OFF)}")
        self._accepted, self._without = set(protections_named(accepted_risks)), protections_named(without)
        self._uids = uid_blocks.claim()  # one unused uid per live session, so RLIMIT_NPROC counts its own
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
        self,
        submission_dir: Path,
        *,
        standins: dict | None = None,
        limits: Limits = Limits(),
        forbidden_paths=(),
    ) -> "Session":
        """Fork a confined process for one submission, ready for ``Session.call``.

        standins: ``{module: {"source": str, "names": [str], "whole": bool}}`` in module order; each
            listed name in the learner's module is replaced by the stand-in's (the whole module if it
            fails to import, or with ``"whole": True``). The ``import_earlier`` task puts them in place
            one by one (``grader.sandbox.earlier_modules``); any other task puts them all first.
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
                "hidden": [
                    str(p)
                    for p in _hidden(self._libraries, self._pointers, Path(submission_dir), forbidden_paths)
                ],
                "without": self._without,
                "uid": self._uids.uid(slot),
                "gid": self._uids.uid(slot),
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
            report[name] = status + (
                " (risk accepted)" if name in self._accepted and not is_active(status) else ""
            )
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
        self._uids.release()

    def _fork_session(self) -> "Channels":
        channels = Channels()
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
                os.chown(scratch, self._uids.uid(slot), self._uids.uid(slot))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return scratch

    def _release(self, slot: int) -> None:
        with self._lock:
            self._sessions.pop(slot, None)


class _Zygote:
    """The fork server: a clean interpreter that has imported torch and the harness, nothing else."""

    def __init__(self, launched: Launched):
        self._process, self._control = launched.process, launched.control
        try:
            _, hello = FrameSocket(self._control).receive(
                {wire.TAG_ZYGOTE}, launched.started + ZYGOTE_START_TIMEOUT_S
            )
        except (ChannelTimeout, ChannelClosed, wire.WireError) as error:
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


def _copy_modules(source: Path, scratch: Path) -> None:
    """Copy the top-level ``*.py`` regular files a learner may submit, never following a link."""
    for name, data in read_modules(source).items():
        (scratch / name).write_bytes(data)
        (scratch / name).chmod(0o644)  # readable by the sandbox uid whatever the grader's umask


def _from_environment(variable: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in os.environ.get(variable, "").split(",") if name.strip())


def _pointers_to_the_repository(libraries: list[Path]) -> set[Path]:
    """An editable install's finder and metadata in the library folders: they name the repository's folder."""
    return {
        library / name
        for library in libraries
        for name in os.listdir(library)
        if name.startswith(EDITABLE_INSTALL_PREFIXES)
    }


def _hidden(libraries: list[Path], pointers: set[Path], submission_dir: Path, extra) -> list[Path]:
    """The paths the sandbox must not read that lie inside a folder it may read (say, the grader when it
    is installed in site-packages, or an editable install's pointer back to the repository)."""
    folders = [REPO_ROOT / name for name in INSTRUCTOR_FOLDERS] + [
        HARNESS_DIR,
        submission_dir,
        *map(Path, extra),
    ]
    forbidden = {Path(os.path.realpath(folder)) for folder in folders} | pointers
    return sorted(path for path in forbidden if any(path.is_relative_to(library) for library in libraries))
