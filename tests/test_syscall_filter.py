"""Does the system-call filter refuse what its policy names, and leave a numerical program working?

Loading a filter is irreversible, so every test forks: the child installs it, tries something and
reports over a pipe, and pytest itself is never filtered. Where a refusal is claimed, the same call
is also made in an unfiltered child, to show that the kernel would have answered otherwise.
"""

import ctypes
import errno
import mmap
import os
import pickle
import platform
import re
import resource
import select
import signal
import socket
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch  # imported before any fork, as the sandbox's zygote does

from grader.sandbox.harness import confine, landlock, syscall_filter, syscall_policy
from grader.sandbox.harness.syscall_policy import (
    ADMINISTRATION,
    ATTACK_SURFACE,
    KEYRINGS,
    NAMESPACES,
    OTHER_PROCESSES,
    SESSIONS,
    SOCKETS,
    TERMINAL,
    WATCHES,
)

LIBSECCOMP = syscall_filter.preload()
needs_seccomp = pytest.mark.skipif(not LIBSECCOMP.active, reason=f"no libseccomp: {LIBSECCOMP.detail}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root can drop to another uid")
needs_x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 machine code")

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
# The raw clone below returns twice; holding the GIL across the call keeps the second process's Python sane.
PY_LIBC = ctypes.PyDLL(None, use_errno=True)
PY_LIBC.syscall.restype = ctypes.c_long

NOBODY = 65534
CLONE_NEWUSER = syscall_policy.CLONE_NEW_FLAGS["CLONE_NEWUSER"]
X32_SYSCALL_BIT = 0x40000000
GARBAGE = 0xDEAD0000DEAD  # not an address, not a valid flag set, and 0xDEAD as a 32-bit number


class Outcome(NamedTuple):
    """How a forked child ended: what it returned, its traceback if it raised, the signal that killed it."""

    value: object = None
    error: str = ""
    signal: int = 0


def in_child(body: Callable[[], object], timeout_s: float = 60.0) -> Outcome:
    """Run ``body`` in a forked child; return how it ended. A child that hangs is killed, failing the test."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns into pytest
        os.close(read_end)
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a child killed by SIGSYS leaves no core file
            report = (body(), "")
        except BaseException:
            report = (None, traceback.format_exc())
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(report))
        finally:
            os._exit(0)
    os.close(write_end)
    data = _read_all(read_end, pid, timeout_s)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return Outcome(signal=os.WTERMSIG(status))
    value, error = pickle.loads(data)
    return Outcome(value, error)


def _read_all(fd: int, pid: int, timeout_s: float) -> bytes:
    chunks = []
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], timeout_s)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"the child did not finish within {timeout_s} s")
            chunk = pipe.read(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def filtered(body: Callable[[], object], **install_options) -> Callable[[], object]:
    """``body``, run after the filter is installed; a filter that does not load fails the test."""

    def run():
        protection = syscall_filter.install(**install_options)
        assert protection.active, protection.detail
        return body()

    return run


def value_of(outcome: Outcome) -> object:
    """The child's returned value, failing the test with the child's own traceback or signal otherwise."""
    assert not outcome.error, outcome.error
    assert not outcome.signal, f"the child was killed by {signal.Signals(outcome.signal).name}"
    return outcome.value


def attempt(action: Callable[[], object]) -> str:
    """'ok', or the errno name of the OSError that ``action`` raised."""
    try:
        action()
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
    return "ok"


def raw(name: str, *args) -> int:
    """System call ``name`` through libc's syscall(); raises OSError as Python's own wrappers do."""
    number = syscall_filter.syscall_number(name)
    assert number is not None, f"{name} is unknown on this machine"
    values = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = LIBC.syscall(ctypes.c_long(number), *values)
    if result == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def seccomp_status() -> tuple[str, str]:
    """This process's seccomp mode and no_new_privs flag, as /proc/self/status reports them."""
    lines = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    return fields["Seccomp"].strip(), fields["NoNewPrivs"].strip()


# --- the policy as data ---------------------------------------------------------------------------

REQUIRED = {
    KEYRINGS: "add_key request_key keyctl",
    WATCHES: "inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_init fanotify_mark",
    OTHER_PROCESSES: "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd",
    ATTACK_SURFACE: (
        "bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register name_to_handle_at "
        "open_by_handle_at uselib personality"
    ),
    NAMESPACES: (
        "mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig fsmount fspick mount_setattr "
        "unshare setns clone clone3"
    ),
    SOCKETS: "socket socketpair connect bind listen accept accept4",
    SESSIONS: "setsid setpgid",
    ADMINISTRATION: (
        "kexec_load kexec_file_load reboot init_module finit_module delete_module swapon swapoff acct "
        "settimeofday clock_settime clock_adjtime adjtimex sethostname setdomainname iopl ioperm quotactl "
        "quotactl_fd lookup_dcookie vhangup syslog nfsservctl"
    ),
    TERMINAL: "ioctl",
}


@pytest.mark.parametrize("group", sorted(REQUIRED))
def test_the_policy_names_every_required_call_in_its_group(group):
    named = {name for denial in syscall_policy.POLICY if denial.group == group for name in denial.syscalls}
    assert set(REQUIRED[group].split()) <= named


def test_each_call_appears_once_with_a_reason():
    names = [name for denial in syscall_policy.POLICY for name in denial.syscalls]
    assert len(names) == len(set(names))
    assert all(len(denial.why) > 40 for denial in syscall_policy.POLICY)


def test_only_clone_and_ioctl_depend_on_their_arguments_and_only_clone3_answers_enosys():
    conditional = {name for denial in syscall_policy.POLICY if denial.when for name in denial.syscalls}
    assert conditional == {"clone", "ioctl"}
    errors = {name: denial.error for denial in syscall_policy.POLICY for name in denial.syscalls}
    assert {name for name, error in errors.items() if error != errno.EPERM} == {"clone3"}


def test_the_markdown_table_has_a_row_per_entry_and_every_call():
    table = syscall_policy.describe_policy()
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert rows[0] == "| Group | System calls | Why |"
    assert len(rows) == 2 + len(syscall_policy.POLICY)
    assert all(row.count(" | ") == 2 for row in rows)
    for name in syscall_filter.denied_names():
        assert f"`{name}`" in table
    assert "ENOSYS" in table and "CLONE_NEWUSER" in table and "TIOCSTI" in table


# --- each group's representative call is refused ----------------------------------------------------


def _set_the_monotonic_clock() -> None:
    """The kernel answers EINVAL (that clock cannot be set) to root and everyone else alike."""
    seconds_and_nanoseconds = (ctypes.c_long * 2)(0, 0)
    raw("clock_settime", time.CLOCK_MONOTONIC, ctypes.byref(seconds_and_nanoseconds))


def _ioctl_on_dev_null(request: int) -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        raw("ioctl", fd, request, ctypes.byref(ctypes.c_char(b"x")))
    finally:
        os.close(fd)


class Probe(NamedTuple):
    group: str
    action: Callable[[], object]


PROBES = {
    "keyctl(KEYCTL_GET_KEYRING_ID)": Probe(KEYRINGS, lambda: raw("keyctl", 0, -1, 0)),
    "add_key": Probe(KEYRINGS, lambda: raw("add_key", ctypes.c_char_p(b""), None, None, 0, -1)),
    "inotify_init1": Probe(WATCHES, lambda: os.close(raw("inotify_init1", 0))),
    "ptrace(PTRACE_PEEKDATA, self)": Probe(OTHER_PROCESSES, lambda: raw("ptrace", 2, os.getpid(), 0, 0)),
    "process_vm_readv(self)": Probe(OTHER_PROCESSES, lambda: raw("process_vm_readv", os.getpid(), *[0] * 5)),
    "unshare(CLONE_NEWUSER)": Probe(NAMESPACES, lambda: raw("unshare", CLONE_NEWUSER)),
    "chroot(missing)": Probe(NAMESPACES, lambda: raw("chroot", ctypes.c_char_p(b"/no/such/root"))),
    "socket(AF_UNIX)": Probe(SOCKETS, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()),
    "socket(AF_INET)": Probe(SOCKETS, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()),
    "socketpair": Probe(SOCKETS, lambda: [s.close() for s in socket.socketpair()]),
    "os.setsid": Probe(SESSIONS, os.setsid),
    "os.setpgid(0, 0)": Probe(SESSIONS, lambda: os.setpgid(0, 0)),
    "ioctl(TIOCSTI)": Probe(TERMINAL, lambda: _ioctl_on_dev_null(syscall_policy.TIOCSTI)),
    "ioctl(TIOCSTI | 1 << 32)": Probe(TERMINAL, lambda: _ioctl_on_dev_null(syscall_policy.TIOCSTI | 1 << 32)),
    "ioctl(TIOCLINUX)": Probe(TERMINAL, lambda: _ioctl_on_dev_null(syscall_policy.TIOCLINUX)),
    "clock_settime(CLOCK_MONOTONIC)": Probe(ADMINISTRATION, _set_the_monotonic_clock),
    "personality(query)": Probe(ADMINISTRATION, lambda: raw("personality", 0xFFFFFFFF)),
    "bpf(bad command)": Probe(ATTACK_SURFACE, lambda: raw("bpf", 0xDEAD, 0, 0)),
    "perf_event_open(NULL)": Probe(ATTACK_SURFACE, lambda: raw("perf_event_open", 0, 0, -1, -1, 0)),
    "userfaultfd(bad flags)": Probe(ATTACK_SURFACE, lambda: raw("userfaultfd", 0xDEAD)),
    "io_uring_setup(NULL)": Probe(ATTACK_SURFACE, lambda: raw("io_uring_setup", 1, 0)),
}


def test_every_group_of_the_policy_has_a_probe():
    assert {probe.group for probe in PROBES.values()} >= {denial.group for denial in syscall_policy.POLICY}


@needs_seccomp
@pytest.mark.parametrize("call", sorted(PROBES))
def test_a_representative_call_fails_with_eperm_under_the_filter(call):
    action = PROBES[call].action
    unfiltered = value_of(in_child(lambda: attempt(action)))
    if unfiltered == "EPERM":
        pytest.skip(f"{call} is refused here even without the filter")
    assert value_of(in_child(filtered(lambda: attempt(action)))) == "EPERM"


@needs_seccomp
def test_a_refused_call_raises_permission_error_not_a_kill():
    def body():
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except PermissionError as error:
            return type(error).__name__, error.errno
        return "no error", 0

    assert value_of(in_child(filtered(body))) == ("PermissionError", errno.EPERM)


@needs_seccomp
def test_every_unconditional_call_of_the_policy_is_refused():
    # vhangup takes no argument that could make it fail: were the filter broken it would hang up the terminal.
    names = [
        name
        for denial in syscall_policy.POLICY
        if not denial.when
        for name in denial.syscalls
        if name != "vhangup" and syscall_filter.syscall_number(name) is not None
    ]

    def body():
        expected = {denial.error for denial in syscall_policy.POLICY for _ in denial.syscalls}
        assert expected == {errno.EPERM, errno.ENOSYS}
        return {name: attempt(lambda name=name: raw(name, *[GARBAGE] * 6)) for name in names}

    answers = value_of(in_child(filtered(body)))
    wanted = {name: "ENOSYS" if name == "clone3" else "EPERM" for name in names}
    assert answers == wanted
    assert len(names) > 70


@needs_seccomp
def test_the_protection_counts_the_calls_it_denied_and_names_the_groups():
    protection = value_of(in_child(lambda: syscall_filter.install()))
    numbers = [syscall_filter.syscall_number(name) for name in syscall_filter.denied_names()]
    known = [number for number in numbers if number is not None]
    version = LIBSECCOMP.detail.split()[-1]
    assert protection.active
    assert protection.detail.startswith(f"libseccomp {version}: {len(known)} system calls denied (")
    for denial in syscall_policy.POLICY:
        assert denial.group in protection.detail


@needs_seccomp
def test_the_filter_is_in_force_with_no_new_privs():
    before = value_of(in_child(seccomp_status))
    after = value_of(in_child(filtered(seccomp_status)))
    assert before[0] == "0"
    assert after == ("2", "1")


# --- fork, threads and clone ----------------------------------------------------------------------


def _raw_clone(flags: int) -> str:
    """clone(flags | SIGCHLD) with no new stack, as fork does: 'created' if a process was made, else errno."""
    number, zero = syscall_filter.syscall_number("clone"), ctypes.c_long(0)
    pid = PY_LIBC.syscall(ctypes.c_long(number), ctypes.c_long(flags | signal.SIGCHLD), *[zero] * 4)
    if pid == 0:  # the new process: it leaves at once
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
        return "created"
    return errno.errorcode[ctypes.get_errno()]


@needs_seccomp
def test_clone_with_any_namespace_flag_is_refused_while_plain_clone_works():
    def body():
        answers = {name: _raw_clone(flag) for name, flag in syscall_policy.CLONE_NEW_FLAGS.items()}
        answers["CLONE_NEWUSER with high bits"] = _raw_clone(CLONE_NEWUSER | 1 << 40)
        answers["no flag"] = _raw_clone(0)
        return answers

    answers = value_of(in_child(filtered(body)))
    assert answers.pop("no flag") == "created"
    assert set(answers.values()) == {"EPERM"}, answers
    assert len(answers) == len(syscall_policy.CLONE_NEW_FLAGS) + 1


@needs_seccomp
def test_clone3_answers_enosys_so_that_glibc_falls_back_to_clone():
    def clone3():
        return attempt(lambda: raw("clone3", 0, 0))

    assert value_of(in_child(clone3)) == "EINVAL"  # the kernel's answer to a missing argument structure
    assert value_of(in_child(filtered(clone3))) == "ENOSYS"


@needs_seccomp
def test_fork_threads_and_posix_spawn_still_work():
    def body():
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        fork_status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        results = []
        thread = threading.Thread(target=lambda: results.append(sum(range(1000))))
        thread.start()
        thread.join()
        spawned = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 5"], {})
        spawn_status = os.waitstatus_to_exitcode(os.waitpid(spawned, 0)[1])
        return fork_status, results, spawn_status

    assert value_of(in_child(filtered(body))) == (7, [499500], 5)


@needs_seccomp
def test_threads_started_before_install_are_filtered_too():
    def body():
        go, answers = threading.Event(), []

        def worker():
            go.wait()
            answers.append(attempt(lambda: socket.socket(socket.AF_UNIX).close()))

        thread = threading.Thread(target=worker)
        thread.start()
        protection = syscall_filter.install()
        go.set()
        thread.join()
        return protection.active, answers

    assert value_of(in_child(body)) == (True, ["EPERM"])


# --- what the harness and a learner's program still do ------------------------------------------------


@needs_seccomp
def test_sending_and_receiving_on_an_inherited_socketpair_still_works():
    def body():
        harness, grader = socket.socketpair()  # made before install, as the grader's channel is
        assert syscall_filter.install().active
        harness.sendall(b"ready")
        answer = grader.recv(16)
        read_end, write_end = os.pipe()
        socket.send_fds(grader, [b"fd"], [read_end])
        _, fds, _, _ = socket.recv_fds(harness, 16, 1)
        os.write(write_end, b"through")
        return answer, os.read(fds[0], 16)

    assert value_of(in_child(body)) == (b"ready", b"through")


def _numerical_workload() -> dict:
    """A learner's program in small: autograd, an optimiser, NumPy, files, a thread and a fork."""
    torch.set_num_threads(1)  # as in the sandbox; also keeps OpenMP's pool out of the forks
    torch.manual_seed(0)
    x = torch.randn(8, 16, requires_grad=True)
    w = torch.nn.Parameter(torch.randn(16, 4))
    optimiser = torch.optim.Adam([w], lr=0.1)
    loss = (x @ w).softmax(-1).pow(2).sum()
    loss.backward()
    optimiser.step()
    array = np.linalg.solve(np.eye(3) * 2.0, np.arange(3.0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "weights.pt")
        torch.save(w.detach(), path)
        Path(folder, "notes.txt").write_text("written")
        loaded = torch.load(path)
        text = Path(folder, "notes.txt").read_text()
    results = []
    thread = threading.Thread(target=lambda: results.append(float(loaded.sum())))
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    return {
        "loss": loss.item(),
        "grad": x.grad.sum().item(),
        "weights": w.detach().tolist(),
        "numpy": array.tolist(),
        "file": text,
        "thread": results,
        "fork": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]),
    }


@needs_seccomp
def test_pytorch_numpy_files_threads_and_fork_work_under_the_filter():
    expected = value_of(in_child(_numerical_workload))
    assert value_of(in_child(filtered(_numerical_workload))) == expected
    assert expected["fork"] == 3 and expected["file"] == "written" and len(expected["thread"]) == 1


@needs_seccomp
@pytest.mark.parametrize("identity", ["current user", "dropped from root to nobody"])
def test_the_filter_holds_for_root_and_for_an_unprivileged_user(identity):
    if identity != "current user" and os.geteuid() != 0:
        pytest.skip("only root can drop to another uid")

    def body():
        if identity != "current user":
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
        assert syscall_filter.install().active
        return (
            os.geteuid(),
            attempt(lambda: socket.socket(socket.AF_UNIX).close()),
            attempt(lambda: raw("keyctl", 0, -1, 0)),
            attempt(lambda: raw("unshare", CLONE_NEWUSER)),
            seccomp_status(),
        )

    uid, *answers, status = value_of(in_child(body))
    assert uid == (os.geteuid() if identity == "current user" else NOBODY)
    assert answers == ["EPERM", "EPERM", "EPERM"]
    assert status == ("2", "1")


# --- calls through another architecture's entry ------------------------------------------------------


@needs_seccomp
@needs_x86_64
def test_an_x32_system_call_kills_the_process():
    def x32_getpid():
        return LIBC.syscall(ctypes.c_long(X32_SYSCALL_BIT | syscall_filter.syscall_number("getpid")))

    assert in_child(x32_getpid).signal == 0  # unfiltered: ENOSYS, or the pid where x32 is enabled
    assert in_child(filtered(x32_getpid)).signal == signal.SIGSYS


def _int_0x80_getpid() -> int:
    """getpid through the 32-bit entry: mov eax, 20; int 0x80; ret."""
    code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))
    function = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))
    return function()


@needs_seccomp
@needs_x86_64
def test_an_int_0x80_system_call_kills_the_process():
    unfiltered = in_child(lambda: (_int_0x80_getpid(), os.getpid()))
    if unfiltered.signal or unfiltered.error:
        pytest.skip("no 32-bit system calls here (no IA32 emulation), or no executable memory")
    own_pid, pid = unfiltered.value
    assert own_pid == pid
    assert in_child(filtered(_int_0x80_getpid)).signal == signal.SIGSYS


# --- options, and when the platform refuses -----------------------------------------------------


def denied_count(protection) -> int:
    """N in the detail "libseccomp X.Y.Z: N system calls denied (...)"."""
    return int(re.search(r": (\d+) system calls denied", protection.detail)[1])


@needs_seccomp
def test_extra_allowed_calls_are_left_out_and_the_rest_stay_denied():
    def body():
        protection = syscall_filter.install(extra_allowed=["socket", "socketpair"])
        return (
            denied_count(protection),
            attempt(lambda: socket.socket(socket.AF_UNIX).close()),
            attempt(lambda: [s.close() for s in socket.socketpair()]),
            attempt(lambda: socket.socket(socket.AF_UNIX).connect("/no/such/socket")),
            attempt(lambda: raw("keyctl", 0, -1, 0)),
        )

    count, *answers = value_of(in_child(body))
    full = value_of(in_child(lambda: denied_count(syscall_filter.install())))
    assert count == full - 2
    assert answers == ["ok", "ok", "EPERM", "EPERM"]


def test_extra_allowed_must_name_calls_of_the_policy():
    def body():
        try:
            syscall_filter.install(extra_allowed=["read"])
        except ValueError as error:
            return str(error), attempt(lambda: socket.socket(socket.AF_UNIX).close())
        return "no error", ""

    message, after = value_of(in_child(body))
    assert "read" in message
    assert after == "ok"


def test_a_missing_library_gives_an_inactive_protection(monkeypatch):
    monkeypatch.setattr(syscall_filter, "LIBRARY", "libseccomp-that-does-not-exist.so.2")

    def body():
        return syscall_filter.install(), attempt(lambda: socket.socket(socket.AF_UNIX).close())

    protection, after = value_of(in_child(body))
    assert not protection.active
    assert "libseccomp-that-does-not-exist.so.2" in protection.detail
    assert after == "ok"
    assert syscall_filter.syscall_number("socket") is None


def test_another_platform_gives_an_inactive_protection(monkeypatch):
    monkeypatch.setattr(syscall_filter, "IS_LINUX", False)
    protection = value_of(in_child(syscall_filter.install))
    assert protection == confine.Protection(False, f"needs Linux, this is {sys.platform}")
    assert not syscall_filter.preload().active


def _forbid_seccomp() -> None:
    """Load a hand-written filter that answers EPERM to seccomp() and prctl(PR_SET_SECCOMP), as a locked-down
    container would; what libseccomp then does is what it does on a kernel that refuses filters."""
    seccomp, prctl = syscall_filter.syscall_number("seccomp"), syscall_filter.syscall_number("prctl")
    pr_set_seccomp, pr_set_no_new_privs, seccomp_mode_filter = 22, 38, 2
    load_word, jump_if_equal, ret = 0x20, 0x15, 0x06
    program = [
        (load_word, 0, 0, 0),  # the system call's number
        (jump_if_equal, 4, 0, seccomp),
        (jump_if_equal, 0, 2, prctl),
        (load_word, 0, 0, 16),  # the low half of the first argument
        (jump_if_equal, 1, 0, pr_set_seccomp),
        (ret, 0, 0, syscall_filter.ACT_ALLOW),
        (ret, 0, 0, syscall_filter.ACT_ERRNO | errno.EPERM),
    ]

    class Instruction(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_uint16),
            ("jt", ctypes.c_uint8),
            ("jf", ctypes.c_uint8),
            ("k", ctypes.c_uint32),
        ]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    instructions = (Instruction * len(program))(*(Instruction(*step) for step in program))
    LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    assert LIBC.prctl(pr_set_no_new_privs, 1, None, 0, 0) == 0
    address = ctypes.cast(ctypes.byref(Program(len(program), instructions)), ctypes.c_void_p)
    assert LIBC.prctl(pr_set_seccomp, seccomp_mode_filter, address, 0, 0) == 0


@needs_seccomp
def test_a_kernel_that_refuses_the_filter_gives_an_inactive_protection():
    def body():
        _forbid_seccomp()
        return syscall_filter.install(), attempt(lambda: socket.socket(socket.AF_UNIX).close())

    protection, after = value_of(in_child(body))
    assert not protection.active
    assert protection.detail.startswith("libseccomp ")
    assert after == "ok"  # nothing of the policy was loaded


@needs_seccomp
@pytest.mark.skipif(landlock.landlock_abi() == 0, reason="needs Landlock")
def test_installing_after_landlock_works_once_the_library_is_preloaded():
    def body():
        assert syscall_filter.preload().active
        maps = Path("/proc/self/maps").read_text().splitlines()
        library = next(line.split()[-1] for line in maps if "libseccomp" in line)
        assert landlock.restrict_filesystem([Path(sysconfig.get_path("stdlib"))], []).active
        protection = syscall_filter.install()
        library_readable = attempt(lambda: open(library, "rb").close())
        return protection.active, library_readable, attempt(lambda: socket.socket(socket.AF_UNIX).close())

    assert value_of(in_child(body)) == (True, "EACCES", "EPERM")
