"""Does a class graded on a Dask cluster get exactly the grades of this machine, whatever dies mid-run?

A ``LocalCluster`` of 2 workers grades the sample class (one learner hangs, one cheats) plus a hostile
submission that signals every process it can find (the Dask worker included, were the sandbox to let
it): results.json must be the single-machine run's, timings aside, with one worker killed while it
grades. A driver killed mid-run is started again with the same command, and every learner ends up
graded once. The answers a worker may send are checked before they are believed (``verdict.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import distributed
import pytest
from distributed import Client, LocalCluster
from distributed.security import Security

from grader.bulk import grade
from grader.cluster.address import ClusterAddress, parse_address
from grader.cluster.driver import grade_on_cluster
from grader.cluster.parcel import pack, unpack
from grader.cluster.verdict import VerdictError, read_verdict
from grader.exits import UsageError
from grader.gradebook import grader_fingerprint
from grader.intake.submission import from_folder
from grader.sandbox.module_files import MAX_SUBMISSION_BYTES, SubmissionError, read_modules
from grader.sandbox.protections import MissingProtection
from grader.settings import Settings
from tests.grading_helpers import REPO, SUBMISSIONS, namespaces_work, overlay, without_timings

needs_sandbox = pytest.mark.skipif(not namespaces_work(), reason="needs namespaces for the sandbox")
# A hanging call costs its call limit, then 1 s twice: 5 s keeps the class quick and every correct call in.
SETTINGS = Settings(call_timeout_s=5)
HOSTILE = SUBMISSIONS / "adversarial" / "signals_the_grader"
PROGRESS_LINE = re.compile(r"^\[(\d+)/(\d+)\] (.*?): ")


def graded_names(progress: str) -> list[str]:
    """The learners the progress bar says were recorded, once per record."""
    return [match.group(3) for line in progress.splitlines() if (match := PROGRESS_LINE.match(line))]


class Recorder:
    """A progress stream that keeps what it was told, and calls ``on_first_record`` once."""

    def __init__(self, on_first_record=None):
        self.text, self._on_first = "", on_first_record

    def write(self, text: str) -> int:
        self.text += text.replace("\r", "\n")
        if self._on_first is not None and any(map(PROGRESS_LINE.match, self.text.splitlines())):
            hook, self._on_first = self._on_first, None
            hook()
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cluster") / "class"
    shutil.copytree(REPO / "examples" / "class", root)
    overlay(HOSTILE, root / "gina_signals_the_grader")
    # A name that is not UTF-8 and starts a formula travels to the workers and back as itself.
    shutil.copytree(root / "carol_not_started", root / os.fsdecode(b"=hal\xff <b>not started</b>"))
    return root


@pytest.fixture(scope="module")
def on_this_machine(klass, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("one-machine")
    grade(klass, out=out, jobs=2, settings=SETTINGS, progress_stream=Recorder())
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def cluster():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        ) as local,
        Client(local) as client,
    ):
        yield local, client


@needs_sandbox
def test_a_worker_killed_mid_run_and_the_grades_are_this_machines(klass, on_this_machine, cluster, tmp_path):
    local, client = cluster
    killed: list[str] = []

    def kill_a_busy_worker() -> None:  # from the driver's thread, as the first record is written
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            busy = [worker for worker, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    progress = Recorder(on_first_record=lambda: threading.Thread(target=kill_a_busy_worker).start())
    out = tmp_path / "out"
    results = grade(
        klass,
        out=out,
        settings=SETTINGS,
        progress_stream=progress,
        cluster=ClusterAddress(scheduler=local.scheduler_address),
    )
    assert killed, "no worker was busy to be killed"
    shown = graded_names(progress.text)  # as the terminal shows them: the odd name made safe
    assert len(shown) == len(set(shown)) == len(results), progress.text
    assert results.graded_now == len(results) == 8
    on_cluster = json.loads((out / "results.json").read_text())
    assert without_timings(on_cluster) == without_timings(on_this_machine)
    assert "cluster: tcp://" in progress.text and "sandbox: syscall filter: active" in progress.text


def _http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


@needs_sandbox
def test_a_cluster_of_the_runs_own_grades_as_this_machine_behind_tls_and_quietened(
    klass, on_this_machine, tmp_path, monkeypatch
):
    """``--dask local:N``: the driver starts the cluster on this machine's loopback, where any local user
    can connect. Only a client holding this run's key gets in (Dask's tcp:// would run anyone's code as the
    instructor); its HTTP servers answer /health and nothing else (not the workers' logs); Dask's
    diagnostics are off (no profiler sampling every thread every 10 ms, no 20 ms ticks). A learner's row is
    this machine's, and the cluster is gone when the run returns."""
    seen: dict = {}

    class Watched(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            try:
                self._look()
            except BaseException:
                self.close()  # the driver never gets the cluster to close
                raise

        def _look(self):
            seen["address"], seen["cluster"] = self.scheduler_address, self
            with pytest.raises(OSError, match="TLS certificate does not match"):
                Client(self.scheduler_address, security=Security.temporary(), timeout=10)
            seen["scheduler http"] = {
                path: _http_status(self.scheduler.http_server.port, path)
                for path in ("/health", "/info/main/workers.html", "/metrics")
            }
            with Client(self, security=self.security) as client:
                (seen["worker"],) = client.run(
                    lambda dask_worker: {
                        "port": dask_worker.http_server.port,
                        "timers": {
                            name: callback.callback_time
                            for name, callback in dask_worker.periodic_callbacks.items()
                        },
                    }
                ).values()
            seen["worker http"] = {
                path: _http_status(seen["worker"]["port"], path) for path in ("/health", "/metrics")
            }

    monkeypatch.setattr(distributed, "LocalCluster", Watched)
    one = tmp_path / "class"
    shutil.copytree(klass / "alice_correct", one / "alice_correct")
    progress = Recorder()
    local = parse_address("local:1")
    (result,) = grade(one, out=tmp_path / "out", settings=SETTINGS, progress_stream=progress, cluster=local)
    # Closed while the reports were written, before grade returned.
    assert seen["cluster"].status.name == "closed"
    assert seen["address"].startswith("tls://127.0.0.1:")
    assert seen["scheduler http"] == {"/health": 200, "/info/main/workers.html": 404, "/metrics": 404}
    assert seen["worker http"] == {"/health": 200, "/metrics": 404}
    timers = seen["worker"]["timers"]
    assert "profile" not in timers and "profile-cycle" not in timers, timers
    assert min(timers["tick"], timers["monitor"], timers["memory_monitor"]) >= 1000, timers
    (row,) = json.loads((tmp_path / "out" / "results.json").read_text())["submissions"]
    (expected,) = [r for r in on_this_machine["submissions"] if r["submission"] == "alice_correct"]
    assert result.total == 100
    assert without_timings(row) == without_timings(expected)
    assert "cluster: local:1: 1 worker(s) at tls://127.0.0.1:" in progress.text


@needs_sandbox
def test_a_driver_killed_mid_run_resumes_and_grades_each_learner_once(klass, cluster, tmp_path):
    local, _ = cluster
    small = tmp_path / "class"
    small.mkdir()
    for name in ["alice_correct", "bob_partly_wrong.zip", "carol_not_started", "dave_crashing"]:
        source = klass / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, small / name)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(small), "--out", str(out)]
    command += ["--dask", local.scheduler_address, "--call-timeout", "5"]
    driver = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = []
    try:
        for line in driver.stderr:
            if PROGRESS_LINE.match(line):
                first.append(PROGRESS_LINE.match(line).group(3))
                driver.send_signal(signal.SIGKILL)
                break
    finally:
        driver.kill()
        driver.wait(timeout=30)
        driver.stderr.close()
    assert first, "the driver recorded nobody before it was killed"
    kept = len(list((out / "submissions").glob("*.json")))  # whole records only: each written atomically
    assert 1 <= kept < 4
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    second = graded_names(again.stderr)
    assert f"graded {4 - kept} submission(s) and kept {kept} already graded" in again.stderr
    assert len(second) == len(set(second)) == 4 - kept and first[0] not in second
    rows = json.loads((out / "results.json").read_text())["submissions"]
    assert sorted(row["submission"] for row in rows) == sorted(
        ["alice_correct", "bob_partly_wrong", "carol_not_started", "dave_crashing"]
    )


@needs_sandbox
def test_a_submission_whose_files_cannot_be_read_gets_its_row_and_the_others_are_graded(
    cluster, tmp_path, monkeypatch
):
    local, _ = cluster
    klass = tmp_path / "class"
    for name in ["alice_correct", "carol_not_started"]:
        shutil.copytree(REPO / "examples" / "class" / name, klass / name)
    real_pack = pack

    def pack_or_fail(submission):
        if submission.name == "carol_not_started":
            raise PermissionError(13, "Permission denied", str(submission.folder / "softmax.py"))
        return real_pack(submission)

    monkeypatch.setattr("grader.cluster.driver.pack", pack_or_fail)
    results = grade(
        klass,
        out=tmp_path / "out",
        settings=SETTINGS,
        progress_stream=Recorder(),
        cluster=ClusterAddress(scheduler=local.scheduler_address),
    )
    by_name = {result.submission: result for result in results}
    assert by_name["alice_correct"].total == 100
    carol = by_name["carol_not_started"]
    assert carol.total == 0 and all(check.status == "error" for e in carol.exercises for check in e.checks)
    assert "PermissionError" in carol.exercises[0].checks[0].message


def grade_alice_on(local, out: Path):
    """Grade the sample class's alice_correct on the cluster ``local`` into ``out``."""
    return grade(
        REPO / "examples" / "class" / "alice_correct",
        out=out,
        settings=SETTINGS,
        progress_stream=Recorder(),
        cluster=ClusterAddress(scheduler=local.scheduler_address),
    )


@needs_sandbox
def test_a_worker_without_a_protection_refuses_and_the_run_stops_naming_it(cluster, tmp_path):
    local, client = cluster
    # Read as each worker starts its runner. A lambda travels by value and finds the worker's os.environ (a
    # bound method of this process's os.environ would carry a copy of it).
    client.run(lambda: os.environ.__setitem__("KIT_SANDBOX_WITHOUT", "syscall-filter"))
    try:
        with pytest.raises(MissingProtection, match=r"(?s)on worker tcp://.*syscall filter"):
            grade_alice_on(local, tmp_path / "out")
        assert not list((tmp_path / "out" / "submissions").glob("*.json"))
    finally:
        client.run(lambda: os.environ.pop("KIT_SANDBOX_WITHOUT", None))


@needs_sandbox
def test_a_sandbox_that_lacks_a_protection_mid_run_stops_the_run(cluster, tmp_path):
    local, client = cluster

    def lose_landlock() -> None:  # on each worker: every later sandbox refuses, as open_session would
        import grader.cluster.one_submission as task
        from grader.sandbox.protections import MissingProtection

        def refuses(*args, **kwargs):
            raise MissingProtection({"landlock": "unavailable: the kernel lost it"})

        task.real_grade_exercise_confined = task.grade_exercise_confined
        task.grade_exercise_confined = refuses

    def mend() -> None:
        import grader.cluster.one_submission as task

        task.grade_exercise_confined = task.real_grade_exercise_confined

    client.run(lose_landlock)
    try:
        with pytest.raises(MissingProtection, match=r"(?s)on worker tcp://.*landlock: unavailable"):
            grade_alice_on(local, tmp_path / "out")
    finally:
        client.run(mend)


def test_a_worker_with_another_grader_refuses_and_the_run_is_a_usage_error(cluster):
    local, _ = cluster
    with pytest.raises(UsageError, match="runs another version of the grader"):
        grade_on_cluster(
            [from_folder(REPO / "examples" / "class" / "alice_correct", name="alice_correct")],
            ClusterAddress(scheduler=local.scheduler_address),
            settings=SETTINGS,
            grader="0" * 16,
            forbidden_paths=[],
            record=pytest.fail,
            announce=pytest.fail,
            say=lambda line: None,
        )


# --- what a worker may answer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def answer(on_this_machine) -> dict:
    """A well-formed answer about alice, built from the single-machine run's result."""
    (result,) = [r for r in on_this_machine["submissions"] if r["submission"] == "alice_correct"]
    return {"grader": grader_fingerprint(), "protections": on_this_machine["protections"], "result": result}


def read(document: dict, accepted=()):
    return read_verdict(
        json.dumps(document), name="alice_correct", grader=grader_fingerprint(), accepted=accepted
    )


def test_a_whole_answer_is_read_back_as_the_result(answer):
    result, protections = read(answer)
    assert result.total == answer["result"]["total"] == 100
    assert protections == answer["protections"]


@pytest.mark.parametrize(
    "spoil, why",
    [
        (lambda a: a["result"].update(submission="bob_partly_wrong"), "the submission it names"),
        (lambda a: a.update(grader="0" * 16), "another version of the grader"),
        (lambda a: a["result"]["exercises"].pop(), "its exercises"),
        (lambda a: a["result"]["exercises"][0]["checks"].pop(), "its checks"),
        (lambda a: a["result"]["exercises"][1].update(max_score=99), "its name, number or points"),
        (lambda a: a["result"]["exercises"][0]["checks"][0].update(status="failed"), "a score its status"),
        (lambda a: a["result"]["exercises"][0]["checks"][0].update(max_score=50, score=50), "points"),
        (lambda a: a["result"]["exercises"][0]["checks"][0].update(name="forged"), "its name or title"),
        (lambda a: a["result"]["exercises"][0]["checks"][0].update(message=["x"]), "message or hint"),
        (lambda a: a["result"]["exercises"][0]["checks"][0].update(extra=1), "its fields"),
        (lambda a: a["result"]["exercises"][0].update(elapsed_s=float("nan")), "its notes or time"),
        (lambda a: a["result"].update(notes="a string"), "its notes"),
        (lambda a: a.update(more=1), "its keys"),
    ],
)
def test_a_malformed_answer_is_refused_naming_what_is_wrong(answer, spoil, why):
    spoilt = json.loads(json.dumps(answer))
    spoil(spoilt)
    with pytest.raises(VerdictError, match=re.escape(why)):
        read(spoilt)


@pytest.mark.parametrize("text", [b"{}", "not json", "x" * (64 << 20 + 1), None])
def test_an_answer_that_is_not_json_text_is_refused(text):
    with pytest.raises(VerdictError):
        read_verdict(text, name="alice_correct", grader=grader_fingerprint())


def test_an_answer_from_a_sandbox_without_a_protection_stops_the_run_unless_its_risk_is_accepted(answer):
    weaker = json.loads(json.dumps(answer))
    weaker["protections"]["syscall filter"] = "unavailable: no libseccomp"
    with pytest.raises(MissingProtection, match="syscall filter"):
        read(weaker)
    result, _ = read(weaker, accepted=("syscall-filter",))
    assert result.total == 100


# --- what travels to a worker ---------------------------------------------------------------------


def test_a_parcel_carries_the_modules_a_sandbox_would_get_and_nothing_else(tmp_path):
    source = tmp_path / "learner"
    overlay(SUBMISSIONS / "adversarial" / "ships_conftest_and_sitecustomize", source)
    (source / "notes.txt").write_text("not a module")
    (source / "linked.py").symlink_to(source / "softmax.py")
    parcel = pack(from_folder(source, name="learner"))
    assert sorted(parcel["modules"]) == sorted(read_modules(source))
    assert "conftest.py" not in parcel["modules"] and "linked.py" not in parcel["modules"]
    json.dumps({**parcel, "modules": sorted(parcel["modules"])})  # plain data, nothing of the driver's
    (tmp_path / "worker-copy").mkdir()
    unpacked = unpack(parcel, tmp_path / "worker-copy")
    assert {p.name: p.read_bytes() for p in unpacked.folder.iterdir()} == parcel["modules"]
    assert unpacked.name == "learner" and unpacked.problems == []


def test_a_parcel_refuses_a_module_name_that_leaves_its_folder(tmp_path):
    parcel = {"name": "x", "source_name": "x", "problems": [], "modules": {"../escape.py": b""}}
    with pytest.raises(ValueError, match="not a module file name"):
        unpack(parcel, tmp_path)


def test_an_oversized_submission_travels_cut_one_byte_past_the_limit_and_is_refused_in_the_same_words(
    tmp_path,
):
    (tmp_path / "softmax.py").write_bytes(b"#" * (MAX_SUBMISSION_BYTES + 4096))
    with pytest.raises(SubmissionError) as here:
        read_modules(tmp_path)
    parcel = pack(from_folder(tmp_path, name="big"))
    assert sum(map(len, parcel["modules"].values())) == MAX_SUBMISSION_BYTES + 1
    copy = tmp_path / "copy"
    copy.mkdir()
    with pytest.raises(SubmissionError) as there:
        read_modules(unpack(parcel, copy).folder)
    assert str(here.value) == str(there.value) and str(tmp_path) not in str(here.value)


def test_the_scheduler_holds_a_few_submissions_per_worker_thread_counted_again_as_workers_join(monkeypatch):
    from grader.cluster import driver

    class Scheduler:
        workers = {"tcp://a:1": 1}

        def nthreads(self):
            return dict(self.workers)

    now = [100.0]
    monkeypatch.setattr(driver.time, "monotonic", lambda: now[0])
    scheduler = Scheduler()
    window = driver._Window(scheduler)
    assert window.size() == driver.MIN_IN_FLIGHT  # one thread: the floor
    scheduler.workers = {f"tcp://w:{n}": 1 for n in range(16)}  # a batch job's workers join
    assert window.size() == driver.MIN_IN_FLIGHT, "counted again only after RECOUNT_S"
    now[0] += driver.RECOUNT_S
    assert window.size() == 16 * driver.IN_FLIGHT_PER_THREAD


# --- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("local:3", ClusterAddress(local_workers=3)),
        ("tcp://10.0.0.5:8786", ClusterAddress(scheduler="tcp://10.0.0.5:8786")),
        ("scheduler.example:8786", ClusterAddress(scheduler="tcp://scheduler.example:8786")),
    ],
)
def test_dask_addresses_are_read_as_instructors_write_them(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["local:0", "local:two", "", "http://x", "; rm -rf /"])
def test_a_wrong_dask_address_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--dask"):
        parse_address(text)


@pytest.mark.parametrize(
    "missing, says",
    [
        ("distributed", r'--dask needs Dask: pip install -e "\.\[cluster\]"'),
        ("cryptography", r'--dask local:1 needs cryptography .*pip install -e "\.\[cluster\]"'),
    ],
)
def test_without_the_cluster_extra_the_flag_says_how_to_install_it(monkeypatch, missing, says):
    monkeypatch.setitem(sys.modules, missing, None)  # cryptography: the local cluster's TLS key
    with pytest.raises(UsageError, match=says):
        grade_on_cluster(
            [],
            ClusterAddress(local_workers=1),
            settings=SETTINGS,
            grader="",
            forbidden_paths=[],
            record=print,
            announce=print,
            say=print,
        )


HANGING_FORWARD = """

def _endless(self, *args, **kwargs):
    while True:
        pass


MultiHeadAttention.forward = _endless
"""


@needs_sandbox
def test_a_task_grades_the_exercises_after_a_hang_while_the_hang_runs(tmp_path, warm_runner, monkeypatch):
    """A cluster task is a whole submission. When a call runs long, the task lends its worker's slot (and
    takes it back after), and the exercises not yet begun are graded meanwhile, not after the hang: a
    class's last task costs its hang, not its hang and the rest. Its result keeps the lesson's order."""
    from grader import grading
    from grader.cluster import one_submission
    from grader.contract import EXERCISES
    from grader.results import PASSED, SKIPPED, TIMEOUT
    from grader.sandbox import session

    monkeypatch.setattr(session, "DEMOTE_AFTER_S", 0.3)  # the 1.5 s calls below lend at 0.3 s
    monkeypatch.setattr(session, "DEMOTE_AFTER_SHARE", 0.0)
    monkeypatch.setattr(grading, "MAX_TIMEOUTS", 1)  # one timeout skips the exercise's other checks
    spans: dict[str, tuple[str, float, float]] = {}
    grade_exercise = one_submission.grade_exercise_confined

    def timed(submission, exercise, *args):
        started = time.monotonic()
        try:
            return grade_exercise(submission, exercise, *args)
        finally:
            spans[exercise.module] = (threading.current_thread().name, started, time.monotonic())

    monkeypatch.setattr(one_submission, "grade_exercise_confined", timed)
    folder = tmp_path / "hangs_in_multi_head"
    shutil.copytree(REPO / "solutions", folder, ignore=shutil.ignore_patterns("__pycache__"))
    with (folder / "multi_head.py").open("a") as module:
        module.write(HANGING_FORWARD)
    slot: list[str] = []
    result = one_submission.grade_one_submission(
        from_folder(folder),
        warm_runner,
        Settings(call_timeout_s=1.5),
        [],
        lend=lambda: slot.append("lent"),
        take_back=lambda: slot.append("taken back"),
    )
    assert [e.module for e in result.exercises] == [e.module for e in EXERCISES]
    statuses = {e.module: {c.status for c in e.checks} for e in result.exercises}
    assert TIMEOUT in statuses["multi_head"], statuses
    others = [statuses[e.module] for e in EXERCISES if e.module != "multi_head"]
    assert all(status <= {PASSED, SKIPPED} for status in others), statuses
    assert slot and slot == ["lent", "taken back"] * (len(slot) // 2), slot
    _, hang_started, hang_ended = spans["multi_head"]
    meanwhile = {module: span for module, span in spans.items() if span[0] == "grading-during-a-long-call"}
    assert "encoder" in meanwhile and set(meanwhile) <= {"encoder", "classifier"}, spans  # what came after
    assert hang_started < meanwhile["encoder"][1] < hang_ended, spans  # begun during the hang, not after


@needs_sandbox
def test_a_run_on_a_cluster_of_its_own_leaves_no_sandbox_behind():
    """Its workers are forked from multiprocessing's fork server and end with ``os._exit``, which runs no
    ``atexit`` handler: each worker's fork server and scratch folder must go all the same."""
    scratch = Path(tempfile.mkdtemp())  # short: the fork server's socket lies under it
    try:
        command = [
            sys.executable,
            "-m",
            "grader",
            "grade",
            str(REPO / "examples" / "class" / "alice_correct"),
        ]
        command += ["--out", str(scratch / "out"), "--dask", "local:1", "--call-timeout", "5"]
        driver = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "TMPDIR": str(scratch)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        fork_server = False
        while not fork_server and driver.poll() is None:
            fork_server = any("multiprocessing.forkserver" in child for child in _children(driver.pid))
            time.sleep(0.05)
        _, progress = driver.communicate(timeout=300)
        assert driver.returncode == 0, progress[-3000:]
        assert fork_server, "the run's workers were not forked from a fork server"
        assert "alice_correct: 100/100" in progress, progress[-3000:]
        left = [path.name for path in scratch.iterdir() if path.name.startswith("grader-sandbox-")]
        assert left == []
        alive = subprocess.run(["pgrep", "-f", str(scratch)], capture_output=True, text=True)
        assert alive.stdout == "", "a fork server of the run outlived it"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _children(pid: int) -> list[str]:
    """The command lines of ``pid``'s child processes."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append((entry / "cmdline").read_text().replace("\0", " "))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_where_the_fork_server_cannot_start_the_workers_start_as_fresh_interpreters(monkeypatch):
    """A TMPDIR deep enough makes the fork server's socket path too long for the kernel."""
    from multiprocessing import forkserver

    from grader.cluster import local

    monkeypatch.setattr(local, "_SERVER_ENVIRONMENT", [])

    def too_long():
        raise OSError("AF_UNIX path too long")

    monkeypatch.setattr(forkserver, "ensure_running", too_long)
    local.start_fork_server()
    assert local._start_method() == "spawn"


def test_a_local_cluster_forks_its_workers_only_from_a_server_with_this_processs_environment(monkeypatch):
    """The fork server keeps the environment it started with; a worker reads its own (where the sandbox's
    scratch folders go, which protections a test turned off). Once this process's has changed, a new
    cluster's workers start as fresh interpreters instead."""
    from grader.cluster import local

    monkeypatch.setattr(local, "_SERVER_ENVIRONMENT", [])
    local.start_fork_server()
    assert local._start_method() == "forkserver"
    monkeypatch.setenv("KIT_SANDBOX_WITHOUT", "syscall-filter")
    assert local._start_method() == "spawn"


def test_no_fork_server_where_any_local_user_could_connect_to_it(monkeypatch):
    """Before Python 3.10.9 multiprocessing's fork server listened on a Linux abstract socket, open to every
    local user, and unpickled what they sent (CVE-2022-42919). There the workers start as fresh
    interpreters."""
    from multiprocessing import connection, forkserver

    from grader.cluster import local

    monkeypatch.setattr(local, "_SERVER_ENVIRONMENT", [])
    monkeypatch.setattr(connection, "arbitrary_address", lambda family: "\0listener-1-1")
    started = []
    monkeypatch.setattr(forkserver, "ensure_running", lambda: started.append(1))
    local.start_fork_server()
    assert started == [] and local._start_method() == "spawn"


@needs_sandbox
def test_the_fork_server_a_worker_starts_as_it_starts_is_the_one_its_plugin_adopts(monkeypatch):
    from grader.cluster import worker
    from grader.sandbox import forkserver

    monkeypatch.setattr(worker, "_STARTED", [])
    monkeypatch.setattr(worker, "_WARM", [])
    worker.dask_setup(None)
    (started,) = worker._STARTED
    launches = []
    monkeypatch.setattr(forkserver, "launch_in_new_workdir", lambda: launches.append(1))
    runner = worker._warm_runner(())
    try:
        assert worker._STARTED == [] and launches == []
        assert runner.isolation_report()  # the adopted fork server answers
        assert worker._warm_runner(()) is runner  # and is kept for the next run
    finally:
        runner.close()
    assert not started.folder.path.exists()


def test_the_driver_starts_its_cluster_before_it_imports_pytorch():
    """On a LocalCluster the driver's own import of PyTorch would hold up the workers' start on the same
    cores: it waits for the first answer, whose checks need it."""
    probe = (
        "import sys, grader.cli, grader.bulk, grader.cluster.driver, grader.cluster.local, "
        "grader.cluster.parcel, grader.cluster.verdict; print('torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_the_single_machine_path_never_imports_dask():
    probe = (
        "import sys, grader.cli, grader.bulk, grader.grading, grader.sandbox.runner; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('distributed', 'dask') "
        "or m.startswith('grader.cluster.') and m != 'grader.cluster.arguments'))"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
