"""The sandbox side of the grader: a zygote that forks one confined process per session.

The zygote is started once per grading run (see ``runner._Zygote``), imports PyTorch,
NumPy and this harness only, and then waits on its control socket. Each message there brings
three file descriptors: the session's channel, a socket for its supervisor and the write end of
its output pipe. For each it forks:

    session child   setsid, parent-death signal, read SETUP, unshare PID+net+mount namespaces, fork
    ├─ supervisor   reports the init's pid, waits for it, reports its wait status, exits
    └─ init (PID 1) confines itself, sends READY, loads the submission, serves CALLs until EOF

When the init dies the kernel kills every process left in its PID namespace, so killing it is
enough to end a session, whatever the learner's code forked.
"""

import importlib
import importlib.abc
import importlib.util
import io
import os
import socket
import sys
import traceback
import types
from pathlib import Path

import numpy  # noqa: F401 - imported once in the zygote, not by every softmax session
import torch

from . import confine, private_root, syscall_filter, tasks, wire
from .wire import CALL_ID

SUBMISSION_PACKAGE = "submission"
STANDIN_PACKAGE = "_standin"
MESSAGE_CHARS = 2000
SETUP_TIMEOUT_S = 30
EXIT_SETUP_FAILED = 70
# PyTorch's cpuinfo reads this on the first tensor operation (/proc/cpuinfo is in the session's own /proc).
SYSTEM_READ_ONLY = [Path("/sys/devices/system/cpu")]
NAMESPACES = {"pid namespace", "network namespace", "mount namespace", "ipc namespace", "user namespace"}
TURNED_OFF = "turned off for this run, standing for a machine without it"


# --- zygote -------------------------------------------------------------------------------------


def serve_zygote(control_fd: int) -> None:
    """Fork a session for every control message; return when the grader closes the socket."""
    tasks.warm_up()
    syscall_filter.preload()  # its library file is outside every session's root
    _forget_harness_location()
    control = socket.socket(fileno=control_fd)
    control.settimeout(1.0)  # wake up now and then to reap finished sessions
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    control.sendall(wire.pack_frame(wire.TAG_ZYGOTE, {"pid": os.getpid(), "threads": threads}))
    while True:
        _reap_finished_children()
        try:
            data, fds, _, _ = socket.recv_fds(control, 1, 3)
        except TimeoutError:
            continue
        if not data:
            return
        if len(fds) == 3 and os.fork() == 0:
            control.close()
            run_session(*fds)
        for fd in fds:
            os.close(fd)


def _forget_harness_location() -> None:
    """Drop what points outside the libraries: the harness's folder, an editable install's finder.

    The harness is loaded; nothing else may be imported from its folder. An editable install's
    finder (from a ``.pth`` file) maps package names to the repository's folders.
    """
    package = sys.modules[__package__]
    for folder in package.__path__:
        sys.path_importer_cache.pop(folder, None)
    package.__path__ = []
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    for name in [name for name in sys.modules if name.startswith("__editable__")]:
        del sys.modules[name]
    libraries = [str(folder) for folder in confine.library_folders()]
    sys.path[:] = [entry for entry in sys.path if any(entry.startswith(folder) for folder in libraries)]
    sys.path_importer_cache.clear()
    sys.argv[:] = ["sandbox"]


def _reap_finished_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


# --- session ------------------------------------------------------------------------------------


def run_session(channel_fd: int, status_fd: int, output_fd: int) -> None:
    """In a fresh fork of the zygote: build the session's namespaces and run its init. Never returns."""
    try:
        os.setsid()
        protections = {"parent death signal": confine.set_parent_death_signal()}
        channel = socket.socket(fileno=channel_fd)
        config = _receive_setup(channel)
        without = set(config.get("without", ()))
        if without & NAMESPACES:  # a machine (a container, say) that grants none
            protections.update({name: confine.Protection(False, TURNED_OFF) for name in NAMESPACES - {"user namespace"}})
        else:
            protections.update(confine.isolate_namespaces())
        init_pid = os.fork()
        if init_pid:
            channel.close()
            os.close(output_fd)
            _supervise(init_pid, socket.socket(fileno=status_fd))
        os.close(status_fd)
        _run_init(channel, output_fd, config, protections)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(EXIT_SETUP_FAILED)


def _receive_setup(channel: socket.socket) -> dict:
    channel.settimeout(SETUP_TIMEOUT_S)
    tag, config = _receive(channel)
    channel.settimeout(None)
    if tag != wire.TAG_SETUP or type(config) is not dict:
        raise RuntimeError(f"expected a SETUP frame, got {tag!r}")
    return config


def _supervise(init_pid: int, status: socket.socket) -> None:
    """Tell the grader the init's pid (its handle for killing the session), then how it ended."""
    status.sendall(wire.pack_frame(wire.TAG_INIT, {"pid": init_pid}))
    _, wait_status = os.waitpid(init_pid, 0)
    try:
        status.sendall(wire.pack_frame(wire.TAG_EXIT, {"wait_status": wait_status}))
    except OSError:
        pass  # the grader closed the session first and no longer asks how it ended
    os._exit(0)


def _run_init(channel: socket.socket, output_fd: int, config: dict, protections: dict) -> None:
    protections["parent death signal"] = confine.set_parent_death_signal()
    _redirect_output(output_fd)
    confine.close_fds_except({0, 1, 2, channel.fileno()})
    scratch = Path(config["scratch"])
    gpu = bool(config["limits"].get("gpu"))
    _reset_environment(scratch, keep=confine.GPU_ENVIRONMENT if gpu else ())
    try:
        standins = _load_standins(config["standins"])
    except BaseException:
        channel.sendall(wire.pack_frame(wire.TAG_BROKEN, {"traceback": traceback.format_exc()}))
        raise
    torch.set_num_threads(1)
    protections.update(_confine(scratch, config, protections))
    report = {name: [protection.active, protection.detail] for name, protection in protections.items()}
    channel.sendall(wire.pack_frame(wire.TAG_READY, report))
    # The learner's code first runs at the first call: by then the grader has read the report above and
    # accepted this session's protections (it closes a session that lacks one, unrun).
    _serve(channel, lambda: _import_submission(scratch, standins), scratch)


def _unless_without(config: dict, name: str, protect) -> confine.Protection:
    """``protect()``, unless the grader turned ``name`` off to stand for a machine without it (tests)."""
    return confine.Protection(False, TURNED_OFF) if name in config.get("without", ()) else protect()


def _confine(scratch: Path, config: dict, namespaces: dict) -> dict:
    """Confine this process: its own root, Landlock, rlimits, keyring, identity, then the syscall filter.

    The order matters: building the root needs mounts, which the filter denies; dropping the uid (or,
    without root, the user namespace's capabilities) ends the power to mount; the filter comes last
    so that nothing of the set-up needs a call it denies.

    A GPU session (``limits["gpu"]``) may also use NVIDIA's device and driver: read and write (with
    ioctl) on /dev/nvidia*, reading the driver's libraries and the system files it reads at start-up,
    and a memory limit on private writable memory instead of address space.
    """
    limits = config["limits"]
    gpu = bool(limits.get("gpu"))
    mapped_bytes = confine.data_bytes() if gpu else confine.virtual_memory_bytes()
    read_only = [Path(p) for p in config["read_only"]] + SYSTEM_READ_ONLY
    hidden = [Path(p) for p in config["hidden"]]
    devices = []
    if gpu:
        extra = os.environ.get("LD_LIBRARY_PATH", "")
        read_only += confine.driver_libraries(extra=extra) + confine.GPU_SYSTEM_READ_ONLY
        devices = confine.nvidia_device_files()
    root = confine.Protection(False, "needs PID and mount namespaces of its own")
    if "private root" in config.get("without", ()):
        root = confine.Protection(False, TURNED_OFF)
    elif all(namespaces.get(name, root).active for name in ("pid namespace", "mount namespace")):
        owner = (config["uid"], config["gid"]) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
        quota = private_root.Quota(limits["scratch_mb"], limits["scratch_files"])
        root = private_root.enter(
            read_only=read_only, hidden=hidden, read_write_devices=devices, scratch=scratch, quota=quota, owner=owner
        )
    os.chdir(scratch)
    read_write = [scratch, *(Path("/dev") / name for name in private_root.DEVICES), *devices]
    # Under its own root the hidden paths are covered already; without it, Landlock must leave them out itself.
    granted = read_only if root.active else confine.grant_excluding(read_only, hidden)
    landlock = _unless_without(config, "landlock", lambda: confine.restrict_filesystem(granted, read_write))
    rlimits = confine.limit_resources(
        mapped_bytes=mapped_bytes,
        memory_mb=limits["memory_mb"],
        file_size_mb=limits["file_size_mb"],
        max_processes=limits["max_processes"],
        cpu_s=limits["cpu_s"],
        memory_limit="RLIMIT_DATA" if gpu else "RLIMIT_AS",
    )
    keyring = confine.leave_session_keyring()
    closed = [] if root.active else confine.closed_to_others([*read_only, scratch])
    if os.geteuid() == 0 and closed:  # a dropped uid could not even import the standard library
        identity = confine.Protection(False, f"kept root: {', '.join(map(str, closed))} is closed to other users")
    elif os.geteuid() == 0:
        identity = confine.drop_privileges(config["uid"], config["gid"])
    else:
        identity = confine.drop_capabilities()
    syscalls = _unless_without(config, "syscall filter", syscall_filter.install)
    # Changing uid clears the parent-death signal, so it is set once more.
    return {
        "private root": root,
        "landlock": landlock,
        "rlimits": rlimits,
        "session keyring": keyring,
        "identity": identity,
        "syscall filter": syscalls,
        "parent death signal": confine.set_parent_death_signal(),
    }


def _redirect_output(output_fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    for fd in {null, output_fd}:
        os.close(fd)
    sys.stdout = sys.__stdout__ = _text_stream(1)
    sys.stderr = sys.__stderr__ = _text_stream(2)


def _text_stream(fd: int) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)


def _reset_environment(scratch: Path, keep: tuple[str, ...] = ()) -> None:
    kept = {name: os.environ[name] for name in keep if name in os.environ}
    os.environ.clear()
    os.environ.update(kept)
    os.environ.update(
        {
            "PATH": "/usr/bin:/bin",
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "LANG": "C.UTF-8",
            "USER": "learner",
            "LOGNAME": "learner",
            "OMP_NUM_THREADS": "1",
        }
    )
    sys.dont_write_bytecode = True


# --- stand-ins and the submission package -------------------------------------------------------


class _StandinImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``_standin.<name>`` from source held in memory, so stand-ins import each other."""

    def __init__(self, sources: dict[str, str]):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != STANDIN_PACKAGE or name not in self.sources:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=f"<stand-in {name}.py>")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__.rpartition(".")[2]
        exec(compile(self.sources[name], f"<stand-in {name}.py>", "exec", dont_inherit=True), module.__dict__)


def _load_standins(standins: dict) -> dict[str, tuple[types.ModuleType, list[str]]]:
    """Import every stand-in, in the order given, as ``_standin.<name>``, and check it defines its names."""
    package = types.ModuleType(STANDIN_PACKAGE)
    package.__path__ = []
    sys.modules[STANDIN_PACKAGE] = package
    sys.meta_path.insert(0, _StandinImporter({name: spec["source"] for name, spec in standins.items()}))
    loaded = {}
    for name, spec in standins.items():
        module = importlib.import_module(f"{STANDIN_PACKAGE}.{name}")
        missing = [public for public in spec["names"] if not hasattr(module, public)]
        if missing:
            raise AttributeError(f"stand-in {name} defines no {', '.join(missing)}")
        loaded[name] = (module, list(spec["names"]))
    return loaded


def _import_submission(scratch: Path, standins: dict) -> tasks.Package:
    """Make ``submission`` a package over the scratch copy, then put the stand-ins in place.

    In module order, the learner's module is imported and its stand-in names overwritten, so a
    later module's ``from .masking import masked_attention`` gets the stand-in. A module that is
    missing or fails to import is replaced by its stand-in whole.
    """
    package = types.ModuleType(SUBMISSION_PACKAGE)
    package.__path__ = [str(scratch)]
    package.__package__ = SUBMISSION_PACKAGE
    sys.modules[SUBMISSION_PACKAGE] = package
    for name, (standin, names) in standins.items():
        full_name = f"{SUBMISSION_PACKAGE}.{name}"
        try:
            module = importlib.import_module(full_name)
        except BaseException:
            sys.modules[full_name] = standin
            setattr(package, name, standin)
            continue
        for public in names:
            setattr(module, public, getattr(standin, public))
    return tasks.Package(SUBMISSION_PACKAGE)


# --- serving calls ------------------------------------------------------------------------------


def _serve(channel: socket.socket, load, scratch: Path) -> None:
    """Answer calls until the grader closes the channel; ``load()`` imports the submission, at the first call."""
    package = None
    while True:
        try:
            tag, request = _receive(channel)
        except (EOFError, OSError, wire.WireError):
            return
        if tag == wire.TAG_CALL:
            package = package or load()
            reply = _run(request, package, scratch)
        else:
            reply = _protocol(f"unexpected {tag!r}")
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass
        channel.sendall(reply)


def _run(request, package: tasks.Package, scratch: Path) -> bytes:
    """Run one task and return the reply frame: its value, or what went wrong, tagged with the request's id."""
    if type(request) is not dict or request.get("task") not in tasks.TASKS or type(request.get("payload")) is not dict:
        return _protocol(f"no such task or no payload: {str(request)[:80]}")
    call_id = request.get(CALL_ID)
    try:
        value = tasks.TASKS[request["task"]](package, request["payload"])
        # Tasks return dicts; the id rides along at the top so paths in encoding errors stay the task's own.
        return wire.pack_frame(
            wire.TAG_VALUE, {**value, CALL_ID: call_id} if type(value) is dict else {"value": value, CALL_ID: call_id}
        )
    except tasks.MissingPart as error:
        return wire.pack_frame(wire.TAG_FAIL, {CALL_ID: call_id, "kind": "missing", "message": str(error)})
    except wire.WireError as error:
        return _protocol(str(error), call_id)
    except BaseException as error:
        return wire.pack_frame(wire.TAG_FAIL, {CALL_ID: call_id, **_error_record(error, scratch)})


def _protocol(message: str, call_id=None) -> bytes:
    return wire.pack_frame(wire.TAG_FAIL, {CALL_ID: call_id, "kind": "protocol", "message": message})


def _error_record(error: BaseException, scratch: Path) -> dict:
    file, line = _locate(error, scratch)
    return {
        "kind": "exception",
        "type": type(error).__name__[:100],
        "message": _text_of(error)[:MESSAGE_CHARS],
        "file": file,
        "line": line,
        "not_implemented": isinstance(error, NotImplementedError),
        "memory": _is_out_of_memory(error),
    }


def _locate(error: BaseException, scratch: Path) -> tuple[str | None, int | None]:
    """The innermost traceback line inside the learner's files, as (file, line); (None, None) if none is.

    An error outside them (the harness's backward over a result of the wrong shape, say) gets no
    location: naming the grader's own files would point the learner at code they cannot see.
    """
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename).parent == scratch:
        return Path(error.filename).name, error.lineno
    frames = [(frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(error.__traceback__)]
    for filename, line in reversed(frames):
        if Path(filename).parent == scratch:
            return Path(filename).name, line
    return None, None


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException:
        return f"<{type(error).__name__} whose message cannot be printed>"


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = _text_of(error) if isinstance(error, RuntimeError) else ""
    return any(sign in text for sign in ("can't allocate memory", "Cannot allocate memory", "not enough memory"))


def _receive(channel: socket.socket) -> tuple[bytes, object]:
    tag, length = wire.FRAME.unpack(_receive_exactly(channel, wire.FRAME.size))
    if length > wire.MAX_MESSAGE_BYTES:
        raise wire.WireError(f"frame of {length} bytes is too large")
    return tag, wire.decode(_receive_exactly(channel, length))


def _receive_exactly(channel: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = channel.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the grader closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
