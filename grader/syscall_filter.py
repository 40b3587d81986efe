"""A seccomp filter that denies the system calls a numerical Python program never needs.

The sandbox already confines learner code with namespaces, Landlock, rlimits and a dropped uid; this
filter shrinks what is left of the kernel's interface. It is a deny-list, not an allow-list: PyTorch,
NumPy and the C libraries under them make hundreds of different calls, which vary between versions,
whereas what must never happen (other processes' memory, namespaces, mounts, new sockets, keyrings,
kernel administration) is short and stable. Everything not listed is allowed.

A denied call fails with EPERM (a Python ``PermissionError``) so a learner sees an ordinary error, not
a killed session; clone3 answers ENOSYS so that glibc falls back to clone, whose flags the filter can
check. A system call made through another architecture's entry (``int 0x80``, x32) kills the process,
since the list is written for the native numbers only.

libseccomp compiles the table into BPF; it is reached through ctypes (there are no Python bindings on
the machines that grade). Loading is irreversible and inherited by every child, so only the sandbox
child calls ``install``, as its last confinement step.
"""

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

from .confine import Protection

LIBRARY = "libseccomp.so.2"  # the soname has been stable since libseccomp 2.0
IS_LINUX = sys.platform.startswith("linux")

# libseccomp's ABI (include/seccomp.h.in): actions, filter attributes and comparison operators.
ACT_ALLOW = 0x7FFF0000
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_ERRNO = 0x00050000
ATTR_ACT_BADARCH, ATTR_CTL_NNP, ATTR_CTL_TSYNC, ATTR_CTL_OPTIMIZE, ATTR_API_SYSRAWRC = 2, 3, 4, 8, 9
OPTIMIZE_BINARY_TREE = 2
CMP_MASKED_EQ = 7

CLONE_NEW_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}  # CLONE_NEWTIME (0x80) is left out: in clone's flags those bits are the exit signal
# s390 swaps clone's first two arguments (stack, then flags); everywhere else flags come first.
CLONE_FLAGS_ARG = 1 if platform.machine().startswith("s390") else 0
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
LOW_32_BITS = 0xFFFFFFFF  # the kernel reads ioctl's command as an unsigned int: high bits must not hide it


class ArgTest(NamedTuple):
    """A condition on one argument of a call: ``(args[arg] & mask) == value``."""

    arg: int
    mask: int
    value: int


class Denial(NamedTuple):
    """System calls refused, why, and when: always, or when any of ``when``'s tests holds."""

    group: str
    syscalls: tuple[str, ...]
    why: str
    when: tuple[ArgTest, ...] = ()
    condition: str = ""  # ``when`` in words, for describe_policy
    error: int = errno.EPERM


def _clone_namespace_tests() -> tuple[ArgTest, ...]:
    return tuple(ArgTest(CLONE_FLAGS_ARG, flag, flag) for flag in CLONE_NEW_FLAGS.values())


def _ioctl_tests() -> tuple[ArgTest, ...]:
    return tuple(ArgTest(1, LOW_32_BITS, command) for command in (TIOCSTI, TIOCLINUX))


KEYRINGS = "kernel keyrings"
WATCHES = "filesystem watches"
OTHER_PROCESSES = "other processes' memory"
NAMESPACES = "namespaces and mounts"
SOCKETS = "new sockets"
SESSIONS = "session and process-group escapes"
TERMINAL = "terminal injection"
ADMINISTRATION = "kernel and machine administration"
ATTACK_SURFACE = "kernel attack surface"

POLICY: tuple[Denial, ...] = (
    Denial(
        KEYRINGS,
        ("add_key", "request_key", "keyctl"),
        "Keyrings belong to a uid, not to a namespace: a session could read or plant keys that "
        "other sessions and the grader see. The keyring code has a long record of kernel bugs; "
        "numerical code never uses it.",
    ),
    Denial(
        WATCHES,
        ("inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch"),
        "A watch lets code wait for files the grader or another session writes (a reference output "
        "appearing) instead of computing; no numerical code waits on file events.",
    ),
    Denial(
        WATCHES,
        ("fanotify_init", "fanotify_mark"),
        "Monitors, and may veto, file access on a whole mount: an administrator's tool that a "
        "sandbox keeping root would otherwise still have.",
    ),
    Denial(
        OTHER_PROCESSES,
        ("ptrace",),
        "Attach to another process to read and write its memory and registers (another session, or "
        "the grader when root is kept), or trace a child to rewrite its system calls after this "
        "filter has judged them.",
    ),
    Denial(
        OTHER_PROCESSES,
        ("process_vm_readv", "process_vm_writev", "process_madvise", "migrate_pages"),
        "Read, write or reshape another process's memory directly, without attaching to it.",
    ),
    Denial(
        OTHER_PROCESSES,
        ("kcmp", "pidfd_getfd"),
        "Compare or copy another process's file descriptors: pidfd_getfd would steal an open file or socket.",
    ),
    Denial(
        NAMESPACES,
        ("unshare", "setns"),
        "A new namespace (a user namespace above all) opens kernel paths that otherwise need root, "
        "the usual first step of a kernel exploit; setns joins another process's namespaces, "
        "outside the sandbox's.",
    ),
    Denial(
        NAMESPACES,
        ("clone",),
        "The same namespaces through clone's flags. A plain fork, a new thread or a posix_spawn has no "
        "CLONE_NEW* flag and stays allowed.",
        when=_clone_namespace_tests(),
        condition="its flags hold any of " + ", ".join(CLONE_NEW_FLAGS),
    ),
    Denial(
        NAMESPACES,
        ("clone3",),
        "clone3 passes its flags in memory, which seccomp cannot read. ENOSYS (not EPERM) makes "
        "glibc fall back to clone, whose flags are checked.",
        error=errno.ENOSYS,
    ),
    Denial(
        NAMESPACES,
        (
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "mount_setattr",
        ),
        "Changing the filesystem tree would undo the sandbox's private mounts and hidden folders; "
        "chroot and pivot_root are classic escapes for a process that keeps root.",
    ),
    Denial(
        SOCKETS,
        ("socket", "socketpair", "connect", "bind", "listen", "accept", "accept4"),
        "No network and no new local sockets: nothing to send answers out over, no reaching the "
        "grader's other sockets. Sending and receiving on descriptors the harness inherited (its "
        "channel) stay allowed.",
    ),
    Denial(
        SESSIONS,
        ("setsid", "setpgid"),
        "A process that leaves the sandbox's process group or session escapes the grader's renice "
        "of long calls, and its killpg where there is no PID namespace.",
    ),
    Denial(
        TERMINAL,
        ("ioctl",),
        "TIOCSTI pushes characters into a terminal's input, where the shell that owns it runs them "
        "as the grader's user; TIOCLINUX can do the same on a virtual console. Other ioctls stay "
        "allowed.",
        when=_ioctl_tests(),
        condition="its request is TIOCSTI or TIOCLINUX (low 32 bits compared)",
    ),
    Denial(
        ADMINISTRATION,
        ("kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module", "delete_module"),
        "Replace or extend the running kernel, or stop the machine.",
    ),
    Denial(
        ADMINISTRATION,
        ("swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "nfsservctl"),
        "Machine-wide storage, quota and accounting settings.",
    ),
    Denial(
        ADMINISTRATION,
        ("settimeofday", "clock_settime", "clock_adjtime", "adjtimex"),
        "The system clock, which the grader's timeouts and every log on the machine rely on.",
    ),
    Denial(
        ADMINISTRATION,
        ("sethostname", "setdomainname", "iopl", "ioperm"),
        "The machine's identity, and direct access to hardware I/O ports.",
    ),
    Denial(
        ADMINISTRATION,
        ("syslog", "lookup_dcookie", "vhangup"),
        "The kernel log (its addresses help defeat KASLR), profiler cookies, hanging up the terminal.",
    ),
    Denial(
        ADMINISTRATION,
        ("_sysctl", "create_module", "get_kernel_syms", "query_module"),
        "Obsolete administration calls, refused in case an old kernel still has them.",
    ),
    Denial(
        ATTACK_SURFACE,
        ("bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"),
        "Large kernel subsystems behind many recent privilege escalations (the eBPF verifier, perf "
        "events, userfaultfd as an exploit's timing aid, io_uring, whose queued I/O no system-call "
        "filter sees). PyTorch on the CPU uses none of them.",
    ),
    Denial(
        ATTACK_SURFACE,
        ("name_to_handle_at", "open_by_handle_at"),
        "Opening a file by handle skips path lookup: the 'shocker' container escape when root is kept.",
    ),
    Denial(
        ATTACK_SURFACE,
        ("uselib", "personality", "modify_ldt"),
        "uselib loads a.out libraries (long obsolete); personality switches ABI quirks such as "
        "READ_IMPLIES_EXEC or no address-space randomization; modify_ldt edits x86 segment tables, "
        "a past source of kernel bugs.",
    ),
)


class _ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp: for SCMP_CMP_MASKED_EQ, datum_a is the mask and datum_b the value."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@cache
def _load(name: str) -> ctypes.CDLL:
    """Open libseccomp once per process and its forks: after Landlock the file may no longer be readable."""
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    lib.seccomp_version.argtypes = []
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.restype = None
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.restype = ctypes.c_int
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def preload() -> Protection:
    """Open libseccomp now, while its file is still readable (before Landlock hides /usr/lib).

    ``install`` reuses the library opened here, in this process and in every process forked from it.
    """
    lib, problem = _open()
    if lib is None:
        return Protection(False, problem)
    return Protection(True, f"libseccomp {_version(lib)}")


def _open() -> tuple[ctypes.CDLL | None, str]:
    """libseccomp, or None and why not: not Linux, no such library, or one too old for this module."""
    if not IS_LINUX:
        return None, f"needs Linux, this is {sys.platform}"
    try:
        return _load(LIBRARY), ""
    except OSError as error:
        return None, f"cannot load {LIBRARY}: {error}"
    except AttributeError as error:  # before 2.3 (2016) there was no seccomp_version
        return None, f"{LIBRARY} is too old: {error}"


def syscall_number(name: str) -> int | None:
    """The native number of system call ``name``, or None when this architecture (or libseccomp) lacks it."""
    lib, _ = _open()
    if lib is None:
        return None
    number = lib.seccomp_syscall_resolve_name(name.encode())
    return number if number >= 0 else None  # negative: unknown, or a pseudo-number for another architecture


def denied_names() -> tuple[str, ...]:
    """Every system call name the policy mentions, in policy order."""
    return tuple(dict.fromkeys(name for denial in POLICY for name in denial.syscalls))


def install(extra_allowed: Iterable[str] = ()) -> Protection:
    """Load the filter into the calling process and, through TSYNC, all its threads. Irreversible.

    ``extra_allowed`` names calls of the policy to leave allowed (a GPU driver that needs one, say);
    naming a call the policy does not mention is a mistake and raises ValueError. Everything the
    platform may refuse (no Linux, no libseccomp, a kernel without seccomp) gives an inactive
    ``Protection`` instead, and the process stays as it was.
    """
    allowed = set(extra_allowed)
    unknown = allowed - set(denied_names())
    if unknown:
        raise ValueError(f"extra_allowed names calls the policy does not deny: {', '.join(sorted(unknown))}")
    lib, problem = _open()
    if lib is None:
        return Protection(False, problem)
    version = f"libseccomp {_version(lib)}"
    ctx = lib.seccomp_init(ACT_ALLOW)
    if not ctx:
        return Protection(False, f"{version}: seccomp_init failed")
    try:
        bad_arch, problem = _configure(lib, ctx)
        if problem:
            return Protection(False, f"{version}: {problem}")
        denied, skipped, problem = _add_rules(lib, ctx, allowed)
        if problem:
            return Protection(False, f"{version}: {problem}")
        code = lib.seccomp_load(ctx)
        if code < 0:
            return Protection(False, f"{version}: the kernel refused the filter: {_error_name(-code)}")
    finally:
        lib.seccomp_release(ctx)
    return Protection(True, _summary(version, denied, skipped, bad_arch))


def _configure(lib: ctypes.CDLL, ctx: int) -> tuple[str, str]:
    """Set the filter's attributes; returns (what a foreign architecture's call gets, problem or "").

    Without TSYNC, threads already running (OpenMP's, say) would stay unfiltered, so it is required.
    """
    bad_arch = "kills the process"
    if lib.seccomp_attr_set(ctx, ATTR_ACT_BADARCH, ACT_KILL_PROCESS) < 0:
        bad_arch = "kills the thread"  # kernels before 4.14 cannot kill a whole process
        if lib.seccomp_attr_set(ctx, ATTR_ACT_BADARCH, ACT_KILL_THREAD) < 0:
            return bad_arch, "cannot make other architectures' system calls fatal"
    code = lib.seccomp_attr_set(ctx, ATTR_CTL_TSYNC, 1)
    if code < 0:
        return bad_arch, f"cannot synchronise the filter across threads (TSYNC): {_error_name(-code)}"
    if lib.seccomp_attr_set(ctx, ATTR_CTL_NNP, 1) < 0:
        return bad_arch, "cannot set no_new_privs on load"
    # Optional: the kernel's own error codes in messages, and a syscall lookup in log(n) steps, not n.
    lib.seccomp_attr_set(ctx, ATTR_API_SYSRAWRC, 1)
    lib.seccomp_attr_set(ctx, ATTR_CTL_OPTIMIZE, OPTIMIZE_BINARY_TREE)
    return bad_arch, ""


def _add_rules(lib: ctypes.CDLL, ctx: int, allowed: set[str]) -> tuple[list[str], list[str], str]:
    """Add every denial not in ``allowed``; returns (calls denied, calls unknown here, problem or "")."""
    denied, skipped = [], []
    for denial in POLICY:
        action = ACT_ERRNO | (denial.error & 0xFFFF)
        for name in denial.syscalls:
            if name in allowed:
                continue
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                skipped.append(name)
                continue
            for tests in [(test,) for test in denial.when] or [()]:
                code = lib.seccomp_rule_add_array(ctx, action, number, len(tests), _comparisons(tests))
                if code < 0:
                    return denied, skipped, f"cannot add the rule for {name}: {_error_name(-code)}"
            denied.append(name)
    return denied, skipped, ""


def _comparisons(tests: tuple[ArgTest, ...]) -> ctypes.Array:
    """The tests as libseccomp's array of struct scmp_arg_cmp, all of which must hold (AND)."""
    array = (_ArgCmp * len(tests))()
    for slot, test in zip(array, tests):
        slot.arg, slot.op, slot.datum_a, slot.datum_b = test.arg, CMP_MASKED_EQ, test.mask, test.value
    return array


def _summary(version: str, denied: list[str], skipped: list[str], bad_arch: str) -> str:
    groups = list(dict.fromkeys(d.group for d in POLICY if set(d.syscalls) & set(denied)))
    summary = f"{version}: {len(denied)} system calls denied ({', '.join(groups)})"
    summary += f"; another architecture's call {bad_arch}"
    if skipped:
        summary += f"; unknown here: {', '.join(skipped)}"
    return summary


def _version(lib: ctypes.CDLL) -> str:
    version = lib.seccomp_version().contents
    return f"{version.major}.{version.minor}.{version.micro}"


def _error_name(code: int) -> str:
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"


def describe_policy() -> str:
    """The policy as a Markdown table (group, system calls, why), for the README."""
    rows = ["| Group | System calls | Why |", "| --- | --- | --- |"]
    previous = None
    for denial in POLICY:
        group = denial.group if denial.group != previous else ""
        previous = denial.group
        why = denial.why.replace("|", "\\|")
        rows.append(f"| {group} | {_calls_cell(denial)} | {why} |")
    return "\n".join(rows) + "\n"


def _calls_cell(denial: Denial) -> str:
    calls = ", ".join(f"`{name}`" for name in denial.syscalls)
    if denial.condition:
        calls += f" when {denial.condition}"
    if denial.error != errno.EPERM:
        calls += f" (answers {errno.errorcode[denial.error]})"
    return calls
