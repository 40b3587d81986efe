"""Linux confinement primitives for the process that runs a learner's code.

Each function applies one protection to the calling process and returns a ``Protection`` saying
whether it took effect and why not; none raises because the platform refuses (a grader on macOS,
in a container without namespaces or on a kernel without Landlock still runs, less confined).
Everything here is irreversible for the process that calls it, so only the sandbox child calls it.
"""

import ctypes
import errno
import importlib.util
import os
import resource
import signal
import stat
import sys
import sysconfig
from pathlib import Path
from typing import NamedTuple

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000  # System V shared memory, queues and semaphores: none shared between sessions
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

PR_SET_PDEATHSIG = 1
CAPABILITY_VERSION_3 = 0x20080522
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219}
PR_SET_NO_NEW_PRIVS = 38

IS_LINUX = sys.platform.startswith("linux")


class Protection(NamedTuple):
    """Whether one protection is in force, with a detail (what exactly, or why not)."""

    active: bool
    detail: str = ""

    def __str__(self) -> str:
        if self.active:
            return f"active ({self.detail})" if self.detail else "active"
        return f"unavailable: {self.detail}"


def load_libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def failure_of(call: str) -> Protection:
    code = ctypes.get_errno()
    return Protection(False, f"{call} failed: {errno.errorcode.get(code, code)} ({os.strerror(code)})")


def not_on_linux() -> Protection:
    return Protection(False, f"needs Linux, this is {sys.platform}")


def unshare(flags: int) -> Protection:
    """Move the caller into new namespaces (``CLONE_NEW*`` flags); Python 3.11 has no os.unshare."""
    if not IS_LINUX:
        return not_on_linux()
    if load_libc().unshare(ctypes.c_int(flags)) != 0:
        return failure_of("unshare")
    return Protection(True)


def map_current_user(uid: int, gid: int) -> Protection:
    """In a fresh user namespace, map the caller's own ids so that files keep their owners."""
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as error:
        return Protection(False, f"cannot map ids in the user namespace: {error.strerror}")
    return Protection(True)


def isolate_namespaces() -> dict[str, Protection]:
    """Unshare PID, network, mount and IPC namespaces, adding a user namespace when not root.

    The PID namespace applies to the caller's *next* child, which becomes its init.
    """
    wanted = {
        "pid namespace": CLONE_NEWPID,
        "network namespace": CLONE_NEWNET,
        "mount namespace": CLONE_NEWNS,
        "ipc namespace": CLONE_NEWIPC,
    }
    uid, gid = os.geteuid(), os.getegid()
    # Without root, the kernel grants these namespaces only inside a user namespace of our own.
    extra = CLONE_NEWUSER if IS_LINUX and uid != 0 else 0
    together = unshare(sum(wanted.values()) | extra)
    if not together.active:
        return {name: unshare(flag) for name, flag in wanted.items()}
    result = {name: together for name in wanted}
    if extra:
        result["user namespace"] = map_current_user(uid, gid)
    return result


def set_parent_death_signal(sig: int = signal.SIGKILL) -> Protection:
    """Have the kernel send ``sig`` when the thread that forked us dies (reset by fork and setuid)."""
    if not IS_LINUX:
        return not_on_linux()
    if load_libc().prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0) != 0:
        return failure_of("prctl(PR_SET_PDEATHSIG)")
    return Protection(True, signal.Signals(sig).name)


def forbid_new_privileges() -> Protection:
    """Set no_new_privs: execve can never again grant privileges (setuid binaries, capabilities)."""
    if not IS_LINUX:
        return not_on_linux()
    if load_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return failure_of("prctl(PR_SET_NO_NEW_PRIVS)")
    return Protection(True)


def close_fds_except(keep: set[int]) -> None:
    """Close every file descriptor not in ``keep`` (close_range makes this cheap on Linux)."""
    low = 0
    for fd in sorted(keep) + [os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536]:
        if low < fd:  # os.closerange(0, 0) would close every descriptor (close_range(0, UINT_MAX))
            os.closerange(low, fd)
        low = fd + 1


def virtual_memory_bytes() -> int:
    """The caller's current address-space size (VmSize), 0 if unknown."""
    return _status_bytes("VmSize")


def data_bytes() -> int:
    """The caller's current private writable memory (VmData, what RLIMIT_DATA counts), 0 if unknown."""
    return _status_bytes("VmData")


def _status_bytes(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def limit_resources(
    *,
    mapped_bytes: int,
    memory_mb: int,
    file_size_mb: int,
    max_processes: int,
    cpu_s: int,
    open_files: int = 256,
    memory_limit: str = "RLIMIT_AS",
) -> Protection:
    """Lower soft and hard rlimits together so that the process cannot raise them again.

    The memory limit is ``mapped_bytes`` (read before /proc is closed off) plus ``memory_mb``: a child
    forked from the zygote already maps PyTorch, which must not count against the learner's budget.
    ``memory_limit`` is RLIMIT_AS (``mapped_bytes`` = ``virtual_memory_bytes()``) or, for a session
    that may use a GPU, RLIMIT_DATA (``mapped_bytes`` = ``data_bytes()``): CUDA reserves tens of GB
    of address space it never touches, which an address-space limit refuses, while RLIMIT_DATA counts
    only private writable memory, which every tensor on the CPU is.
    """
    if mapped_bytes <= 0:
        return Protection(False, "the current memory size is unknown, so no limit can be derived")
    limits = {
        memory_limit: mapped_bytes + memory_mb * 2**20,
        "RLIMIT_FSIZE": file_size_mb * 2**20,
        "RLIMIT_CORE": 0,
        "RLIMIT_NOFILE": open_files,
        "RLIMIT_NPROC": max_processes,
        "RLIMIT_CPU": cpu_s,
    }
    refused = []
    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (AttributeError, ValueError, OSError):
            refused.append(name)
    applied = [name.removeprefix("RLIMIT_") for name in limits if name not in refused]
    if refused:
        return Protection(False, f"could not set {', '.join(refused)}; set {', '.join(applied)}")
    return Protection(True, ", ".join(applied))


def drop_privileges(uid: int, gid: int) -> Protection:
    """Become ``uid``/``gid`` with no supplementary groups, if we are root; otherwise stay as we are."""
    if not hasattr(os, "setresuid"):
        return not_on_linux()
    if os.geteuid() != 0:
        return Protection(False, f"not running as root; the code runs as uid {os.geteuid()}")
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as error:
        return Protection(False, f"setuid failed: {error.strerror}")
    return Protection(True, "an unused uid and gid of its worker slot, no supplementary groups")


def drop_capabilities() -> Protection:
    """Without root: give up every capability the new user namespace granted (mounting, among others).

    The code then runs as the instructor's own uid with no power beyond it; the private root and the
    syscall filter keep it from the instructor's files and sockets (the supplementary groups stay, but
    nothing they open is reachable).
    """
    if not IS_LINUX:
        return not_on_linux()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header, nothing = Header(CAPABILITY_VERSION_3, 0), (Data * 2)()
    if load_libc().capset(ctypes.byref(header), nothing) != 0:
        return failure_of("capset")
    return Protection(True, f"not root: your uid {os.geteuid()} in a user namespace, no capabilities")


def leave_session_keyring() -> Protection:
    """Join a new, empty session keyring, so that keys the grader's session holds are not ours to use.

    The syscall filter denies every keyring call as well; this keeps the grader's keys out of reach
    where the filter is missing.
    """
    number = KEYCTL_SYSCALL.get(os.uname().machine) if IS_LINUX else None
    if number is None:
        return Protection(
            False, f"unknown keyctl system call on {os.uname().machine if IS_LINUX else sys.platform}"
        )
    if load_libc().syscall(ctypes.c_long(number), KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        return failure_of("keyctl(JOIN_SESSION_KEYRING)")
    return Protection(True, "a new, empty session keyring")


def library_folders() -> list[Path]:
    """The folders the learner's code may read: the standard library and where torch and numpy live."""
    folders = {Path(sysconfig.get_path("stdlib")).resolve()}
    for name in ("torch", "numpy"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            folders.add(Path(spec.origin).resolve().parents[1])
    return sorted(folders)


def closed_to_others(folders: list[Path]) -> list[Path]:
    """The first folder on each path that other users cannot cross (/root is often 0700), if any."""
    closed = set()
    for folder in folders:
        for ancestor in reversed(Path(os.path.abspath(folder)).parents):
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                closed.add(ancestor)
                break
    return sorted(closed)
