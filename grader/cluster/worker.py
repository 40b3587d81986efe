"""A Dask worker that grades: one fork server per worker, and no grading unless its node is safe.

``GradingPlugin`` starts the worker's fork server when it is registered, or adopts the one ``dask_setup``
(a Dask preload) started with the worker (the zygote imports PyTorch while the worker waits for work;
the next run's plugin finds it warm) and, before the first task runs
any learner code, opens one probe sandbox: if a protection the sandbox needs is missing on this node,
and its risk was not accepted, every task it is given answers that it refuses, and the driver stops
the run, as a single-machine run stops. ``grade_task`` is the task: a parcel in, JSON text out.

A task that waits out a long call (an endless loop, most often) secedes from the worker's thread pool
until the call returns, so the worker starts another submission meanwhile, as a single-machine worker
lends its slot; the task's later exercises are graded meanwhile (``one_submission``).
"""

from __future__ import annotations

import json
import multiprocessing.util
import os
import shutil
import tempfile
import threading
from pathlib import Path

from distributed import WorkerPlugin, get_worker, rejoin, secede

from grader.gradebook import grader_fingerprint
from grader.settings import Settings

PLUGIN_NAME = "attention-kit-grading"


class GradingPlugin(WorkerPlugin):
    """Holds the worker's ``Runner`` (its fork server), kept by the worker process from run to run."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, settings: Settings, grader: str):
        self.settings = settings
        self.grader = grader  # the driver's grader fingerprint: a worker with other code refuses
        self._runner = None
        self._lock = None  # made on the worker: the plugin travels pickled, a lock cannot
        self._protections: dict[str, str] | None = None
        self._missing: dict[str, str] | None = None
        self.refusal: str | None = None  # why this worker grades nothing, other than a missing protection

    def setup(self, worker) -> None:
        self._lock = threading.Lock()
        mine = grader_fingerprint()
        if mine != self.grader:
            self.refusal = (
                f"worker {worker.address} runs another version of the grader ({mine}, the driver's is "
                f"{self.grader}): install the same kit on every node"
            )
            return
        self._runner = _warm_runner(tuple(self.settings.accepted_risks))

    def teardown(self, worker) -> None:
        """Nothing: the worker process keeps its fork server warm for the next run's plugin."""

    def ready(self):
        """``(runner, protections)`` once this node has shown every protection, else ``(None, missing)``."""
        from grader.sandbox.protections import MissingProtection

        with self._lock:
            if self._missing is None and self._protections is None:
                try:
                    self._protections = self._runner.isolation_report()
                except MissingProtection as missing:
                    self._missing = missing.missing
            if self._missing is not None:
                return None, self._missing
            return self._runner, self._protections


_WARM: list = []  # this worker process's (key, Runner): one fork server, kept from run to run
_STARTED: list = []  # a fork server started with this worker process (dask_setup), for the first plugin


def dask_setup(worker) -> None:
    """Dask's preload hook (``--dask local`` sets it; ``dask worker ... --preload grader.cluster.worker``):
    start this worker's fork server as the worker starts, so that it imports PyTorch while the worker
    joins its scheduler, not after a run's plugin arrives."""
    from grader.sandbox.forkserver import launch_in_new_workdir

    if _STARTED or _WARM:
        return
    try:
        _STARTED.append(launch_in_new_workdir())
    except Exception:  # noqa: BLE001 - the plugin starts one again, and reports why it cannot
        return
    _when_this_process_ends(lambda: _STARTED and _STARTED.pop().discard())


def _warm_runner(accepted_risks: tuple[str, ...]):
    """The worker process's runner for ``accepted_risks`` (and the protections turned off in its
    environment): the one a previous run started, or a new one (the old one closed)."""
    from grader.sandbox.forkserver import launch_in_new_workdir
    from grader.sandbox.protections import WITHOUT_VARIABLE

    key = (tuple(sorted(accepted_risks)), os.environ.get(WITHOUT_VARIABLE, ""))
    if _WARM and _WARM[0][0] == key:
        return _WARM[0][1]
    if _WARM:
        _WARM.pop()[1].close()
    else:
        _when_this_process_ends(lambda: _WARM and _WARM.pop()[1].close())
    # The fork server imports PyTorch while this process does (the runner's import), not after it.
    launched = _STARTED.pop() if _STARTED else launch_in_new_workdir()
    try:
        from grader.sandbox.runner import Runner

        runner = Runner(launched=launched, accepted_risks=accepted_risks)
    except BaseException:
        launched.discard()
        raise
    _WARM.append((key, runner))
    return runner


def _when_this_process_ends(callback) -> None:
    """Run ``callback`` as this process ends, whatever started it. Not ``atexit``: a worker that a nanny
    forked from multiprocessing's fork server (``--dask local``) ends with ``os._exit``, after
    multiprocessing's own finalizers (which ``atexit`` runs in any other process)."""
    multiprocessing.util.Finalize(None, callback, exitpriority=0)


def grade_task(parcel: dict, forbidden_paths: list[str]) -> str:
    """Grade one submission on this worker. Always JSON text: ``{"grader", "protections", "result"}``, or
    ``{"failure": {"kind": "refused" | "failed", "why": str, "missing": {protection: status}}}``."""
    from grader.cluster.one_submission import grade_one_submission
    from grader.cluster.parcel import unpack
    from grader.sandbox.protections import MissingProtection

    worker = get_worker()
    plugin = worker.plugins[PLUGIN_NAME]
    if plugin.refusal is not None:
        return _failure("refused", plugin.refusal)
    runner, protections = plugin.ready()
    if runner is None:
        return _failure("refused", f"worker {worker.address}", missing=protections)
    folder = Path(tempfile.mkdtemp(prefix="grader-parcel-"))
    try:
        submission = unpack(parcel, folder)
        forbidden = [*forbidden_paths, str(folder)]
        result = grade_one_submission(
            submission, runner, plugin.settings, forbidden, lend=secede, take_back=rejoin
        )
    except MissingProtection as missing:  # a later sandbox lacked one (it ran no learner code): stop the run
        return _failure("refused", f"worker {worker.address}", missing=missing.missing)
    except Exception as error:  # noqa: BLE001 - the grader's own failure (its fork server died): told, not raised
        return _failure("failed", f"worker {worker.address}: {type(error).__name__}: {error}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    document = {"grader": plugin.grader, "protections": protections, "result": result.to_json()}
    return json.dumps(document, ensure_ascii=True)


def _failure(kind: str, why: str, missing: dict | None = None) -> str:
    return json.dumps({"failure": {"kind": kind, "why": why, "missing": missing or {}}}, ensure_ascii=True)
