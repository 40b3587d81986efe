"""Graded by an ordinary user, is the sandbox as tight as under root, and are the grades the same?

Without root the grader cannot drop to a sandbox uid: the learner's code runs as the instructor's own
uid, with the instructor's supplementary groups, inside a user namespace with no capabilities. This
grades a small hostile class through ``python -m grader grade`` as uid 65534 with a supplementary
group, while unix sockets listen outside the sandbox as an ssh-agent (the user's, mode 0600), a
daemon of the user's group (root's, 0660, as docker.sock is for the docker group) and anyone's
(0777), and the grader's own session keyring holds the very key the colluding copier searches for.
The class also floods its scratch folder, and two of its learners have names that are equal once made
file names and start a spreadsheet formula. Last, a run missing a protection must refuse, as under root.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.contract import MODULES
from grader.sandbox.harness import syscall_filter
from tests.grading_helpers import REPO, SOLUTIONS, SUBMISSIONS, namespaces_work, overlay
from tests.test_adversarial import honest_source, kernel_key_users
from tests.unprivileged import NOBODY, can_switch_user, run_as

pytestmark = pytest.mark.skipif(
    not (can_switch_user() and namespaces_work()),
    reason="needs root (to become an ordinary user) and namespaces",
)
ADVERSARIAL = SUBMISSIONS / "adversarial"
GROUP = 4242  # the instructor's supplementary group, standing for "docker"
KEYCTL, ADD_KEY = syscall_filter.syscall_number("keyctl"), syscall_filter.syscall_number("add_key")
# Named for this process: test_adversarial listens on /tmp/adv7f3c9e-canary.sock from another xdist
# worker, and two owners of one path unlink each other's listener. The attack finds any of these by
# its glob of /tmp/adv7f3c9e-*.sock.
_OURS = f"/tmp/adv7f3c9e-unprivileged-{os.getpid()}"
SOCKETS = {  # path: (owner uid, group, mode)
    f"{_OURS}-agent.sock": (NOBODY, NOBODY, 0o600),
    f"{_OURS}-group.sock": (0, GROUP, 0o660),
    f"{_OURS}-anyone.sock": (0, 0, 0o777),
}
# As the grader's own key: the copier of shares_answers_through_kernel_keyrings looks for exactly this.
PLANT_KEY = (
    "import ctypes, runpy, sys\n"
    "libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long\n"
    f"assert libc.syscall({KEYCTL}, 1, None) >= 0\n"  # a session keyring of its own, gone with the process
    f"assert libc.syscall({ADD_KEY}, b'user', b'adv7f3c9e-scale', b'sqrt', 4, -3) >= 0\n"
    "sys.argv = ['grader', *sys.argv[1:]]\n"
    "runpy.run_module('grader', run_name='__main__')\n"
)


# Two copies of the reference whose names are equal once made file names, and start a spreadsheet formula.
REFERENCES = ("=SUM(1) bob", "=SUM(1)_bob")


def build_class(root: Path) -> dict[str, str]:
    """The class, and which entry each should score like: the reference, or the attacks' honest part."""
    expected = {name: REFERENCES[0] for name in REFERENCES} | {"honest_twin": "honest_twin"}
    for name in REFERENCES:
        shutil.copytree(SOLUTIONS, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    twin = overlay(ADVERSARIAL / "talks_to_the_instructors_sockets", root / "honest_twin")
    (twin / "attention.py").write_text(honest_source((twin / "attention.py").read_text()))
    for name, fixture in [
        ("sockets", ADVERSARIAL / "talks_to_the_instructors_sockets"),
        ("setup_paths", ADVERSARIAL / "finds_the_setup_paths_in_its_process"),
        ("scratch_flood", ADVERSARIAL / "floods_the_scratch_folder"),
        ("keys_1_publisher", ADVERSARIAL / "shares_answers_through_kernel_keyrings" / "publisher"),
        ("keys_2_copier", ADVERSARIAL / "shares_answers_through_kernel_keyrings" / "copier"),
    ]:
        overlay(fixture, root / name)
        expected[name] = REFERENCES[0] if "publisher" in name else "honest_twin"
    return expected


def gradebook_rows(out: Path) -> dict[str, dict[str, str]]:
    """grades.csv by entry name (a name that starts a formula is written with a leading ')."""
    with (out / "grades.csv").open(newline="") as handle:
        return {row["submission"].removeprefix("'"): row for row in csv.DictReader(handle)}


class Listening:
    def __init__(self):
        self.sockets = []
        for path, (uid, gid, mode) in SOCKETS.items():
            if os.path.exists(path):
                os.unlink(path)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen()
            listener.setblocking(False)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
            self.sockets.append((path, listener))

    def heard(self) -> list[str]:
        heard = []
        for path, listener in self.sockets:
            try:
                listener.accept()[0].close()
                heard.append(path)
            except BlockingIOError:
                pass
        return heard

    def close(self) -> None:
        for path, listener in self.sockets:
            listener.close()
            Path(path).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def graded():
    tmp = Path(tempfile.mkdtemp(prefix="kit-unprivileged-"))  # pytest's own folder is closed to other users
    os.chmod(tmp, 0o755)
    klass = tmp / "class"
    expected = build_class(klass)
    for folder in [tmp / "out", tmp / "temp", tmp / "home"]:
        folder.mkdir()
        os.chown(folder, NOBODY, NOBODY)
    for path in [klass, *klass.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    listening = Listening()
    keys_before = kernel_key_users({NOBODY})
    environment = {
        "PATH": os.defpath,
        "HOME": str(tmp / "home"),
        "TMPDIR": str(tmp / "temp"),
        "LANG": "C.UTF-8",
    }
    try:
        run = run_as(
            [sys.executable, "-c", PLANT_KEY, "grade", str(klass), "--out", str(tmp / "out"), "--jobs", "2"],
            uid=NOBODY,
            gid=NOBODY,
            groups=[GROUP],
            env=environment,
            cwd=REPO,
            timeout=600,
        )
        deadline = time.monotonic() + 10  # the kernel collects a dead session's keyring a moment later
        while kernel_key_users({NOBODY}) != keys_before and time.monotonic() < deadline:
            time.sleep(0.2)
        yield run, tmp / "out", expected, listening.heard(), keys_before, tmp / "temp"
    finally:
        listening.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_run_completes_with_every_protection(graded):
    run, out, *_ = graded
    assert run.returncode == 0, run.stderr[-3000:]
    assert "identity: active (not root: your uid 65534 in a user namespace, no capabilities)" in run.stderr
    assert "refusing" not in run.stderr


def test_each_attack_scores_what_its_honest_part_earns(graded):
    run, out, expected, *_ = graded
    rows = gradebook_rows(out)
    assert rows[REFERENCES[0]]["total"] == "100", rows[REFERENCES[0]]
    assert float(rows["honest_twin"]["attention"]) < 15
    for name, like in expected.items():
        assert [rows[name][m] for m in MODULES] == [rows[like][m] for m in MODULES], name


def test_no_socket_outside_the_sandbox_heard_from_it(graded):
    *_, heard, _, _ = graded
    assert heard == []


def test_no_kernel_key_is_left_by_the_users_sandboxes(graded):
    *_, keys_before, _ = graded
    assert kernel_key_users({NOBODY}) == keys_before


def test_the_run_leaves_no_scratch_folder(graded):
    *_, temp = graded
    assert list(temp.iterdir()) == []


def test_names_equal_as_file_names_get_their_own_files_and_no_formula(graded):
    run, out, *_ = graded
    with (out / "grades.csv").open(newline="") as handle:
        cells = [row["submission"] for row in csv.DictReader(handle)]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    documents = json.loads((out / "results.json").read_text())["submissions"]
    assert {document["submission"] for document in documents} >= set(REFERENCES)
    assert len(list((out / "feedback").glob("*.md"))) == len(cells)
    assert len(list((out / "gradescope").glob("*.json"))) == len(cells)


def test_without_a_protection_the_run_refuses_and_names_the_flag():
    klass = Path(tempfile.mkdtemp(prefix="kit-unprivileged-"))
    try:
        os.chmod(klass, 0o755)
        shutil.copytree(SOLUTIONS, klass / "reference", ignore=shutil.ignore_patterns("__pycache__"))
        for path in klass.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        out = klass / "out"
        out.mkdir()
        os.chown(out, NOBODY, NOBODY)
        environment = {
            "PATH": os.defpath,
            "HOME": str(out),
            "LANG": "C.UTF-8",
            "KIT_SANDBOX_WITHOUT": "syscall-filter",
        }
        command = [
            sys.executable,
            "-m",
            "grader",
            "grade",
            str(klass / "reference"),
            "--out",
            str(out / "grades"),
        ]
        run = run_as(command, uid=NOBODY, gid=NOBODY, groups=[GROUP], env=environment, cwd=REPO, timeout=300)
        assert run.returncode == 3, run.stderr[-2000:]
        assert "refusing to grade" in run.stderr and "--accept-risk syscall-filter" in run.stderr
        assert not (out / "grades" / "grades.csv").exists()
    finally:
        shutil.rmtree(klass, ignore_errors=True)
