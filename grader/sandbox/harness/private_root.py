"""A root filesystem of the sandbox's own, holding only what the learner's code needs, at the same paths.

Landlock decides what a process may *open*; it does not stop ``stat()``, ``inotify`` or ``connect()`` on
a unix socket's path, so a confined process could still list a classmate's entry, measure the
reference's size or talk to the instructor's ssh-agent or a group-writable ``docker.sock``. In its
private mount namespace the sandbox's init therefore builds a fresh, read-only tmpfs, binds into it,
read-only and at their own paths, the folders Python, NumPy and PyTorch load from and the few device
and system files PyTorch reads, mounts a fresh ``/proc`` for its PID namespace and a size- and
inode-limited tmpfs at the scratch path holding a copy of the submission's modules, and makes that
the root with ``pivot_root``; the old root is detached. Everything else (the class folder, the
output folder, the repository, ``/tmp``, ``/run``, ``/home``, every socket file) has no path any more.

Run by root or, without root, inside the user namespace the sandbox made (its owner may mount there).
"""

import ctypes
import errno
import os
from pathlib import Path

from .confine import IS_LINUX, Protection, load_libc

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = (
    1024,
    2048,
    4096,
    16384,
    1 << 18,
    1 << 21,
)
MNT_DETACH = 2
# statvfs flag -> mount flag: a bind made in a user namespace must keep the flags its source is locked with.
LOCKED_FLAGS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME, 2048: MS_NODIRATIME}
ST_RELATIME = 4096
DEVICES = ("null", "zero", "urandom", "random")
OLD_ROOT = ".old-root"


class Quota:
    """The scratch folder's bounds: bytes and files (inodes) in all, enforced by its tmpfs."""

    def __init__(self, megabytes: int, files: int):
        self.megabytes = megabytes
        self.files = files


def enter(
    *,
    read_only: list[Path],
    hidden: list[Path],
    read_write_devices: list[Path],
    scratch: Path,
    quota: Quota,
    owner: tuple[int, int],
) -> Protection:
    """Make a new root holding ``read_only`` (minus ``hidden``), the devices and a bounded ``scratch``.

    ``scratch`` is the host folder holding the submission's modules; afterwards the same path is a
    tmpfs of at most ``quota`` owned by ``owner`` (uid, gid), holding copies of them. The current
    directory becomes ``scratch``. Irreversible; inactive (with the reason) when the kernel refuses.
    """
    if not IS_LINUX:
        return Protection(False, "needs Linux")
    try:
        _build_and_pivot(read_only, hidden, read_write_devices, scratch, quota, owner)
    except OSError as error:
        load_libc().umount2(
            os.fsencode(str(scratch)), MNT_DETACH
        )  # uncover the submission if the root never became /
        return Protection(
            False, f"{error.filename or 'building it'}: {os.strerror(error.errno or errno.EIO)}"
        )
    return Protection(
        True,
        f"{len(read_only)} read-only folders, /proc, /dev/{{{','.join(DEVICES)}}}; "
        f"scratch tmpfs {quota.megabytes} MB, {quota.files} files",
    )


def _build_and_pivot(read_only, hidden, read_write_devices, scratch: Path, quota: Quota, owner) -> None:
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    submission = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        root = scratch  # an empty folder we own serves as the new root's mount point
        _mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=4096")
        for path in read_only:
            _bind(Path(path), root, writable=False)
        for path in hidden:
            _cover(Path(path), root)
        for name in DEVICES:
            _bind(Path("/dev") / name, root, writable=True)
        for device in read_write_devices:
            _bind(Path(device), root, writable=True)
        proc = _inside(root, Path("/proc"))
        proc.mkdir(parents=True, exist_ok=True)
        _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _make_scratch(_inside(root, scratch), submission, quota, owner)
    finally:
        os.close(submission)
    _pivot(root)
    os.chdir(scratch)


def _inside(root: Path, path: Path) -> Path:
    return root / Path(path).relative_to("/")


def _bind(source: Path, root: Path, *, writable: bool) -> None:
    """Bind ``source`` at its own path under ``root``; read-only unless ``writable``. A missing source is
    skipped."""
    try:
        is_dir = source.is_dir()
        if not is_dir and not source.exists():
            return
    except OSError:
        return
    target = _inside(root, source)
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
    _mount(source, target, None, MS_BIND)
    flags = _locked_flags(source) | MS_NOSUID
    if not writable:
        flags |= MS_RDONLY | MS_NODEV
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)


def _locked_flags(path: Path) -> int:
    """The flags a remount must keep: in a user namespace, dropping one the source has is refused."""
    found = os.statvfs(path).f_flag
    flags = sum(flag for bit, flag in LOCKED_FLAGS.items() if found & bit)
    return flags | (MS_RELATIME if found & ST_RELATIME else 0)


def _cover(path: Path, root: Path) -> None:
    """Hide ``path`` (inside a bound folder) under an empty read-only tmpfs, or an empty file."""
    target = _inside(root, path)
    if target.is_dir():
        _mount("hidden", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    elif target.exists():
        empty = root / ".empty"
        empty.touch(exist_ok=True)
        _mount(empty, target, None, MS_BIND)
        _mount(
            None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | _locked_flags(empty)
        )


def _make_scratch(target: Path, submission: int, quota: Quota, owner: tuple[int, int]) -> None:
    """A tmpfs of bounded size and file count at ``target``, holding copies of the submission's files."""
    target.mkdir(parents=True, exist_ok=True)
    uid, gid = owner
    options = f"size={quota.megabytes}m,nr_inodes={quota.files},mode=0700,uid={uid},gid={gid}"
    _mount("scratch", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
    for name in os.listdir(submission):
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=submission)
        with os.fdopen(source, "rb") as file:
            (target / name).write_bytes(file.read())
        (target / name).chmod(0o644)


def _pivot(root: Path) -> None:
    old = root / OLD_ROOT
    old.mkdir()
    if load_libc().pivot_root(bytes(root), bytes(old)) != 0:
        _raise("pivot_root", root)
    os.chdir("/")
    if load_libc().umount2(f"/{OLD_ROOT}".encode(), MNT_DETACH) != 0:
        _raise("detaching the old root", Path("/"))
    os.rmdir(f"/{OLD_ROOT}")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _mount(source, target, fstype, flags: int, data: str | None = None) -> None:
    encoded = [None if part is None else os.fsencode(str(part)) for part in (source, target, fstype, data)]
    if load_libc().mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3]) != 0:
        _raise("mount", Path(str(target)))


def _raise(what: str, path: Path) -> None:
    code = ctypes.get_errno()
    raise OSError(code, os.strerror(code), f"{what} {path}")
