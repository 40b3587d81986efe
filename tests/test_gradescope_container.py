"""On Gradescope, without namespaces or Landlock, is the reference beside the learner's code out of reach?

A Gradescope container holds the autograder's files (solutions/, grader/, tests/) next to one learner's
submission and usually grants no namespaces. This lays out such a container's /autograder/source from
the zip that ``python -m grader autograder`` builds, sets the file modes gradescope/setup.sh sets, turns
off what the container lacks (KIT_SANDBOX_WITHOUT) and runs ``python -m grader gradescope`` with exactly
the flags gradescope/run_autograder passes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from grader.kit.autograder import build_autograder
from tests.grading_helpers import REPO, SUBMISSIONS, namespaces_work, overlay
from tests.test_adversarial import honest_source
from tests.unprivileged import can_switch_user, run_as

pytestmark = pytest.mark.skipif(
    not (can_switch_user() and namespaces_work()),
    reason="needs root and a mount namespace to lay out the container",
)
FIXTURE = SUBMISSIONS / "adversarial" / "reads_the_reference_beside_it"
SOURCE = Path("/tmp/adv7f3c9e-autograder/source")  # where the attack looks, beside /autograder/source
CONTAINER_LACKS = (
    "pid-namespace,network-namespace,mount-namespace,ipc-namespace,user-namespace,private-root,landlock"
)


def accepted_risks() -> list[str]:
    """The --accept-risk flags of gradescope/run_autograder, as it passes them."""
    script = (REPO / "gradescope" / "run_autograder").read_text()
    return [
        flag for name in re.findall(r"--accept-risk ([a-z-]+)", script) for flag in ("--accept-risk", name)
    ]


def private_folders() -> list[str]:
    """The folders gradescope/setup.sh closes to other users."""
    (line,) = re.findall(r'^PRIVATE="([^"]+)"$', (REPO / "gradescope" / "setup.sh").read_text(), flags=re.M)
    return line.split()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """/autograder/source as Gradescope unpacks the zip of `python -m grader autograder` (plus a tests/
    folder, as a zip made by hand may hold), with setup.sh's file modes."""
    shutil.rmtree(SOURCE.parent, ignore_errors=True)
    with zipfile.ZipFile(build_autograder(tmp_path_factory.mktemp("zip") / "autograder.zip")) as bundle:
        bundle.extractall(SOURCE)
    (SOURCE / "tests").mkdir()
    (SOURCE / "tests" / "secret_checks.py").write_text("ANSWER = 42\n")
    os.chmod(SOURCE.parent, 0o755)
    for name in private_folders():
        for path in [SOURCE / name, *(SOURCE / name).rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o077)
    yield SOURCE
    shutil.rmtree(SOURCE.parent, ignore_errors=True)


def gradescope(source: Path, submission: Path, results: Path, flags: list[str]):
    command = [
        sys.executable,
        "-m",
        "grader",
        "gradescope",
        "--submission",
        str(submission),
        "--results",
        str(results),
    ]
    environment = {**os.environ, "KIT_SANDBOX_WITHOUT": CONTAINER_LACKS}
    return run_as([*command, *flags], uid=0, gid=0, groups=[], env=environment, cwd=source, timeout=300)


def test_the_reference_beside_the_submission_earns_the_attack_nothing(source, tmp_path):
    attack = overlay(FIXTURE, tmp_path / "attack")
    honest = overlay(FIXTURE, tmp_path / "honest")
    (honest / "attention.py").write_text(honest_source((honest / "attention.py").read_text()))
    scores = {}
    for name, submission in [("attack", attack), ("honest", honest)]:
        run = gradescope(source, submission, tmp_path / f"{name}.json", accepted_risks())
        assert run.returncode == 0, run.stderr[-3000:]
        document = json.loads((tmp_path / f"{name}.json").read_text())
        scores[name] = {test["name"]: test["score"] for test in document["tests"]}
    assert scores["attack"] == scores["honest"]
    assert sum(scores["honest"].values()) < 100


def test_without_the_scripts_flags_it_refuses_and_names_them(source, tmp_path):
    run = gradescope(source, overlay(FIXTURE, tmp_path / "attack"), tmp_path / "results.json", [])
    assert run.returncode != 0
    assert "refusing to grade" in run.stderr and "--accept-risk landlock" in run.stderr
    assert not (tmp_path / "results.json").exists()
