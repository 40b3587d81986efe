"""Does the sandbox keep grades honest when a submission is hostile?

Each fixture submission is a few lines written into tmp_path; each test asks one question about
what a learner's code can and cannot do, and what the grader then reports.
"""

import errno
import json
import math
import os
import pickle
import socket
import struct
import sysconfig
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.sandbox import priority, runner, uid_blocks
from grader.sandbox import session as sandbox_session
from grader.sandbox.channels import ChannelClosed, Channels, ChannelTimeout, FrameSocket
from grader.sandbox.harness import confine, landlock, wire
from grader.sandbox.protections import SandboxError
from grader.sandbox.runner import Runner
from grader.settings import Limits
from tests.grading_helpers import namespaces_work

REPO = Path(runner.__file__).resolve().parents[2]
AUTOGROUP = (
    Path("/proc/sys/kernel/sched_autogroup_enabled").is_file()
    and Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
)
SMALL = Limits(call_timeout_s=5, session_timeout_s=20, memory_mb=512, max_processes=16)


NAMESPACES = confine.IS_LINUX and namespaces_work()
LANDLOCK = landlock.landlock_abi() > 0
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason="needs Linux PID and network namespaces (unshare refused)"
)
needs_landlock = pytest.mark.skipif(
    not LANDLOCK, reason="needs Landlock (Linux >= 5.13 with Landlock enabled)"
)
needs_linux = pytest.mark.skipif(not confine.IS_LINUX, reason="RLIMIT_AS is enforced only on Linux")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root can drop to a sandbox uid")


@pytest.fixture(scope="module")
def sandbox_runner(warm_runner):
    return warm_runner


@pytest.fixture
def open_submission(sandbox_runner, tmp_path):
    """Write modules into a fresh folder and open a session on it; closed after the test."""
    opened = []

    def open_(modules: dict[str, str], limits: Limits = SMALL, **options):
        folder = tmp_path / f"submission{len(opened)}"
        folder.mkdir()
        for name, source in modules.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
        session = sandbox_runner.open_session(folder, limits=limits, **options)
        opened.append(session)
        return session

    yield open_
    for session in opened:
        session.close()


def call(session, target: str, *args, **kwargs):
    module, function = target.split(".")
    return session.call(
        "call_unwatched", {"module": module, "function": function, "args": list(args), "kwargs": kwargs}
    )


def namespace_members(pid_namespace: str) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == pid_namespace:
                    members.append(int(entry))
            except OSError:
                pass
    return members


class TestRoundTrip:
    @pytest.mark.parametrize(
        "tensor",
        [
            torch.randn(3, 4),
            torch.randn(2, 3, dtype=torch.float64),
            torch.randn(4, 2).to(torch.bfloat16),
            torch.tensor([True, False, True]),
            torch.tensor(2.5),
            torch.randn(4, 6)[:, ::2].t(),
        ],
        ids=["float32", "float64", "bfloat16", "bool", "0-d", "non-contiguous"],
    )
    def test_tensors_go_in_and_come_back_exactly(self, open_submission, tensor):
        session = open_submission({"ops": "def twice(x):\n    return [x, x.clone()]\n"})
        result = call(session, "ops.twice", tensor)
        assert result.ok, result.error
        for returned in result.value["result"]:
            assert type(returned) is torch.Tensor and returned.dtype == tensor.dtype
            assert torch.equal(returned, tensor)

    def test_keyword_arguments_and_plain_values_round_trip(self, open_submission):
        session = open_submission(
            {"ops": "def pack(a, *, b):\n    return {'a': a, 'b': b, 't': (a, None)}\n"}
        )
        result = call(session, "ops.pack", 1.5, b=["x", float("inf")])
        assert result.value == {"result": {"a": 1.5, "b": ["x", math.inf], "t": (1.5, None)}}

    def test_state_lasts_between_calls_of_one_session(self, open_submission):
        session = open_submission(
            {"ops": "seen = []\ndef add(x):\n    seen.append(x)\n    return len(seen)\n"}
        )
        assert [call(session, "ops.add", i).value["result"] for i in range(3)] == [1, 2, 3]


class TestErrors:
    def test_not_implemented_is_reported_with_file_and_line(self, open_submission):
        session = open_submission(
            {"masking": "def masked_attention(q):\n    # TODO\n    raise NotImplementedError\n"}
        )
        error = call(session, "masking.masked_attention", 1).error
        assert (error.kind, error.file, error.line) == ("not_implemented", "masking.py", 3)
        assert error.describe() == "not implemented yet (NotImplementedError at masking.py line 3)"

    def test_exception_names_the_learners_innermost_line(self, open_submission):
        session = open_submission(
            {
                "masking": """\
            import torch
            def helper(x):
                return x @ torch.ones(5, 5)
            def masked_attention(x):
                return helper(x)
            """
            }
        )
        error = call(session, "masking.masked_attention", torch.ones(2, 3)).error
        assert (error.kind, error.exc_type, error.file, error.line) == (
            "exception",
            "RuntimeError",
            "masking.py",
            3,
        )
        assert error.describe().startswith("your code raised RuntimeError at masking.py line 3: ")

    def test_syntax_error_points_at_the_broken_line(self, open_submission):
        session = open_submission({"softmax": "def softmax(x):\n    return (x\n"})
        error = call(session, "softmax.softmax", 1).error
        assert (error.exc_type, error.file, error.line) == ("SyntaxError", "softmax.py", 2)

    def test_missing_module_or_function_is_named(self, open_submission):
        session = open_submission({"softmax": "def softmax(x):\n    return x\n"})
        assert (
            call(session, "masking.masked_attention").error.describe()
            == "masking.py is missing from the submission"
        )
        assert call(session, "softmax.nothing").error.describe() == "softmax.py defines no nothing"

    def test_os_exit_mid_call_is_reported_as_exit(self, open_submission):
        session = open_submission({"ops": "import os\ndef leave():\n    os._exit(0)\n"})
        error = call(session, "ops.leave").error
        assert error.kind == "exit"
        assert error.describe() == "the process exited with status 0 before returning a result"

    def test_segfault_is_reported_as_a_crash(self, open_submission):
        session = open_submission({"ops": "import ctypes\ndef crash():\n    return ctypes.string_at(0)\n"})
        error = call(session, "ops.crash").error
        assert (error.kind, error.describe()) == ("crash", "crashed with signal SIGSEGV")


class TestTimeLimits:
    def test_endless_loop_times_out_within_two_seconds_of_the_limit(self, open_submission):
        session = open_submission(
            {"ops": "def spin():\n    while True:\n        pass\n"}, limits=Limits(call_timeout_s=1)
        )
        result = call(session, "ops.spin")
        assert result.error.kind == "timeout" and result.elapsed_s < 1 + 2
        assert result.error.describe() == "did not finish in 1 s — an endless loop?"

    def test_endless_printing_still_times_out(self, open_submission):
        session = open_submission(
            {"ops": "def shout():\n    while True:\n        print('x' * 10_000)\n"},
            limits=Limits(call_timeout_s=1),
        )
        result = call(session, "ops.shout")
        assert result.error.kind == "timeout" and result.elapsed_s < 1 + 2
        assert result.output.startswith("x" * SMALL.output_bytes)

    def test_after_a_timeout_later_calls_fail_at_once_with_the_same_error(self, open_submission):
        session = open_submission(
            {"ops": "def spin():\n    while True:\n        pass\n"}, limits=Limits(call_timeout_s=1)
        )
        first = call(session, "ops.spin")
        again = call(session, "ops.spin")
        assert again.error == first.error and again.elapsed_s < 0.5

    def test_endless_loop_at_import_times_out_the_first_call(self, open_submission):
        session = open_submission(
            {"ops": "while True:\n    pass\ndef f():\n    return 1\n"}, limits=Limits(call_timeout_s=1)
        )
        assert call(session, "ops.f").error.kind == "timeout"

    def test_the_session_limit_bounds_all_calls_together(self, open_submission):
        session = open_submission(
            {"ops": "import time\ndef nap():\n    time.sleep(0.6)\n"},
            limits=Limits(call_timeout_s=5, session_timeout_s=1),
        )
        results = [call(session, "ops.nap") for _ in range(2)]
        assert results[0].ok and results[1].error.describe() == "did not finish in 1 s — an endless loop?"

    def test_a_long_call_gets_a_lower_priority_until_it_returns(self, open_submission, monkeypatch):
        # Endless loops spin until their limit: meanwhile other submissions' sandboxes get the CPU.
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_S", 0.3)
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_SHARE", 0.0)
        session = open_submission(
            {
                "ops": (
                    "import os, time\ndef niceness_after(seconds):\n    time.sleep(seconds)\n"
                    "    return os.getpriority(os.PRIO_PROCESS, 0)\n"
                )
            }
        )
        assert call(session, "ops.niceness_after", 0.0).value["result"] == 0
        assert call(session, "ops.niceness_after", 1.0).value["result"] == sandbox_session.DEMOTED_NICENESS
        if os.geteuid() == 0:  # raising a priority back needs root; otherwise the session stays lowered
            assert call(session, "ops.niceness_after", 0.0).value["result"] == 0

    def test_a_sessions_limits_can_lower_its_calls_sooner(self, open_submission):
        # What the grader asks of the calls after an exercise's first timeout (AFTER_TIMEOUT_DEMOTE_S).
        session = open_submission(
            {
                "ops": "import os, time\ndef niceness_after(seconds):\n    time.sleep(seconds)\n"
                "    return os.getpriority(os.PRIO_PROCESS, 0)\n"
            },
            limits=Limits(call_timeout_s=5, session_timeout_s=20, demote_after_s=0.2),
        )
        assert call(session, "ops.niceness_after", 0.0).value["result"] == 0
        assert call(session, "ops.niceness_after", 0.6).value["result"] == sandbox_session.DEMOTED_NICENESS

    @pytest.mark.skipif(not AUTOGROUP, reason="this kernel does not group sessions for the scheduler")
    def test_a_long_call_lowers_its_sessions_scheduler_group_too(self, open_submission, monkeypatch):
        # With autogroup a process's niceness counts only within its session (the sandbox's own, setsid): an
        # endless loop lowered by setpriority alone kept a full core against two busy sandboxes.
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_S", 0.3)
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_SHARE", 0.0)
        session = open_submission({"ops": "import time\ndef nap(seconds):\n    time.sleep(seconds)\n"})

        def group_niceness() -> str:
            return Path(f"/proc/{session.pid}/autogroup").read_text().split()[-1]

        seen = []
        watcher = threading.Timer(0.8, lambda: seen.append(group_niceness()))
        watcher.start()
        assert call(session, "ops.nap", 1.3).ok
        watcher.join()
        assert seen == [str(sandbox_session.DEMOTED_NICENESS)]
        assert group_niceness() == "0"  # raising a group back needs no privilege

    def test_a_call_with_a_long_limit_is_lowered_after_a_quarter_of_it(self, open_submission, monkeypatch):
        # On a busy core a lowered call gets ~1/10 of it: lowered at 4 s, a 120 s training that needs 27 s
        # (one example at a time) would time out; lowered at 30 s it ends in time.
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_S", 0.3)
        ops = (
            "import os, time\ndef niceness_after(seconds):\n    time.sleep(seconds)\n"
            "    return os.getpriority(os.PRIO_PROCESS, 0)\n"
        )
        long_limit = open_submission({"ops": ops}, limits=Limits(call_timeout_s=8, session_timeout_s=20))
        assert call(long_limit, "ops.niceness_after", 1.0).value["result"] == 0  # lowered at 2 s
        short_limit = open_submission({"ops": ops}, limits=Limits(call_timeout_s=2, session_timeout_s=20))
        assert (
            call(short_limit, "ops.niceness_after", 1.0).value["result"] == sandbox_session.DEMOTED_NICENESS
        )

    def test_a_long_call_lends_its_workers_slot_until_it_ends(self, open_submission, monkeypatch):
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_S", 0.3)
        monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_SHARE", 0.0)
        events = []
        sandbox_session.lend_slot_during_long_calls(
            lambda: events.append("lent"), lambda: events.append("taken back")
        )
        try:
            session = open_submission({"ops": "import time\ndef nap(seconds):\n    time.sleep(seconds)\n"})
            call(session, "ops.nap", 0.0)
            assert events == []
            call(session, "ops.nap", 1.0)
            assert events == ["lent", "taken back"]
            session_that_hangs = open_submission(
                {"ops": "def spin():\n    while True:\n        pass\n"}, limits=Limits(call_timeout_s=1)
            )
            assert call(session_that_hangs, "ops.spin").error.kind == "timeout"
            assert events == ["lent", "taken back"] * 2
        finally:
            sandbox_session._WORKER.hooks = None

    # A lowered call on a busy machine is stopped for 90 ms of every 100 ms: at nice 10 alone an endless loop
    # ran in every gap the grading left, 0.4 of a core in the bench's class.
    SPIN = (
        "import time\ndef spin(cpu_seconds):\n    start = time.process_time()\n"
        "    while time.process_time() - start < cpu_seconds:\n        pass\n    return 42\n"
    )
    ENDLESS = "def spin():\n    while True:\n        pass\n"

    def test_a_long_call_on_a_busy_machine_is_stopped_most_of_the_time_and_still_answers(
        self, open_submission, monkeypatch
    ):
        _lowered_at_0_3_s(monkeypatch, spare_cpus=0.0)  # no core to spare
        session = open_submission({"ops": self.SPIN}, limits=Limits(call_timeout_s=8, session_timeout_s=20))
        supervisor = os.getpgid(session.pid)  # the group's leader, which reaps the init when it is killed
        with _StateWatcher(session.pid) as states, _StateWatcher(supervisor) as supervisor_states:
            result = call(session, "ops.spin", 0.5)  # 0.3 s running, then 0.2 s of CPU at a tenth: ~2.3 s
        assert result.value == {"result": 42}
        assert result.elapsed_s > 1.2
        assert states.share("T") > 0.6, states.seen
        assert supervisor_states.share("T") == 0, supervisor_states.seen
        assert _state(session.pid) != "T"  # running again once the call ended

    def test_a_long_call_runs_on_while_a_core_stands_idle(self, open_submission, monkeypatch):
        _lowered_at_0_3_s(monkeypatch, spare_cpus=1.0)
        session = open_submission({"ops": self.SPIN}, limits=Limits(call_timeout_s=8, session_timeout_s=20))
        with _StateWatcher(session.pid) as states:
            result = call(session, "ops.spin", 1.0)
        assert result.value == {"result": 42}
        assert states.share("T") < 0.3, states.seen  # a tenth of each period, to see whether it still is

    def test_a_call_stopped_when_its_limit_comes_times_out_and_its_session_ends_at_once(
        self, open_submission, monkeypatch
    ):
        _lowered_at_0_3_s(monkeypatch, spare_cpus=0.0)
        session = open_submission({"ops": self.ENDLESS}, limits=Limits(call_timeout_s=1.5))
        result = call(session, "ops.spin")
        assert result.error.describe() == "did not finish in 1.5 s — an endless loop?"
        started = time.monotonic()
        session.close()  # a supervisor left stopped would keep it waiting KILL_TIMEOUT_S
        assert time.monotonic() - started < 2
        assert not Path(f"/proc/{session.pid}").exists()

    def test_a_session_closed_while_its_call_is_stopped_ends_at_once_and_leaves_nothing(
        self, open_submission, monkeypatch
    ):
        # What Ctrl-C does: the runner closes every session while grading threads wait in their calls.
        _lowered_at_0_3_s(monkeypatch, spare_cpus=0.0)
        session = open_submission(
            {"ops": self.ENDLESS}, limits=Limits(call_timeout_s=8, session_timeout_s=20)
        )
        supervisor = os.getpgid(session.pid)
        results = []
        caller = threading.Thread(target=lambda: results.append(call(session, "ops.spin")))
        caller.start()
        time.sleep(1.0)  # lowered at 0.3 s, stopped 90 ms of every 100 since
        started = time.monotonic()
        session.close()
        caller.join(timeout=10)
        assert time.monotonic() - started < 3
        assert results and not results[0].ok
        for pid in (session.pid, supervisor):
            assert not Path(f"/proc/{pid}").exists() or _state(pid) == "Z"


def _lowered_at_0_3_s(monkeypatch, *, spare_cpus: float) -> None:
    """Calls are lowered (and held to the duty cycle) after 0.3 s; each stopped part sees ``spare_cpus``."""
    monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_S", 0.3)
    monkeypatch.setattr(sandbox_session, "DEMOTE_AFTER_SHARE", 0.0)
    monkeypatch.setattr(priority, "_spare_cpus", lambda before, after: spare_cpus)


class _StateWatcher:
    """The scheduler state (R, S, T...) of a process, sampled every 5 ms while the block runs."""

    def __init__(self, pid: int):
        self.pid, self.seen, self._done = pid, [], threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch)

    def __enter__(self) -> "_StateWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            try:
                state = _state(self.pid)
            except OSError:
                state = "gone"
            self.seen.append((round(time.monotonic() - self._started, 3), state))

    def share(self, state: str) -> float:
        """The share of the samples after the first 0.4 s (the call is lowered at 0.3 s) in ``state``."""
        later = [seen for at, seen in self.seen if at > 0.4]
        return later.count(state) / max(1, len(later))


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


@needs_linux
class TestMemoryLimit:
    @pytest.mark.parametrize(
        "allocation", ["torch.empty(20 * 2**30, dtype=torch.uint8)", "bytearray(20 * 2**30)"]
    )
    def test_allocating_20_gb_is_reported_as_out_of_memory(self, open_submission, allocation):
        session = open_submission({"ops": f"import torch\ndef hog():\n    return len({allocation})\n"})
        error = call(session, "ops.hog").error
        assert error.kind == "memory" and error.file == "ops.py"
        assert error.describe() == "ran out of memory (limit 512 MB) at ops.py line 3"

    def test_allocations_within_the_budget_succeed(self, open_submission):
        session = open_submission(
            {"ops": "import torch\ndef fill():\n    return torch.ones(75 * 2**20).numel()\n"}
        )
        assert call(session, "ops.fill").value == {"result": 75 * 2**20}  # 300 MB of float32

    def test_the_session_still_answers_after_running_out_of_memory(self, open_submission):
        session = open_submission(
            {"ops": "def hog():\n    return bytearray(20 * 2**30)\ndef ok():\n    return 1\n"}
        )
        call(session, "ops.hog")
        assert call(session, "ops.ok").value == {"result": 1}


@needs_namespaces
class TestProcessCleanup:
    def test_fork_bomb_is_bounded_and_nothing_survives_close(self, open_submission):
        session = open_submission(
            {
                "ops": """\
            import os, time
            def bomb():
                while True:
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.05)
            """
            },
            limits=Limits(call_timeout_s=2, max_processes=8, memory_mb=512),
        )
        namespace = os.readlink(f"/proc/{session.pid}/ns/pid")
        assert call(session, "ops.bomb").error.kind == "timeout"
        session.close()
        assert namespace_members(namespace) == []

    def test_setsid_double_fork_orphan_dies_with_the_session(self, open_submission):
        session = open_submission(
            {
                "ops": """\
            import os, time
            def orphan():
                if os.fork() == 0:
                    try:
                        os.setsid()  # refused by the syscall filter; the orphan must die all the same
                    except PermissionError:
                        pass
                    if os.fork() == 0:
                        time.sleep(1000)
                    os._exit(0)
                time.sleep(0.2)
                return "left behind"
            """
            }
        )
        namespace = os.readlink(f"/proc/{session.pid}/ns/pid")
        assert call(session, "ops.orphan").ok
        assert len(namespace_members(namespace)) >= 2  # the init and the sleeping orphan, at least
        session.close()
        assert namespace_members(namespace) == []

    def test_the_learner_sees_only_its_own_processes(self, open_submission):
        session = open_submission({"ops": "import os\ndef me():\n    return os.getpid()\n"})
        assert call(session, "ops.me").value == {"result": 1}


# No such path in the sandbox's own root; or, where a missing root's risk was accepted, Landlock's refusal.
DENIED = ("FileNotFoundError", "PermissionError")


class TestFilesystem:
    READER = """\
        def read(path):
            try:
                with open(path, "rb") as file:
                    return f"read {len(file.read())} bytes"
            except OSError as error:
                return type(error).__name__
        def write(path):
            try:
                with open(path, "w") as file:
                    file.write("x")
                return "written"
            except OSError as error:
                return type(error).__name__
        """

    @needs_landlock
    def test_instructor_files_cannot_be_read(self, open_submission):
        session = open_submission({"files": self.READER})
        for path in [
            REPO / "grader" / "sandbox" / "runner.py",
            REPO / "solutions" / "__init__.py",
            Path(__file__),
            REPO / "pyproject.toml",
        ]:
            assert path.exists()
            assert call(session, "files.read", str(path)).value["result"] in DENIED, path

    @needs_landlock
    def test_the_original_submission_folder_cannot_be_read(self, open_submission, tmp_path):
        session = open_submission({"files": self.READER})
        assert (
            call(session, "files.read", str(tmp_path / "submission0" / "files.py")).value["result"] in DENIED
        )
        assert call(session, "files.read", "files.py").value["result"].startswith("read ")

    @needs_landlock
    def test_writing_outside_the_scratch_folder_fails(self, open_submission, tmp_path):
        session = open_submission({"files": self.READER})
        for path in [tmp_path / "escaped.txt", "/tmp/escaped.txt", "../escaped.txt"]:
            assert call(session, "files.write", str(path)).value["result"] in (*DENIED, "OSError"), (
                path
            )  # EROFS
        assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
        assert call(session, "files.write", "notes.txt").value["result"] == "written"

    def test_only_top_level_python_modules_are_copied(self, sandbox_runner, tmp_path):
        folder = tmp_path / "submission"
        (folder / "nested").mkdir(parents=True)
        for name in [
            "softmax.py",
            "conftest.py",
            "__init__.py",
            "test_softmax.py",
            "sitecustomize.py",
            "notes.txt",
        ]:
            (folder / name).write_text("import os\ndef listing():\n    return sorted(os.listdir('.'))\n")
        (folder / "linked.py").symlink_to(REPO / "grader" / "sandbox" / "runner.py")
        with sandbox_runner.open_session(folder, limits=SMALL) as session:
            assert call(session, "softmax.listing").value["result"] == ["softmax.py"]

    def test_lazily_imported_standard_library_modules_still_load(self, open_submission):
        session = open_submission(
            {"ops": "def load():\n    import cProfile, json\n    return json.dumps([1])\n"}
        )
        assert call(session, "ops.load").value == {"result": "[1]"}

    def test_a_folder_holding_forbidden_paths_is_granted_entry_by_entry(self, tmp_path):
        for name in ["grader", "solutions", "torch", "numpy"]:
            (tmp_path / "site" / name).mkdir(parents=True)
        granted = landlock.grant_excluding(
            [tmp_path / "site"], [tmp_path / "site" / "grader", tmp_path / "site" / "solutions"]
        )
        assert granted == [tmp_path / "site" / "numpy", tmp_path / "site" / "torch"]


@needs_namespaces
class TestNetwork:
    def test_connecting_to_localhost_fails(self, open_submission):
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            session = open_submission(
                {
                    "net": """\
                import socket
                def connect(port):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        return "connected"
                    except OSError as error:
                        return type(error).__name__
                """
                }
            )
            assert call(session, "net.connect", port).value["result"] != "connected"


class TestOutputCapture:
    def test_prints_come_back_with_their_call(self, open_submission):
        session = open_submission(
            {"ops": "import sys\ndef talk(word):\n    print(word)\n    print('!', file=sys.stderr)\n"}
        )
        assert [call(session, "ops.talk", word).output for word in ("one", "two")] == ["one\n!\n", "two\n!\n"]

    def test_ten_megabytes_of_output_are_cut_to_the_bound(self, open_submission):
        session = open_submission({"ops": "def shout():\n    print('x' * 10_000_000)\n    return 'done'\n"})
        result = call(session, "ops.shout")
        assert result.value == {"result": "done"}
        kept, note = result.output.split("\n", 1)
        assert kept == "x" * SMALL.output_bytes and note == "[... 9998001 more bytes of output not shown]"

    def test_garbage_written_to_every_descriptor_fails_at_most_that_call(
        self, sandbox_runner, open_submission
    ):
        session = open_submission(
            {
                "ops": """\
            import os
            def scribble():
                for fd in range(256):
                    try:
                        os.write(fd, b"GARBAGE" + bytes(range(256)) * 16)
                    except OSError:
                        pass
                return "done"
            """
            }
        )
        result = call(session, "ops.scribble")
        assert result.ok or result.error.kind == "protocol"
        fresh = open_submission({"ops": "def ok():\n    return 1\n"})
        assert call(fresh, "ops.ok").value == {"result": 1}


class TestHostileReturnValues:
    def test_a_tensor_subclass_is_refused_with_a_clear_message(self, open_submission):
        session = open_submission(
            {
                "ops": """\
            import torch
            class MyTensor(torch.Tensor):
                pass
            def sneaky():
                return torch.ones(2).as_subclass(MyTensor)
            """
            }
        )
        error = call(session, "ops.sneaky").error
        assert error.kind == "protocol"
        assert (
            error.describe()
            == "returned a MyTensor (a torch.Tensor subclass) at result; return a plain torch.Tensor"
        )

    def test_an_object_with_a_malicious_reduce_is_never_unpickled(self, open_submission, tmp_path):
        marker = tmp_path / "pwned"
        session = open_submission(
            {
                "ops": """\
            class Evil:
                def __init__(self, path):
                    self.path = path
                def __reduce__(self):
                    return (open, (self.path, "w"))
            def evil(path):
                return {"weights": Evil(path)}
            """
            }
        )
        error = call(session, "ops.evil", str(marker)).error
        assert "returned an Evil at result['weights']" in error.describe()
        assert not marker.exists()

    def test_monkeypatching_torch_stays_inside_its_session(self, open_submission):
        patcher = open_submission(
            {
                "ops": (
                    "import torch\ndef patch():\n"
                    "    torch.add = lambda *a, **k: 42\n    return torch.add(1, 2)\n"
                )
            }
        )
        assert call(patcher, "ops.patch").value == {"result": 42}
        honest = open_submission(
            {"ops": "import torch\ndef add():\n    return torch.add(torch.tensor(1), 2)\n"}
        )
        assert call(honest, "ops.add").value["result"] == torch.tensor(3)
        assert torch.add(1, 2) == 3

    def test_the_sandbox_holds_only_libraries_and_the_harness_folder(self, open_submission):
        # An allow-list by where each loaded module came from: the interpreter's library folders, the
        # copy of the harness folder (as the package "sandbox_harness"), or the session's scratch folder.
        source = (
            "import sys\ndef files():\n"
            "    return {n: getattr(m, '__file__', None) for n, m in sys.modules.items()}\n"
        )
        session = open_submission({"ops": source})
        loaded = call(session, "ops.files").value["result"]
        paths = sysconfig.get_paths()
        libraries = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}
        harness = {path.name for path in (REPO / "grader" / "sandbox" / "harness").glob("*.py")}
        unexpected = []
        for name, file in loaded.items():
            if not isinstance(file, str) or not Path(file).is_absolute():
                continue  # built in, or made in memory (torch.ops names itself "_ops.py")
            path = Path(file).resolve()
            if name.startswith("sandbox_harness."):
                if (
                    path.name not in harness
                    or path.parent.name != "harness"
                    or path.is_relative_to(REPO / "grader")
                ):
                    unexpected.append(f"{name}: {file}")
            elif name == "submission" or name.startswith("submission."):
                if path.is_relative_to(REPO) and not path.is_relative_to(REPO / ".venv"):
                    unexpected.append(f"{name}: {file}")
            elif not any(path.is_relative_to(folder) for folder in libraries):
                unexpected.append(f"{name}: {file}")
        assert not unexpected, unexpected
        assert "sandbox_harness.child" in loaded and "torch" in loaded


class TestStandins:
    STANDINS = {
        "softmax": {"source": "def softmax(x):\n    return 'stand-in softmax'\n", "names": ["softmax"]},
        "masking": {
            "source": "from .softmax import softmax\ndef masked_attention(x):\n    return softmax(x)\n",
            "names": ["masked_attention"],
        },
    }

    def test_later_modules_import_the_stand_ins(self, open_submission):
        session = open_submission(
            {
                "softmax": (
                    "def softmax(x):\n    return 'learner softmax'\n"
                    "def helper():\n    return 'learner helper'\n"
                ),
                "masking": "raise ImportError('broken on purpose')\n",
                "multi_head": "from .masking import masked_attention\nfrom .softmax import helper\n"
                "def forward(x):\n    return [masked_attention(x), helper()]\n",
            },
            standins=self.STANDINS,
        )
        assert call(session, "multi_head.forward", 1).value == {
            "result": ["stand-in softmax", "learner helper"]
        }

    def test_stand_ins_have_no_source_file_to_read(self, open_submission):
        session = open_submission(
            {
                "multi_head": (
                    "from . import masking\ndef where():\n    return getattr(masking, '__file__', None)\n"
                )
            },
            standins=self.STANDINS,
        )
        assert call(session, "multi_head.where").value == {"result": None}

    def test_each_earlier_module_is_put_in_place_by_its_own_call_that_says_how(self, open_submission):
        session = open_submission(
            {
                "softmax": "def softmax(x):\n    return 'learner softmax'\n",
                "masking": "x = 1\nraise ValueError('left over')\n",
            },
            standins=self.STANDINS,
        )
        put = [session.call("import_earlier", {"module": name}).value["result"] for name in self.STANDINS]
        assert put == [
            {"whole": False, "why": ""},
            {"whole": True, "why": "raised ValueError at line 2 while importing (left over)"},
        ]

    def test_an_import_that_spins_times_out_at_the_calls_own_limit(self, open_submission):
        session = open_submission({"softmax": "while True:\n    pass\n"}, standins=self.STANDINS)
        started = time.monotonic()
        outcome = session.call("import_earlier", {"module": "softmax"}, timeout_s=0.5)
        assert outcome.error.kind == "timeout" and "0.5 s" in outcome.error.message
        assert time.monotonic() - started < SMALL.call_timeout_s

    def test_a_module_the_grader_names_stands_in_whole_and_never_runs(self, open_submission):
        whole = {**self.STANDINS, "softmax": {**self.STANDINS["softmax"], "whole": True}}
        session = open_submission(
            {
                "softmax": "import os\nos._exit(3)\ndef helper():\n    return 'learner helper'\n",
                "multi_head": (
                    "from .masking import masked_attention\ndef forward(x):\n    return masked_attention(x)\n"
                ),
            },
            standins=whole,
        )
        assert session.call("import_earlier", {"module": "softmax"}).value["result"]["whole"] is True
        assert call(session, "multi_head.forward", 1).value == {"result": "stand-in softmax"}

    def test_a_broken_stand_in_is_the_graders_error(self, sandbox_runner, tmp_path):
        with pytest.raises(SandboxError, match="stand-in failed"):
            sandbox_runner.open_session(tmp_path, standins={"softmax": {"source": "1/0", "names": []}})


class TestConcurrency:
    def test_two_sessions_in_two_threads_do_not_interfere(self, open_submission):
        sessions = [
            open_submission({"ops": f"import time\ndef who():\n    time.sleep(0.3)\n    return {i}\n"})
            for i in range(2)
        ]
        answers = {}
        threads = [
            threading.Thread(target=lambda i=i: answers.update({i: call(sessions[i], "ops.who").value}))
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert answers == {0: {"result": 0}, 1: {"result": 1}}

    def test_closing_a_sessions_channels_wakes_a_worker_waiting_on_them(self):
        # A run stopped (SIGTERM) while a session starts closes that session from the main thread; the
        # worker waiting for the session's hello must end at once, not at the 30 s start deadline.
        channels = Channels()
        outcome = []

        def wait_for_hello():
            try:
                channels.status.receive({wire.TAG_INIT}, time.monotonic() + 30)
            except (ChannelClosed, ChannelTimeout) as error:
                outcome.append(type(error).__name__)

        waiting = threading.Thread(target=wait_for_hello)
        waiting.start()
        time.sleep(0.2)
        started = time.monotonic()
        channels.close()
        waiting.join(5)
        assert outcome == ["ChannelClosed"] and time.monotonic() - started < 2

    @pytest.mark.parametrize("waiting_to", ["receive", "send"])
    def test_a_socket_closed_by_another_thread_after_the_poll_reads_as_closed(self, waiting_to):
        # The race behind the test above: the poll wakes on shutdown, and the closing thread closes the
        # socket before the woken one sets its timeout, which then raised OSError (EBADF), not ChannelClosed.
        ours, theirs = socket.socketpair()
        theirs.sendall(b"x")  # something to read, so the poll reports the socket ready

        class ClosedAfterThePoll:
            def fileno(self):
                return ours.fileno()

            def settimeout(self, seconds):
                raise OSError(errno.EBADF, "Bad file descriptor")

        channel = FrameSocket(ours)
        channel.sock = ClosedAfterThePoll()
        try:
            with pytest.raises(ChannelClosed):
                if waiting_to == "receive":
                    channel.receive({wire.TAG_INIT}, time.monotonic() + 5)
                else:
                    channel.send(b"frame", time.monotonic() + 5)
        finally:
            ours.close()
            theirs.close()

    @needs_root
    def test_two_runs_at_once_never_give_a_session_the_same_uid(self, sandbox_runner, tmp_path):
        # RLIMIT_NPROC counts a uid's processes machine-wide: a shared uid would let one run's fork
        # bomb use up another run's sessions' process limit.
        folder = tmp_path / "who"
        folder.mkdir()
        (folder / "ops.py").write_text("import os\ndef uid():\n    return os.getuid()\n")
        with Runner() as second:
            uids = set()
            for runner in (sandbox_runner, second, sandbox_runner, second):
                with runner.open_session(folder, limits=SMALL) as session:
                    uids.add(call(session, "ops.uid").value["result"])
        assert len(uids) == 2 and all(uid >= uid_blocks.FIRST_UID for uid in uids)

    @needs_root
    def test_a_run_holds_its_block_of_uids_until_it_ends(self, tmp_path):
        first = uid_blocks.claim(tmp_path / "locks")
        second = uid_blocks.claim(tmp_path / "locks")
        assert second.base == first.base + uid_blocks.BLOCK_SIZE
        first.release()
        again = uid_blocks.claim(tmp_path / "locks")
        assert again.base == first.base
        with pytest.raises(ValueError):
            again.uid(uid_blocks.BLOCK_SIZE)
        again.release()
        second.release()

    @needs_root
    def test_a_lock_folder_someone_else_could_write_is_refused(self, tmp_path):
        shared = tmp_path / "locks"
        shared.mkdir(mode=0o777)
        shared.chmod(0o777)
        with pytest.raises(SandboxError, match="not a folder of this user's alone"):
            uid_blocks.claim(shared)


@needs_namespaces
@needs_landlock
@needs_root
class TestIsolationReport:
    def test_every_protection_is_active_here(self, sandbox_runner):
        report = sandbox_runner.isolation_report()
        for name in [
            "fork server",
            "pid namespace",
            "network namespace",
            "landlock",
            "rlimits",
            "identity",
            "private root",
            "syscall filter",
            "session keyring",
            "parent death signal",
        ]:
            assert report[name].startswith("active"), (name, report[name])


# --- the codec ----------------------------------------------------------------------------------


def same(a, b) -> bool:
    """Equal, with the same types all the way down, NaN equal to NaN and -0.0 distinct from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
SHAPES = [(), (0,), (3,), (2, 3), (3, 0, 2), (1, 2, 1, 2)]


def raw_message(header, buffers: bytes = b"") -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    encoded = text.encode()
    return wire.MAGIC + wire.HEADER_LENGTH.pack(len(encoded)) + encoded + buffers


def tensor_node(dtype="float32", shape=(2,), buffer=0, kind="tensor") -> dict:
    return {"type": kind, "dtype": dtype, "shape": list(shape), "buffer": buffer}


class TestWire:
    @settings(max_examples=200, deadline=None)
    @given(PLAIN)
    def test_plain_values_round_trip(self, value):
        assert same(wire.decode(wire.encode(value)), value)

    @pytest.mark.parametrize("dtype", list(wire.TORCH_DTYPES.values()), ids=str)
    @pytest.mark.parametrize("shape", SHAPES, ids=str)
    def test_tensors_round_trip_as_fresh_writable_tensors(self, dtype, shape):
        tensor = (torch.randn(shape) * 50).to(dtype)
        decoded = wire.decode(wire.encode(tensor))
        assert type(decoded) is torch.Tensor and decoded.dtype == dtype and decoded.shape == tensor.shape
        assert torch.equal(decoded, tensor)
        assert decoded.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
        decoded.zero_()

    @pytest.mark.parametrize(
        "tensor",
        [
            torch.randn(4, 6)[:, 1::2],
            torch.randn(3, 4).t(),
            torch.randn(2, 3).expand(4, 2, 3),
            torch.randn(3, requires_grad=True) * 2,
            torch.nn.Parameter(torch.randn(2)),
            torch.tensor([1 + 2j]).conj(),
        ],
        ids=["strided", "transposed", "expanded", "requires-grad", "parameter", "conjugate"],
    )
    def test_views_and_autograd_tensors_arrive_as_plain_values(self, tensor):
        decoded = wire.decode(wire.encode(tensor))
        assert type(decoded) is torch.Tensor and not decoded.requires_grad
        assert torch.equal(decoded, tensor.detach().resolve_conj())

    @pytest.mark.parametrize("dtype", list(wire.NUMPY_DTYPES), ids=str)
    @pytest.mark.parametrize("shape", SHAPES, ids=str)
    def test_numpy_arrays_round_trip(self, dtype, shape):
        array = np.asarray(np.random.default_rng(0).normal(size=shape) * 50).astype(dtype)
        decoded = wire.decode(wire.encode(array))
        assert type(decoded) is np.ndarray and decoded.dtype == array.dtype and decoded.flags.writeable
        np.testing.assert_array_equal(decoded, array)

    def test_big_endian_strided_arrays_and_numpy_scalars_round_trip(self):
        array = np.arange(12, dtype=">i4").reshape(3, 4)[:, ::2]
        np.testing.assert_array_equal(wire.decode(wire.encode(array)), array)
        scalar = wire.decode(wire.encode(np.float32(1.5)))
        assert type(scalar) is np.float32 and scalar == 1.5

    @pytest.mark.parametrize(
        "value, message",
        [
            (
                torch.ones(2).as_subclass(type("MyTensor", (torch.Tensor,), {})),
                "returned a MyTensor (a torch.Tensor subclass); return a plain torch.Tensor",
            ),
            (
                type("Evil", (), {"__reduce__": lambda self: (print, ("hi",))})(),
                "returned an Evil; return only",
            ),
            ({1: "a"}, "returned a dict with a int key; use str keys"),
            ([0, {"k": object()}], "returned an object at [1]['k']"),
            (torch.ones(2, 2).to_sparse(), "returned a sparse_coo tensor; return a dense tensor"),
            (torch.empty(2, device="meta"), "returned a meta tensor; return a dense tensor"),
            (np.array(["text"]), "returned a numpy ndarray of dtype <U4, which cannot be sent"),
            (
                torch.ones(2, dtype=torch.uint16),
                "returned a tensor of dtype torch.uint16, which cannot be sent",
            ),
        ],
        ids=["subclass", "reduce", "int-key", "object", "sparse", "meta", "numpy-str", "uint16"],
    )
    def test_encode_refuses_anything_else_and_says_what(self, value, message):
        with pytest.raises(wire.WireError) as refusal:
            wire.encode(value)
        assert message in str(refusal.value)

    @pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
    def test_encode_refuses_nested_tensors_and_cycles(self):
        nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
        with pytest.raises(wire.WireError, match="nested tensor"):
            wire.encode(nested)
        cycle = []
        cycle.append(cycle)
        with pytest.raises(wire.WireError, match="nested more than 32 levels"):
            wire.encode(cycle)

    def test_decode_rejects_every_truncation(self):
        message = wire.encode({"x": torch.arange(6.0), "y": [1, "two"]})
        for cut in range(len(message)):
            with pytest.raises(wire.WireError):
                wire.decode(message[:cut])

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\x80\x04\x95" + pickle.dumps({"a": 1})[3:],
            raw_message("not json"),
            raw_message("[1, 2]"),
            raw_message('{"root": NaN, "buffers": []}'),
            raw_message('{"root": 1, "root": 2, "buffers": []}'),
            raw_message({"root": {"type": "pickle", "data": "gASV"}, "buffers": []}),
            raw_message({"root": tensor_node(dtype="object"), "buffers": [8]}, bytes(8)),
            raw_message({"root": tensor_node(dtype="torch.float32"), "buffers": [8]}, bytes(8)),
            raw_message({"root": tensor_node(shape=(3,)), "buffers": [8]}, bytes(8)),
            raw_message({"root": tensor_node(shape=(-1,)), "buffers": [8]}, bytes(8)),
            raw_message({"root": tensor_node(shape=(True, 2)), "buffers": [8]}, bytes(8)),
            raw_message({"root": tensor_node(buffer=1), "buffers": [8]}, bytes(8)),
            raw_message({"root": [tensor_node(), tensor_node()], "buffers": [8]}, bytes(8)),
            raw_message(
                {"root": {"type": "list", "items": [tensor_node(), tensor_node()]}, "buffers": [8]}, bytes(8)
            ),
            raw_message({"root": None, "buffers": [8]}, bytes(8)),
            raw_message({"root": None, "buffers": [4]}, bytes(8)),
            raw_message({"root": tensor_node(kind="numpy_scalar", shape=(2,)), "buffers": [8]}, bytes(8)),
            raw_message({"root": None, "buffers": []}).replace(wire.MAGIC, b"\x93NOTWIRE"),
            wire.MAGIC + struct.pack("<I", 2**31) + b"{}",
        ],
        ids=[
            "empty",
            "pickle",
            "not-json",
            "json-list",
            "nan-constant",
            "duplicate-key",
            "unknown-node",
            "object-dtype",
            "foreign-dtype",
            "short-buffer",
            "negative-dim",
            "bool-dim",
            "missing-buffer",
            "raw-json-list",
            "shared-buffer",
            "unused-buffer",
            "padded",
            "scalar-shape",
            "bad-magic",
            "huge-header",
        ],
    )
    def test_decode_rejects_malformed_messages(self, data):
        with pytest.raises(wire.WireError):
            wire.decode(data)

    def test_decode_rejects_nesting_deeper_than_32(self):
        node = None
        for _ in range(33):
            node = {"type": "list", "items": [node]}
        with pytest.raises(wire.WireError, match="deeper than 32"):
            wire.decode(raw_message({"root": node, "buffers": []}))
        assert wire.decode(raw_message({"root": node["items"][0], "buffers": []})) is not None

    def test_decode_rejects_oversized_messages(self):
        message = wire.encode(torch.zeros(1000))
        with pytest.raises(wire.WireError, match="exceeds the limit"):
            wire.decode(message, max_bytes=len(message) - 1)

    def test_decode_survives_pathologically_deep_json(self):
        with pytest.raises(wire.WireError):
            wire.decode(raw_message('{"root": ' + "[" * 100_000 + "]" * 100_000 + ', "buffers": []}'))
