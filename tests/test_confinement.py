"""Does each protection of a session hold, seen from inside the sandbox and from the grader's side?

Each test opens a real session on a few lines of learner code and asks one question: can it reach a
kernel keyring, a socket, the paths of the run, more scratch space than its quota, more of the
grader's memory than its reply bound; does the grader refuse to grade without a protection; does it
leave nothing behind when it ends, however it ends. The same questions for a grader run by an
ordinary user are in test_unprivileged_grading.py.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from grader.sandbox import scratch_folders
from grader.sandbox.harness import confine, landlock, syscall_filter
from grader.sandbox.protections import REQUIRED_PROTECTIONS, MissingProtection
from grader.sandbox.runner import Runner
from grader.settings import Limits
from tests.grading_helpers import REPO, namespaces_work

SMALL = Limits(call_timeout_s=10, session_timeout_s=30, memory_mb=512, max_processes=16)
FULL_SANDBOX = confine.IS_LINUX and namespaces_work() and landlock.landlock_abi() >= 1
needs_full_sandbox = pytest.mark.skipif(not FULL_SANDBOX, reason="needs Linux namespaces and Landlock")
KEYCTL, ADD_KEY = syscall_filter.syscall_number("keyctl"), syscall_filter.syscall_number("add_key")
SESSION_KEYRING, KEYCTL_SEARCH, KEYCTL_INVALIDATE = -3, 10, 21
SECRET = b"kit-test-secret-3f9c"

PROBES = """\
import ctypes, errno, os, socket

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def errno_of(number, *args):
    ctypes.set_errno(0)
    if libc.syscall(number, *args) >= 0:
        return "allowed"
    return errno.errorcode[ctypes.get_errno()]


def keyctl_search(keyctl, description):
    return errno_of(keyctl, 10, -3, b"user", description.encode(), 0)


def add_key(add_key):
    return errno_of(add_key, b"user", b"kit-test-sandbox-key", b"x", 1, -4)


def new_socket(family):
    try:
        socket.socket(getattr(socket, family), socket.SOCK_STREAM).close()
        return "allowed"
    except OSError as error:
        return errno.errorcode[error.errno]


def call(name, *args):
    try:
        getattr(os, name)(*args)
        return "allowed"
    except OSError as error:
        return errno.errorcode[error.errno]


def inotify():
    fd = libc.inotify_init1(0)
    return "allowed" if fd >= 0 else errno.errorcode[ctypes.get_errno()]


def unshare_user():
    return "allowed" if libc.unshare(0x10000000) == 0 else errno.errorcode[ctypes.get_errno()]


def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        return errno.errorcode[error.errno]


def stat(path):
    try:
        return os.stat(path).st_size
    except OSError as error:
        return errno.errorcode[error.errno]


def fill(files, megabytes_each):
    written = 0
    try:
        for index in range(files):
            with open(f"fill-{index}", "wb") as file:
                file.write(bytes(megabytes_each * 2**20))
            written += 1
    except OSError as error:
        return [written, errno.errorcode[error.errno]]
    return [written, "allowed"]


def setup_strings():
    import gc

    found = []
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "scratch" in obj and "limits" in obj:
            found.append(repr(obj))
    try:
        with open("/proc/self/cmdline", "rb") as file:  # unreadable once the uid is dropped
            found.append(file.read().decode(errors="replace"))
    except OSError:
        pass
    return found


def huge_reply(megabytes):
    import torch

    return torch.zeros(megabytes * 2**18)
"""


@pytest.fixture(scope="module")
def runner(warm_runner):
    return warm_runner


@pytest.fixture
def session(runner, tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "probes.py").write_text(PROBES)
    with runner.open_session(folder, limits=SMALL) as opened:
        yield opened


def probe(session, function: str, *args, ok: bool = True):
    result = session.call("call_unwatched", {"module": "probes", "function": function, "args": list(args)})
    assert result.ok == ok, result
    return result.value["result"] if ok else result.error


@needs_full_sandbox
class TestSyscallFilter:
    def test_every_session_reports_the_filter_active(self, session):
        assert session.isolation["syscall filter"].startswith("active"), session.isolation["syscall filter"]

    @pytest.mark.skipif(KEYCTL is None, reason="libseccomp knows no keyctl here")
    def test_kernel_keyrings_are_refused(self, session):
        assert probe(session, "add_key", ADD_KEY) == "EPERM"
        assert probe(session, "keyctl_search", KEYCTL, "anything") == "EPERM"

    @pytest.mark.parametrize("family", ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"])
    def test_no_new_socket_of_any_family(self, session, family):
        assert probe(session, "new_socket", family) == "EPERM"

    def test_filesystem_watches_namespaces_and_new_sessions_are_refused(self, session):
        assert probe(session, "inotify") == "EPERM"
        assert probe(session, "unshare_user") == "EPERM"
        assert probe(session, "call", "setsid") == "EPERM"
        assert probe(session, "call", "setpgid", 0, 0) == "EPERM"


@pytest.mark.skipif(KEYCTL is None or not FULL_SANDBOX, reason="needs keyctl's number and the full sandbox")
def test_the_graders_own_session_keys_are_out_of_reach(tmp_path):
    """A key in the grader's session keyring (a token cache, say) cannot be found from inside."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    key = libc.syscall(ADD_KEY, b"user", b"kit-test-grader-secret", SECRET, len(SECRET), SESSION_KEYRING)
    assert key >= 0, os.strerror(ctypes.get_errno())
    try:
        found = libc.syscall(KEYCTL, KEYCTL_SEARCH, SESSION_KEYRING, b"user", b"kit-test-grader-secret", 0)
        assert found == key  # this process can see it: the sandbox, forked after it was added, must not
        (tmp_path / "probes.py").write_text(PROBES)
        with Runner() as fresh, fresh.open_session(tmp_path, limits=SMALL) as session:
            assert probe(session, "keyctl_search", KEYCTL, "kit-test-grader-secret") in ("EPERM", "ENOKEY")
    finally:
        libc.syscall(KEYCTL, KEYCTL_INVALIDATE, key)


@needs_full_sandbox
class TestOwnRoot:
    def test_the_run_paths_do_not_exist_inside(self, session, tmp_path):
        for path in [REPO / "solutions", REPO / "grader", REPO / "tests", tmp_path]:
            assert probe(session, "stat", str(path)) == "ENOENT", path

    def test_tmp_and_run_hold_only_the_sessions_own_folder(self, session):
        assert probe(session, "listing", "/run") == "ENOENT"
        assert probe(session, "listing", "/home") == "ENOENT"
        listing = probe(session, "listing", "/tmp")  # Landlock refuses to list it; the root holds one folder
        assert listing == "EACCES" or (len(listing) == 1 and listing[0].startswith("grader-sandbox-")), (
            listing
        )

    def test_the_setup_data_names_no_path_of_the_run(self, session, tmp_path):
        """The session knows its scratch folder and the libraries it reads; not the submission's folder,
        the repository's grader/ or solutions/, nor the harness's place in the repository."""
        for text in probe(session, "setup_strings"):
            for leak in (str(tmp_path), str(REPO / "grader"), str(REPO / "solutions")):
                assert leak not in text, (leak, text[:300])


@needs_full_sandbox
class TestScratchQuota:
    def test_the_scratch_folder_holds_at_most_its_size(self, session):
        written, error = probe(session, "fill", 100, 1)
        assert error == "ENOSPC" and written < SMALL.scratch_mb

    def test_the_scratch_folder_holds_at_most_its_number_of_files(self, session):
        written, error = probe(session, "fill", 5000, 0)
        assert error == "ENOSPC" and written < SMALL.scratch_files


@pytest.mark.skipif(not confine.IS_LINUX, reason="ru_maxrss in KiB is Linux's")
def test_a_reply_over_the_bound_is_refused_unread(runner, tmp_path):
    """A 100 MB reply (bound: 32 MB) fails the call without the grader's memory peak growing by it."""
    (tmp_path / "probes.py").write_text(PROBES)
    limits = Limits(call_timeout_s=30, session_timeout_s=60, memory_mb=1536, max_processes=16)
    with runner.open_session(tmp_path, limits=limits) as session:
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        error = probe(session, "huge_reply", 100, ok=False)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert error.kind == "protocol" and "limit is 32 MB" in error.message, error
    assert grown_mb < 40, f"the grader's peak grew by {grown_mb:.0f} MB"


class TestFailClosed:
    def test_a_missing_protection_stops_grading_and_names_the_flag(self, tmp_path):
        with Runner(without=["syscall-filter"]) as weaker:
            with pytest.raises(MissingProtection) as refused:
                weaker.open_session(tmp_path, limits=SMALL)
        assert "syscall filter" in refused.value.missing
        assert "--accept-risk syscall-filter" in str(refused.value)

    def test_an_accepted_risk_is_graded_and_reported(self, tmp_path):
        (tmp_path / "probes.py").write_text(PROBES)
        with Runner(without=["syscall-filter"], accepted_risks=["syscall-filter"]) as weaker:
            with weaker.open_session(tmp_path, limits=SMALL) as session:
                assert probe(session, "call", "getpid") == "allowed"
            report = weaker.isolation_report()
        assert report["syscall filter"].endswith("(risk accepted)"), report["syscall filter"]

    def test_an_unknown_risk_name_is_a_usage_error(self):
        with pytest.raises(ValueError, match="no such protection"):
            Runner(accepted_risks=["seccomp"])

    def test_only_what_a_weaker_machine_lacks_can_be_turned_off(self):
        """The limits and the uid drop are always applied: naming them is refused, never reported falsely."""
        with pytest.raises(ValueError, match="rlimits cannot be turned off"):
            Runner(without=["rlimits"])

    @needs_full_sandbox
    def test_every_required_protection_is_active_on_this_machine(self, runner):
        report = runner.isolation_report()
        required = [name for name in REQUIRED_PROTECTIONS if name != "user namespace" or os.geteuid() != 0]
        assert {
            name: report.get(name) for name in required if not report.get(name, "").startswith("active")
        } == {}


class TestLeftovers:
    def test_a_dead_runs_folders_are_swept_and_a_live_ones_kept(self, tmp_path):
        dead = tmp_path / "grader-sandbox-dead"
        (dead / "session-0").mkdir(parents=True)
        (dead / scratch_folders.LOCK_FILE).touch()
        unlocked = tmp_path / "grader-unpacked-old"
        unlocked.mkdir()
        mine = tmp_path / "not-ours"
        mine.mkdir()
        live = scratch_folders.LockedFolder("grader-sandbox-", tmp_path)
        old = time.time() - 2 * scratch_folders.MIN_AGE_S
        for folder in (dead, unlocked, mine, live.path):
            os.utime(folder, (old, old))
        young = scratch_folders.LockedFolder("grader-unpacked-", tmp_path)
        young.remove()
        young.path.mkdir()  # a folder of ours, just made: perhaps a run that has not locked it yet
        try:
            assert sorted(scratch_folders.sweep(tmp_path)) == sorted([dead, unlocked])
            assert live.path.exists() and mine.exists() and young.path.exists()
        finally:
            live.remove()

    @pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a folder another user owns")
    def test_another_users_folders_are_never_swept(self, tmp_path):
        theirs = tmp_path / "grader-sandbox-theirs"
        theirs.mkdir()
        os.chown(theirs, 12345, 12345)
        os.utime(theirs, (0, 0))
        assert scratch_folders.sweep(tmp_path) == [] and theirs.exists()

    @pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
    def test_a_stopped_run_leaves_no_learner_code_behind(self, tmp_path, how):
        """SIGTERM: the run removes its folders as it stops. SIGKILL: the next run sweeps them."""
        temp = tmp_path / "temp"
        temp.mkdir()
        klass = tmp_path / "class"
        (klass / "hangs").mkdir(parents=True)
        (klass / "hangs" / "softmax.py").write_text(
            "def softmax(x, axis=-1):\n    while True:\n        pass\n"
        )
        environment = {**os.environ, "TMPDIR": str(temp)}
        command = [
            sys.executable,
            "-m",
            "grader",
            "grade",
            str(klass),
            "--out",
            str(tmp_path / "out"),
            "--jobs",
            "1",
        ]
        run = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while not list(temp.glob("grader-sandbox-*/session-*")) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert list(temp.glob("grader-sandbox-*/session-*")), "no session started"
            run.send_signal(how)
            run.wait(timeout=30)
        finally:
            run.kill()
            run.wait()
        if how == signal.SIGTERM:
            assert list(temp.iterdir()) == [], run.stderr.read().decode()[-2000:]
            return
        left = list(temp.iterdir())
        assert left
        old = time.time() - 2 * scratch_folders.MIN_AGE_S
        for folder in left:
            os.utime(folder, (old, old))
        probe_run = textwrap.dedent(
            """
            from grader.sandbox.forkserver import make_workdir
            make_workdir().remove()
            """
        )
        subprocess.run([sys.executable, "-c", probe_run], cwd=REPO, env=environment, check=True, timeout=60)
        assert list(temp.iterdir()) == []


@pytest.mark.skipif(
    not (FULL_SANDBOX and os.geteuid() == 0), reason="needs root to make a mount namespace here"
)
def test_a_root_that_cannot_be_built_leaves_the_submission_in_place(tmp_path):
    """A failed build reports the root inactive (the run then refuses) and uncovers the scratch folder."""
    from grader.sandbox.harness import private_root

    (tmp_path / "softmax.py").write_text("x = 1\n")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the mount namespace and the failure stay in this child
        try:
            os.close(read)
            assert confine.unshare(confine.CLONE_NEWNS).active

            def refuse(root):
                raise OSError(22, "Invalid argument", "pivot_root (test)")

            private_root._pivot = refuse
            quota = private_root.Quota(8, 64)
            built = private_root.enter(
                read_only=[], hidden=[], read_write_devices=[], scratch=tmp_path, quota=quota, owner=(0, 0)
            )
            os.write(write, f"{built.active}|{built.detail}|{sorted(os.listdir(tmp_path))}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as reply:
        active, detail, listing = reply.read().split("|")
    os.waitpid(child, 0)
    assert (active, listing) == ("False", "['softmax.py']") and "pivot_root (test)" in detail
