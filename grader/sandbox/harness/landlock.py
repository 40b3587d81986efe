"""Landlock: the session may read only the library folders and write only its scratch folder.

A Landlock ruleset is built from the kernel's ABI version (older kernels handle fewer rights), then
every folder is granted beneath itself; a forbidden path inside a granted folder is carved out by
granting the folder's other entries one by one (``grant_excluding``).
"""

import ctypes
import os
from pathlib import Path

from .confine import IS_LINUX, Protection, failure_of, forbid_new_privileges, load_libc, not_on_linux

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


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled."""
    if not IS_LINUX:
        return 0
    version = load_libc().syscall(
        SYS_LANDLOCK_CREATE_RULESET,
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
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
            libc.syscall(
                SYS_LANDLOCK_ADD_RULE,
                ruleset_fd,
                LANDLOCK_RULE_PATH_BENEATH,
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            )
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
        return Protection(
            False, "the kernel has no Landlock or it is disabled" if IS_LINUX else not_on_linux().detail
        )
    libc = load_libc()
    attr, size, covers = _ruleset(abi)
    ruleset_fd = libc.syscall(
        SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if ruleset_fd < 0:
        return failure_of("landlock_create_ruleset")
    try:
        writable = attr.handled_access_fs & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK)
        rules = [_add_path_rule(libc, ruleset_fd, Path(p), FS_READ_ONLY) for p in read_only]
        rules += [_add_path_rule(libc, ruleset_fd, Path(p), writable) for p in read_write]
        if not forbid_new_privileges().active:
            return failure_of("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, ctypes.c_uint32(0)) != 0:
            return failure_of("landlock_restrict_self")
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
