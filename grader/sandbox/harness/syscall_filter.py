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
import sys
from collections.abc import Iterable
from functools import cache

from .confine import Protection
from .syscall_policy import CMP_MASKED_EQ, POLICY, ArgTest

LIBRARY = "libseccomp.so.2"  # the soname has been stable since libseccomp 2.0
IS_LINUX = sys.platform.startswith("linux")

# libseccomp's ABI (include/seccomp.h.in): actions, filter attributes and comparison operators.
ACT_ALLOW = 0x7FFF0000
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_ERRNO = 0x00050000
ATTR_ACT_BADARCH, ATTR_CTL_NNP, ATTR_CTL_TSYNC, ATTR_CTL_OPTIMIZE, ATTR_API_SYSRAWRC = 2, 3, 4, 8, 9
OPTIMIZE_BINARY_TREE = 2


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
