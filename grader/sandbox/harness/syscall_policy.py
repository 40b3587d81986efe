"""Which system calls the sandbox's seccomp filter denies, and why: the policy, apart from its installation.

Each ``Denial`` names a group, its calls, an optional condition on their arguments, the errno they
answer, and why a numerical Python program never needs them; ``describe_policy`` renders the table
the README shows. ``syscall_filter`` compiles it with libseccomp.
"""

import errno
import platform
from typing import NamedTuple

CMP_MASKED_EQ = 7  # libseccomp's comparison operator for "(argument & mask) == value"

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
