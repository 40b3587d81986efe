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

# Landlock's syscall numbers are the same on every architecture (include/uapi/asm-generic/unistd.h).
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_MAKE_CHAR, FS_MAKE_BLOCK = 1 << 6, 1 << 11
FS_ABI_1 = (1 << 13) - 1  # EXECUTE ... MAKE_SYM
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
FS_READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

IS_LINUX = sys.platform.startswith("linux")


class Protection(NamedTuple):
    """Whether one protection is in force, with a detail (what exactly, or why not)."""

    active: bool
    detail: str = ""

    def __str__(self) -> str:
        if self.active:
            return f"active ({self.detail})" if self.detail else "active"
        return f"unavailable: {self.detail}"


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _failure(call: str) -> Protection:
    code = ctypes.get_errno()
    return Protection(False, f"{call} failed: {errno.errorcode.get(code, code)} ({os.strerror(code)})")


def _not_linux() -> Protection:
    return Protection(False, f"needs Linux, this is {sys.platform}")


def unshare(flags: int) -> Protection:
    """Move the caller into new namespaces (``CLONE_NEW*`` flags); Python 3.11 has no os.unshare."""
    if not IS_LINUX:
        return _not_linux()
    if _libc().unshare(ctypes.c_int(flags)) != 0:
        return _failure("unshare")
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
        return _not_linux()
    if _libc().prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0) != 0:
        return _failure("prctl(PR_SET_PDEATHSIG)")
    return Protection(True, signal.Signals(sig).name)


def forbid_new_privileges() -> Protection:
    """Set no_new_privs: execve can never again grant privileges (setuid binaries, capabilities)."""
    if not IS_LINUX:
        return _not_linux()
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return _failure("prctl(PR_SET_NO_NEW_PRIVS)")
    return Protection(True)


def close_fds_except(keep: set[int]) -> None:
    """Close every file descriptor not in ``keep`` (close_range makes this cheap on Linux)."""
    low = 0
    for fd in sorted(keep) + [os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536]:
        if low < fd:  # os.closerange(0, 0) would close every descriptor (close_range(0, UINT_MAX))
            os.closerange(low, fd)
        low = fd + 1


# --- Landlock -----------------------------------------------------------------------------------


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled."""
    if not IS_LINUX:
        return 0
    version = _libc().syscall(
        SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION)
    )
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    rights = FS_ABI_1
    rights |= FS_REFER if abi >= 2 else 0
    rights |= FS_TRUNCATE if abi >= 3 else 0
    rights |= FS_IOCTL_DEV if abi >= 5 else 0
    return rights


def _ruleset(abi: int) -> tuple[_RulesetAttr, int, list[str]]:
    attr = _RulesetAttr(handled_access_fs=_handled_fs(abi))
    size, covers = 8, ["filesystem"]
    if abi >= 4:  # no TCP rule is added, so every TCP bind and connect is refused
        attr.handled_access_net, size = NET_BIND_TCP | NET_CONNECT_TCP, 16
        covers.append("TCP")
    if abi >= 6:
        attr.scoped, size = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL, 24
        covers.append("abstract unix sockets and signals scoped")
    return attr, size, covers


def _add_path_rule(libc, ruleset_fd: int, path: Path, rights: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False  # a path that does not exist needs no rule
    try:
        if not os.path.isdir(path):
            rights &= FS_FILE_RIGHTS  # directory rights on a file make the kernel refuse the rule
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        return (
            libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0))
            == 0
        )
    finally:
        os.close(fd)


def restrict_filesystem(read_only: list[Path], read_write: list[Path]) -> Protection:
    """Allow only reading (and executing) below ``read_only`` and anything below ``read_write``.

    Everything else on the filesystem becomes invisible to this process and its future children;
    with ABI >= 4 all TCP is refused, with ABI >= 6 abstract unix sockets and signals to processes
    outside the sandbox are too.
    """
    abi = landlock_abi()
    if abi == 0:
        return Protection(False, "the kernel has no Landlock or it is disabled" if IS_LINUX else _not_linux().detail)
    libc = _libc()
    attr, size, covers = _ruleset(abi)
    ruleset_fd = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset_fd < 0:
        return _failure("landlock_create_ruleset")
    try:
        writable = attr.handled_access_fs & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK)
        rules = [_add_path_rule(libc, ruleset_fd, Path(p), FS_READ_ONLY) for p in read_only]
        rules += [_add_path_rule(libc, ruleset_fd, Path(p), writable) for p in read_write]
        if not forbid_new_privileges().active:
            return _failure("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, ctypes.c_uint32(0)) != 0:
            return _failure("landlock_restrict_self")
    finally:
        os.close(ruleset_fd)
    return Protection(True, f"ABI {abi}: {', '.join(covers)}; {sum(rules)} path rules")


def grant_excluding(folders: list[Path], forbidden: list[Path]) -> list[Path]:
    """The paths to grant so that each folder is reachable except what lies in ``forbidden``.

    A folder holding a forbidden path is replaced by its entries, recursively, skipping the
    forbidden ones; symlinks are granted as the link's own path, never followed.
    """
    banned = [Path(os.path.abspath(p)) for p in forbidden]
    granted: list[Path] = []
    for folder in folders:
        granted.extend(_grant_one(Path(os.path.abspath(folder)), banned))
    return granted


def _grant_one(path: Path, banned: list[Path]) -> list[Path]:
    if any(path == b or path.is_relative_to(b) for b in banned):
        return []
    if not any(b.is_relative_to(path) for b in banned):
        return [path]
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return []
    granted = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            granted.extend(_grant_one(Path(entry.path), banned))
        elif not any(Path(entry.path) == b for b in banned):
            granted.append(Path(entry.path))
    return granted


# --- a GPU for the sandbox -----------------------------------------------------------------------

# Where NVIDIA's user-space driver (libcuda.so.1, loaded when CUDA starts) usually lives.
DRIVER_LIBRARY_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/local/nvidia/lib64",
    "/usr/local/cuda/compat",
    "/usr/lib/wsl/lib",
)
DRIVER_LIBRARY_PREFIXES = ("libcuda.so", "libcudadebugger.so", "libnvidia-")
# The fork server gets these from the grader's environment and a GPU session keeps them: which GPUs
# to use, how CUDA loads its kernels, and where the dynamic loader finds the driver.
GPU_ENVIRONMENT = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_MODULE_LOADING", "LD_LIBRARY_PATH")
# What the CUDA driver reads when it starts: its parameters, the PCI topology, NUMA nodes, the loader cache.
GPU_SYSTEM_READ_ONLY = [
    Path("/proc/driver/nvidia"),
    Path("/sys/module/nvidia"),
    Path("/sys/bus/pci"),
    Path("/sys/devices"),
    Path("/etc/ld.so.cache"),
]


def nvidia_device_files(dev: Path = Path("/dev")) -> list[Path]:
    """NVIDIA's device files (/dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm, /dev/nvidia-caps …); [] without a GPU."""
    try:
        return sorted(Path(entry.path) for entry in os.scandir(dev) if entry.name.startswith("nvidia"))
    except OSError:
        return []


def driver_libraries(folders=DRIVER_LIBRARY_FOLDERS, extra: str = "") -> list[Path]:
    """The NVIDIA driver's own libraries in ``folders`` and the ``extra`` search path (LD_LIBRARY_PATH).

    Only these files are granted, not the folders: the rest of /usr/lib stays as hidden as before.
    """
    found = []
    for folder in dict.fromkeys([*folders, *filter(None, extra.split(":"))]):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        found += [Path(e.path) for e in entries if e.name.startswith(DRIVER_LIBRARY_PREFIXES)]
    return sorted(found)


# --- resources and identity ---------------------------------------------------------------------


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
        return _not_linux()
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
        return _not_linux()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, nothing = Header(CAPABILITY_VERSION_3, 0), (Data * 2)()
    if _libc().capset(ctypes.byref(header), nothing) != 0:
        return _failure("capset")
    return Protection(True, f"not root: your uid {os.geteuid()} in a user namespace, no capabilities")


def leave_session_keyring() -> Protection:
    """Join a new, empty session keyring, so that keys the grader's session holds are not ours to use.

    The syscall filter denies every keyring call as well; this keeps the grader's keys out of reach
    where the filter is missing.
    """
    number = KEYCTL_SYSCALL.get(os.uname().machine) if IS_LINUX else None
    if number is None:
        return Protection(False, f"unknown keyctl system call on {os.uname().machine if IS_LINUX else sys.platform}")
    if _libc().syscall(ctypes.c_long(number), KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        return _failure("keyctl(JOIN_SESSION_KEYRING)")
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
