"""The sandbox side of the grader: a zygote that forks one confined process per session.

The zygote is started once per grading run (see ``grader.sandbox.runner._Zygote``), imports PyTorch,
NumPy and this harness only, and then waits on its control socket. Each message there brings
three file descriptors: the session's channel, a socket for its supervisor and the write end of
its output pipe. For each it forks:

    session child   setsid, parent-death signal, read SETUP, unshare PID+net+mount namespaces, fork
    ├─ supervisor   reports the init's pid, waits for it, reports its wait status, exits
    └─ init (PID 1) confines itself, sends READY, loads the submission, serves CALLs until EOF

When the init dies the kernel kills every process left in its PID namespace, so killing it is
enough to end a session, whatever the learner's code forked.
"""

import io
import os
import socket
import sys
import traceback
from pathlib import Path

import numpy  # noqa: F401 - imported once in the zygote, not by every softmax session
import numpy.random  # noqa: F401 - nor by every session whose code draws random numbers
import torch

from . import (
    confine,
    dynamo_on_demand,
    huge_pages,
    operator_tripwires,
    private_root,
    syscall_filter,
    tasks,
    wire,
)
from . import gpu as gpu_access
from . import landlock as filesystem_rules
from .serving import receive, serve
from .submission_package import import_submission, load_standins

SETUP_TIMEOUT_S = 30
EXIT_SETUP_FAILED = 70
# PyTorch's cpuinfo reads this on the first tensor operation (/proc/cpuinfo is in the session's own /proc).
SYSTEM_READ_ONLY = [Path("/sys/devices/system/cpu")]
NAMESPACES = {"pid namespace", "network namespace", "mount namespace", "ipc namespace", "user namespace"}
TURNED_OFF = "turned off for this run, standing for a machine without it"


def serve_zygote(control_fd: int) -> None:
    """Fork a session for every control message; return when the grader closes the socket."""
    dynamo_on_demand.install()
    # Before the warm-up, so that it warms the recorder as sessions use it (sealed, no key to arm); the
    # warm-up runs none of the forbidden operators.
    operator_tripwires.seal()
    tasks.warm_up()
    syscall_filter.preload()  # its library file is outside every session's root
    _forget_harness_location()
    huge_pages.collapse()
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


def run_session(channel_fd: int, status_fd: int, output_fd: int) -> None:
    """In a fresh fork of the zygote: build the session's namespaces and run its init. Never returns."""
    try:
        os.setsid()
        protections = {"parent death signal": confine.set_parent_death_signal()}
        channel = socket.socket(fileno=channel_fd)
        config = _receive_setup(channel)
        without = set(config.get("without", ()))
        if without & NAMESPACES:  # a machine (a container, say) that grants none
            protections.update(
                {name: confine.Protection(False, TURNED_OFF) for name in NAMESPACES - {"user namespace"}}
            )
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
    tag, config = receive(channel)
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
    _reset_environment(scratch, keep=gpu_access.GPU_ENVIRONMENT if gpu else ())
    try:
        standins = load_standins(config["standins"])
    except BaseException:
        channel.sendall(wire.pack_frame(wire.TAG_BROKEN, {"traceback": traceback.format_exc()}))
        raise
    torch.set_num_threads(1)
    protections.update(_confine(scratch, config, protections))
    report = {name: [protection.active, protection.detail] for name, protection in protections.items()}
    channel.sendall(wire.pack_frame(wire.TAG_READY, report))
    # The learner's code first runs at the first call: by then the grader has read the report above and
    # accepted this session's protections (it closes a session that lacks one, unrun).
    serve(channel, lambda: import_submission(scratch, standins), scratch)


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
        read_only += gpu_access.driver_libraries(extra=extra) + gpu_access.GPU_SYSTEM_READ_ONLY
        devices = gpu_access.nvidia_device_files()
    root = confine.Protection(False, "needs PID and mount namespaces of its own")
    if "private root" in config.get("without", ()):
        root = confine.Protection(False, TURNED_OFF)
    elif all(namespaces.get(name, root).active for name in ("pid namespace", "mount namespace")):
        owner = (config["uid"], config["gid"]) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
        quota = private_root.Quota(limits["scratch_mb"], limits["scratch_files"])
        root = private_root.enter(
            read_only=read_only,
            hidden=hidden,
            read_write_devices=devices,
            scratch=scratch,
            quota=quota,
            owner=owner,
        )
    os.chdir(scratch)
    read_write = [scratch, *(Path("/dev") / name for name in private_root.DEVICES), *devices]
    # Under its own root the hidden paths are covered already; without it, Landlock must leave them out
    # itself.
    granted = read_only if root.active else filesystem_rules.grant_excluding(read_only, hidden)
    landlock = _unless_without(
        config, "landlock", lambda: filesystem_rules.restrict_filesystem(granted, read_write)
    )
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
        identity = confine.Protection(
            False, f"kept root: {', '.join(map(str, closed))} is closed to other users"
        )
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
