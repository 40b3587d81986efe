"""Is grading honest when the submission is hostile? It must score exactly what its honest part earns.

Every attack is a fixture folder ``tests/submissions/adversarial/<attack>/`` named by what it tries. Its
modules hold their attack code between the lines ``# --- attack ---`` and ``# --- end attack ---``; the
*honest twin* is the same file with those blocks removed. Where the attack tries to make wrong answers
pass, the honest part is wrong (attention scaled by d_k, nan on fully masked rows...); where the attack
can only make its own calls fail (exits, refused return values), the honest part raises at the same
calls. So a grader that grades honestly gives both twins the same score and the same status on every
check, and a successful attack shows up as a difference. Breach attacks (network, disk, files) also
answer correctly as soon as their breach works: a canary in the score.

Two folders need more than ``.py`` files: ``ships_conftest_and_sitecustomize/shipped/*.txt`` are added to
the attack version under their real names (a ``conftest.py`` kept as such here would run in the kit's own
pytest session), and ``shares_answers_through_sysv_ipc/`` holds two colluding learners.

Everything is graded once, through the real sandboxed grader: the pairs by one module-scoped fixture,
and the attacks that could break a whole run through ``python -m grader grade CLASS --out DIR`` beside the
reference. Afterwards the machine is inspected: /tmp markers, surviving processes, System V IPC objects,
instructor files, listeners the sandbox should never have reached.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import pytest

from grader.contract import EXERCISES, MODULES
from grader.results import ExerciseResult
from grader.sandbox import uid_blocks
from grader.sandbox.harness import confine, landlock
from tests.grading_helpers import (
    REPO,
    SOLUTIONS,
    SUBMISSIONS,
    changed_modules,
    grade_exercises,
    namespaces_work,
    overlay,
)

ADVERSARIAL = SUBMISSIONS / "adversarial"
ATTACK_START, ATTACK_END = "# --- attack ---", "# --- end attack ---"
SHIPPED = "shipped"  # files added to the attack version only, under their name without ".txt"
TOKEN = "adv7f3c9e"  # every marker, canary file, process name and IPC key the attacks leave starts with it
IPC_KEYS = {0x7F3C9E01, 0x7F3C9E02, 0x7F3C9E03, 0x7F3C9E04}
LISTEN_PORTS = range(47610, 47620)  # the network attack knocks on all of them
UNIX_SOCKETS = ("\0" + TOKEN + "-canary", f"/tmp/{TOKEN}-canary.sock")
SANDBOX_UIDS = range(uid_blocks.FIRST_UID, uid_blocks.FIRST_UID + uid_blocks.BLOCKS * uid_blocks.BLOCK_SIZE)
MAX_PRINTED_NOTE_CHARS = 2_000

# Graded on all seven exercises: import-time attacks must cost nothing in the exercises they do not touch.
WHOLE_SUBMISSION = ("monkeypatches_torch_comparisons", "exhausts_memory")
# Could break a whole run, or aim at the command's own output: graded by the command beside the reference.
THROUGH_THE_COMMAND = (
    "signals_the_grader",
    "writes_to_inherited_fds",
    "tampers_with_instructor_files",
    "prints_fake_test_summaries",
)
# Run only where the sandbox is complete: without it they would signal, fork-bomb or write on this machine.
NEED_FULL_SANDBOX = {
    "leaves_processes_behind",
    "signals_the_grader",
    "tampers_with_instructor_files",
    "reaches_the_network",
    "exhausts_memory",
    "hunts_the_disk_for_the_reference",
    "shares_answers_through_sysv_ipc",
    "shares_answers_through_kernel_keyrings",
    "floods_the_scratch_folder",
    "talks_to_the_instructors_sockets",
}


FULL_SANDBOX = confine.IS_LINUX and os.geteuid() == 0 and landlock.landlock_abi() >= 4 and namespaces_work()
ATTACKS = sorted(path.name for path in ADVERSARIAL.iterdir() if path.is_dir())
RUNNABLE = [a for a in ATTACKS if FULL_SANDBOX or a not in NEED_FULL_SANDBOX]
needs_full_sandbox = pytest.mark.skipif(
    not FULL_SANDBOX,
    reason="needs root, PID/network namespaces and Landlock ABI >= 4: the attacks would touch this machine",
)


# --- building the twins ---------------------------------------------------------------------------


def honest_source(source: str) -> str:
    """``source`` without its attack blocks (marker lines included)."""
    kept, inside = [], False
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker in (ATTACK_START, ATTACK_END):
            if (marker == ATTACK_START) == inside:
                raise ValueError(f"line {number}: {marker!r} out of order")
            inside = not inside
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"an {ATTACK_START!r} block is never closed")
    return "".join(kept)


def learners(attack: str) -> list[tuple[str, Path]]:
    """``(name, folder)`` of each submission of an attack: the folder, or one per subfolder (colluders)."""
    folder = ADVERSARIAL / attack
    if any(folder.glob("*.py")):
        return [(attack, folder)]
    return [
        (f"{attack}/{sub.name}", sub)
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and any(sub.glob("*.py"))
    ]


def build(fixture: Path, target: Path, *, attack: bool) -> Path:
    """The reference with the fixture's modules laid over it: as written (attack) or without attack blocks."""
    overlay(fixture, target)
    if not attack:
        for module in fixture.glob("*.py"):
            (target / module.name).write_text(honest_source(module.read_text()))
    elif (fixture / SHIPPED).is_dir():
        for shipped in (fixture / SHIPPED).glob("*.txt"):
            shutil.copy(shipped, target / shipped.name.removesuffix(".txt"))
    return target


# --- evidence on this machine ---------------------------------------------------------------------


def pwned_markers() -> set[str]:
    return {str(path) for path in Path("/tmp").glob("*-pwned")}


def tree_digest(root: Path, skip=("__pycache__",)) -> dict[str, str]:
    digest = {}
    for path in sorted(root.rglob("*")):
        if any(part in skip for part in path.relative_to(root).parts):
            continue
        relative = str(path.relative_to(root))
        if path.is_symlink():
            digest[relative] = "link -> " + os.readlink(path)
        elif path.is_file():
            digest[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            digest[relative] = "folder"
    return digest


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def attack_traces(root: Path, changed: list[str]) -> list[str]:
    """The changes an attack made: the repository is edited by others while this runs, but attacks only ever
    add files named after TOKEN or write TOKEN into what they touch."""
    traces = []
    for name in changed:
        path = root / name
        if TOKEN in name or (
            path.is_file() and not path.is_symlink() and TOKEN.encode() in path.read_bytes()
        ):
            traces.append(name)
    return traces


def canary_paths() -> list[Path]:
    """Paths named like the tampering attack's canaries, in the repository and next to the interpreter."""
    roots = [REPO / name for name in ("solutions", "grader", "tests", "exercises", "examples")]
    found = [p for root in roots if root.exists() for p in root.rglob(f"*{TOKEN}*")]
    found += list(REPO.glob(f"*{TOKEN}*"))
    for site in {Path(p) for p in sys.path if p.endswith("site-packages")}:
        found += list(site.glob(f"*{TOKEN}*"))
    return sorted(found)


def _status(pid: str) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def surviving_sandbox_processes() -> list[str]:
    """Processes an attack left: named like them, or running as a sandbox uid outside any live fork server."""
    survivors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = _status(pid)
            uid = int(status["Uid"].split()[0])
            if status["Name"] != TOKEN and uid not in SANDBOX_UIDS:
                continue
            ancestor, owned_by_a_live_grader = status["PPid"], False
            while ancestor not in ("0", "1") and status["Name"] != TOKEN:
                if b"serve_zygote" in Path(f"/proc/{ancestor}/cmdline").read_bytes():
                    owned_by_a_live_grader = True  # another run's session, alive and well
                    break
                ancestor = _status(ancestor)["PPid"]
            if not owned_by_a_live_grader:
                survivors.append(f"pid {pid} ({status['Name']}, uid {uid}, state {status['State']})")
        except (OSError, KeyError, ValueError):
            continue  # it ended while we looked
    return survivors


def kernel_key_users(uids) -> dict[int, str]:
    """The uids among ``uids`` that own kernel keys now, with /proc/key-users' line for each."""
    found = {}
    for line in Path("/proc/key-users").read_text().splitlines():
        uid = int(line.split(":")[0])
        if uid in uids:
            found[uid] = line.strip()
    return found


@dataclass
class IpcObject:
    kind: str  # shm | msg | sem
    key: int
    ident: int
    cuid: int


def sandbox_ipc_objects() -> list[IpcObject]:
    """System V IPC objects created by a sandbox uid (or with an attack's key), from /proc/sysvipc."""
    found = []
    for kind in ("shm", "msg", "sem"):
        path = Path("/proc/sysvipc") / kind
        if not path.exists():
            continue
        header, *rows = path.read_text().splitlines()
        columns = header.split()
        for row in rows:
            values = dict(zip(columns, row.split()))
            key, ident, cuid = (
                int(values["key"]),
                int(values[{"shm": "shmid", "msg": "msqid", "sem": "semid"}[kind]]),
                int(values["cuid"]),
            )
            if cuid in SANDBOX_UIDS or key in IPC_KEYS:
                found.append(IpcObject(kind, key, ident, cuid))
    return found


def remove_ipc_objects(objects: list[IpcObject]) -> None:
    """Remove what an attack left (IPC_RMID), so this machine keeps no leaked shared memory."""
    libc = ctypes.CDLL(None, use_errno=True)
    for obj in objects:
        if obj.kind == "shm":
            libc.shmctl(obj.ident, 0, None)
        elif obj.kind == "msg":
            libc.msgctl(obj.ident, 0, None)
        else:
            libc.semctl(obj.ident, 0, 0)


class Listeners:
    """Loopback TCP and UDP on the first free port of LISTEN_PORTS, and two unix sockets.

    No sandbox may reach them.
    """

    def __init__(self):
        self.sockets: list[socket.socket] = []
        self.bound_paths: list[str] = []  # only these are ours to remove: another run may hold the rest
        for port in LISTEN_PORTS:
            try:
                tcp = socket.create_server(("127.0.0.1", port))
            except OSError:
                continue
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", port))
            self.sockets += [tcp, udp]
            break
        for address in UNIX_SOCKETS:
            if not address.startswith("\0") and os.path.exists(address):
                os.unlink(address)
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                unix.bind(address)
            except OSError:  # another run holds it: that run watches it
                unix.close()
                continue
            unix.listen()
            if not address.startswith("\0"):
                self.bound_paths.append(address)
                os.chmod(
                    address, 0o777
                )  # anyone may connect: only the sandbox's own root keeps it out of reach
            self.sockets.append(unix)

    def reached(self) -> list[str]:
        """What arrived: one line per connection or datagram."""
        arrivals = []
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                if sock.type == socket.SOCK_DGRAM:
                    data, sender = sock.recvfrom(4096)
                    arrivals.append(f"a datagram on {sock.getsockname()} from {sender}: {data[:80]!r}")
                else:
                    connection, sender = sock.accept()
                    connection.close()
                    arrivals.append(f"a connection to {sock.getsockname()!r} from {sender!r}")
            except (BlockingIOError, InterruptedError):
                pass
        return arrivals

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        for path in self.bound_paths:
            Path(path).unlink(missing_ok=True)


def watched_folders() -> dict[str, Path]:
    return {"solutions": SOLUTIONS, "grader": REPO / "grader", "examples/class": REPO / "examples" / "class"}


# --- the graded run -------------------------------------------------------------------------------


@dataclass
class Run:
    results: dict[str, dict[str, ExerciseResult]]
    built_before: dict[str, dict[str, str]]
    folders_before: dict[str, dict[str, str]]
    markers_before: set[str]
    listeners: Listeners
    command: subprocess.CompletedProcess
    out: Path
    keys_before: dict[int, str]

    def pair(self, learner: str, module: str) -> tuple[ExerciseResult, ExerciseResult]:
        return self.results[f"{learner}::attack"][module], self.results[f"{learner}::honest"][module]

    def honest_row(self, attack: str) -> dict[str, float]:
        """The command's row for an attack: its honest twin's score where it differs, full marks elsewhere."""
        (learner, folder), *_ = learners(attack)
        scores = {e.module: float(e.points) for e in EXERCISES}
        for module in changed_modules(folder):
            scores[module] = self.results[f"{learner}::honest"][module].score
        return scores


def jobs_for(tmp: Path) -> list[tuple[str, Path, list[str]]]:
    jobs = []
    for attack in RUNNABLE:
        for learner, folder in learners(attack):
            modules = changed_modules(folder)
            everything = list(MODULES) if attack in WHOLE_SUBMISSION else modules
            slug = learner.replace("/", "--")
            jobs.append(
                (f"{learner}::attack", build(folder, tmp / f"{slug}--attack", attack=True), everything)
            )
            jobs.append((f"{learner}::honest", build(folder, tmp / f"{slug}--honest", attack=False), modules))
    # Longest first so the two workers finish together; the colluding copier after its publisher.
    jobs.sort(key=lambda job: ("copier" in job[0], -len(job[2]), "classifier" not in job[2]))
    return jobs


def class_for(tmp: Path) -> Path:
    """A class folder: the run-breaking attacks and the reference, each a submission."""
    for attack in THROUGH_THE_COMMAND:
        if attack in RUNNABLE:
            build(ADVERSARIAL / attack, tmp / attack, attack=True)
    shutil.copytree(SOLUTIONS, tmp / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp


def grade_by_command(klass: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory, warm_runner):
    """Every attack and its honest twin, graded in one ``grade_exercises`` call; then the class, by CLI."""
    tmp = tmp_path_factory.mktemp("adversarial")
    remove_ipc_objects(
        [obj for obj in sandbox_ipc_objects() if obj.key in IPC_KEYS]
    )  # left by an earlier run
    markers_before = pwned_markers()
    folders_before = {name: tree_digest(path) for name, path in watched_folders().items()}
    jobs = jobs_for(tmp / "pairs")
    klass = class_for(tmp / "command" / "class")
    built = [folder for _, folder, _ in jobs] + sorted(klass.iterdir())
    built_before = {str(folder): tree_digest(folder) for folder in built}
    listeners = Listeners()
    keys_before = kernel_key_users(SANDBOX_UIDS)
    try:
        results = grade_exercises(jobs, runner=warm_runner)
        command = grade_by_command(klass, tmp / "command" / "out")
        out = tmp / "command" / "out"
        yield Run(results, built_before, folders_before, markers_before, listeners, command, out, keys_before)
    finally:
        listeners.close()
        remove_ipc_objects([obj for obj in sandbox_ipc_objects() if obj.key in IPC_KEYS])
        for path in canary_paths():  # only ever new files named after TOKEN: remove what a breach left
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def first_line(check) -> str:
    if check is None:
        return "missing"
    return f"{check.status} {check.score:g}: {check.message.splitlines()[0][:160] if check.message else ''}"


def differences(module: str, attack: ExerciseResult, honest: ExerciseResult) -> list[str]:
    """One entry per check whose name, status or score differs between the twins."""
    lines = []
    for mine, twin in zip_longest(attack.checks, honest.checks):
        if (
            mine is None
            or twin is None
            or (mine.name, mine.status, mine.score) != (twin.name, twin.status, twin.score)
        ):
            name = (mine or twin).name
            lines.append(
                f"  {module}.{name}\n    honest twin  {first_line(twin)}\n    attack       {first_line(mine)}"
            )
    return lines


# --- the corpus itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_module_marks_its_attack_and_leaves_a_working_honest_twin(attack):
    """Does each module hold at least one attack block, and is the rest a module that compiles?"""
    for learner, folder in learners(attack):
        for module in folder.glob("*.py"):
            source = module.read_text()
            honest = honest_source(source)
            assert honest != source, f"{learner}/{module.name}: no {ATTACK_START!r} block"
            compile(honest, str(module), "exec")
            compile(source, str(module), "exec")


def test_no_shipped_file_is_a_python_file_the_kits_own_pytest_would_import():
    """Is every conftest.py-like payload stored as .txt, so that only the built attack submission holds it?"""
    stray = [
        p
        for p in ADVERSARIAL.rglob("*.py")
        if p.name in ("conftest.py", "sitecustomize.py", "usercustomize.py", "__init__.py")
    ]
    assert stray == []


# The harness runs in the learner's process, so rewriting it there can only spoil that submission's own
# replies; the grader then refuses the incomplete replies, which costs points rather than scoring them.
TAMPERS_WITH_THE_HARNESS = {"rewrites_the_harness_in_its_process"}

# --- scores ---------------------------------------------------------------------------------------


class TestScores:
    @pytest.mark.parametrize("attack", [a for a in ATTACKS if a not in TAMPERS_WITH_THE_HARNESS])
    def test_attack_scores_exactly_what_its_honest_part_earns(self, run, attack):
        """Per exercise and per check, does the attack get the score and status of its honest twin?"""
        if attack not in RUNNABLE:
            pytest.skip("needs the complete sandbox (root, namespaces, Landlock)")
        report = []
        for learner, folder in learners(attack):
            for module in changed_modules(folder):
                mine, twin = run.pair(learner, module)
                lines = differences(module, mine, twin)
                if lines or mine.score != twin.score:
                    report.append(
                        f"{learner}: {module} attack {mine.score:g} vs honest {twin.score:g}"
                        f" of {mine.max_score:g}"
                    )
                    report += lines
        assert not report, "the attack changed its grade:\n" + "\n".join(report)

    @pytest.mark.parametrize("attack", sorted(TAMPERS_WITH_THE_HARNESS))
    def test_rewriting_the_harness_gains_nothing_and_is_named(self, run, attack):
        """Code that rewrites the sandbox's task harness in its own process: no check gains.

        Each check it spoils says so.
        """
        if attack not in RUNNABLE:
            pytest.skip("needs the complete sandbox (root, namespaces, Landlock)")
        for learner, folder in learners(attack):
            for module in changed_modules(folder):
                mine, twin = run.pair(learner, module)
                for got, honest in zip(mine.checks, twin.checks, strict=True):
                    assert got.score <= honest.score, (
                        f"{module}.{got.name} gained {got.score - honest.score:g}"
                    )
                    if got.status != honest.status:
                        assert "was the grader's harness altered?" in got.message, got.message

    @pytest.mark.parametrize("attack", WHOLE_SUBMISSION)
    def test_every_other_exercise_keeps_full_marks(self, run, attack):
        """Do import-time attacks in one module leave every other exercise (the reference's) at full marks?"""
        if attack not in RUNNABLE:
            pytest.skip("needs the complete sandbox (root, namespaces, Landlock)")
        (learner, folder), *_ = learners(attack)
        graded = run.results[f"{learner}::attack"]
        short = {
            module: [
                f"{check.name}: {first_line(check)}" for check in result.checks if check.status != "passed"
            ]
            for module, result in graded.items()
            if module not in changed_modules(folder) and result.score != result.max_score
        }
        assert short == {}


# --- the command ----------------------------------------------------------------------------------


def command_rows(run: Run) -> dict[str, dict[str, str]]:
    with (run.out / "grades.csv").open(newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


@needs_full_sandbox
class TestCommand:
    def test_the_run_completes_and_the_reference_still_scores_100(self, run):
        """With the run-breaking attacks in the class, does the command finish and give the reference 100?"""
        assert run.command.returncode == 0, run.command.stderr[-3000:]
        rows = command_rows(run)
        assert set(rows) == {*THROUGH_THE_COMMAND, "reference"}
        assert rows["reference"]["total"] == "100", rows["reference"]

    @pytest.mark.parametrize("attack", THROUGH_THE_COMMAND)
    def test_the_attacks_row_equals_its_honest_twin(self, run, attack):
        """Does the gradebook give the attack its honest twin's points in every column?"""
        row = command_rows(run)[attack]
        expected = run.honest_row(attack)
        got = {module: float(row[module]) for module in MODULES}
        assert got == expected and float(row["total"]) == sum(expected.values()), (got, expected)

    def test_no_forged_line_reaches_the_gradebook_or_the_progress_output(self, run):
        """Are the gradebook's rows and the progress lines exactly one per submission, with no forged ones?"""
        with (run.out / "grades.csv").open(newline="") as handle:
            lines = handle.read().splitlines()
        assert len(lines) == 1 + len(THROUGH_THE_COMMAND) + 1, lines[:10]
        progress = [line for line in run.command.stderr.splitlines() if re.match(r"^\[\d+/\d+\] ", line)]
        assert len(progress) == len(THROUGH_THE_COMMAND) + 1, progress[:10]
        results = json.loads((run.out / "results.json").read_text())
        assert sorted(s["submission"] for s in results["submissions"]) == sorted(
            [*THROUGH_THE_COMMAND, "reference"]
        )
        assert len(list((run.out / "feedback").glob("*.md"))) == len(THROUGH_THE_COMMAND) + 1
        assert not list(run.out.rglob(f"*{TOKEN}*"))

    def test_printed_markup_is_escaped_in_html_feedback(self, run):
        """Does a script tag the submission printed appear in HTML feedback only escaped?"""
        raw = f'<script>alert("{TOKEN}")</script>'
        assert [
            str(page) for page in run.out.rglob("*.htm*") if raw in page.read_text(errors="replace")
        ] == []


# --- what is left on the machine afterwards --------------------------------------------------------


class TestAftermath:
    def test_no_pwned_marker_exists(self, run):
        """Did no pickle, shadow module, .pth or breach ever run its payload outside the sandbox?"""
        assert sorted(pwned_markers() - run.markers_before) == []
        assert sorted(m for m in pwned_markers() if TOKEN in m) == []

    @needs_full_sandbox
    def test_no_sandbox_process_survives(self, run):
        """Once grading is over, is every process an attack started gone (double forks and fork bombs too)?"""
        deadline = time.monotonic() + 5
        while surviving_sandbox_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert surviving_sandbox_processes() == []

    @needs_full_sandbox
    def test_no_system_v_ipc_object_outlives_the_sandbox(self, run):
        """Is no shared memory, message queue or semaphore made inside a sandbox left on the machine?"""
        left = sandbox_ipc_objects()
        assert [f"{o.kind} key {o.key:#x} id {o.ident} made by uid {o.cuid}" for o in left] == []

    @needs_full_sandbox
    def test_no_kernel_key_is_left_by_a_sandbox_uid(self, run):
        """Does no sandbox uid own a kernel key (a keyring or a key) that it did not own before grading?

        Before; not none: a uid's user keyrings live as long as the machine, so keys an older grader let
        a sandbox make are still counted here.
        """
        assert kernel_key_users(SANDBOX_UIDS) == run.keys_before

    def test_instructor_files_are_unchanged(self, run):
        """Do solutions/, grader/ and the example class hold nothing an attack wrote, and no canary at all?"""
        traces = {}
        for name, root in watched_folders().items():
            found = attack_traces(root, changes(run.folders_before[name], tree_digest(root)))
            if found:
                traces[name] = found
        assert traces == {}
        assert canary_paths() == []

    def test_every_submission_folder_is_byte_for_byte_as_built(self, run):
        """Is each graded folder (the class folder given) unchanged, though attacks aimed at their own?"""
        changed = {
            folder: changes(before, tree_digest(Path(folder))) for folder, before in run.built_before.items()
        }
        assert {folder: files for folder, files in changed.items() if files} == {}

    def test_nothing_reached_the_loopback_listeners(self, run):
        """Did no connection or datagram from a sandbox reach a socket listening on this machine?"""
        assert run.listeners.reached() == []

    def test_floods_of_printed_text_are_cut_to_a_small_bound(self, run):
        """Does a submission that prints megabytes of fake summaries get only a short note in its feedback?"""
        result = run.results["prints_fake_test_summaries::attack"]["attention"]
        printed = [note for note in result.notes if note.startswith("Your code printed")]
        assert printed and all(len(note) <= MAX_PRINTED_NOTE_CHARS for note in printed), [
            len(n) for n in printed
        ]
