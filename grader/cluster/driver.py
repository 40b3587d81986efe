"""The driver of a cluster run: one task per submission, each answer checked, recorded as it arrives.

What the driver does is what a single-machine run does around its workers: ``record`` (the gradebook's
atomic record, the progress bar, the pictures) runs here, for each answer, as it arrives, so a killed
driver loses nothing recorded and the next run grades only the rest. A worker killed mid-task loses
nothing either: the scheduler gives its task to another worker, and since an answer depends only on
the submission's bytes and the grader, grading it twice is harmless.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable

from grader.cluster.address import ClusterAddress
from grader.cluster.local import start_local_cluster
from grader.cluster.parcel import pack
from grader.cluster.verdict import VerdictError, read_verdict
from grader.cluster.worker import GradingPlugin, grade_task
from grader.contract import EXERCISES
from grader.exits import UsageError
from grader.intake import confined
from grader.intake.submission import Submission
from grader.results import SubmissionResult
from grader.sandbox.protections import MissingProtection, SandboxError
from grader.settings import Settings

CONNECT_TIMEOUT_S = 30
WORKERS_TIMEOUT_S = 300  # a batch scheduler may take minutes to start the first worker
GRADER_FAILURE_RETRIES = 1  # a task whose worker's grader failed (its fork server died) runs once more
MESSAGE_CHARS = 2000
# Submissions handed to the scheduler at once: enough to keep every worker busy, few enough that a class
# of 10 000 is not held in the scheduler's memory (a parcel can be 5 MB).
IN_FLIGHT_PER_THREAD = 4
MIN_IN_FLIGHT = 8
RECOUNT_S = 5.0


def grade_on_cluster(
    submissions: list[Submission],
    address: ClusterAddress,
    *,
    settings: Settings,
    grader: str,
    forbidden_paths: list[str],
    record: Callable[[SubmissionResult], None],
    announce: Callable[[dict[str, str]], None],
    say: Callable[[str], None],
    closing: contextlib.ExitStack | None = None,
) -> dict[str, str]:
    """Grade ``submissions`` on the cluster at ``address``; ``record(result)`` as each answer arrives.

    Returns the sandbox's protections as the workers reported them (``announce``d with the first
    answer). Raises ``MissingProtection`` when a worker's node lacks one, ``UsageError`` when the
    cluster cannot be reached or Dask is not installed. With ``closing``, a run that got every answer
    closes its client (and its own cluster: a few tenths of a second) on a thread of its own, which
    ``closing`` waits for: the driver writes its reports meanwhile. (So the client is nobody's default:
    a default client is a context variable, which only the thread that set it may reset.)
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageError(
            '--dask needs Dask: pip install -e ".[cluster]" (or: pip install distributed)'
        ) from None

    with contextlib.ExitStack() as stack:
        if address.local_workers:
            client = start_local_cluster(address.local_workers, stack)
        else:
            try:
                client = stack.enter_context(
                    Client(address.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
                )
            except (OSError, TimeoutError) as error:
                raise UsageError(f"--dask {address}: cannot reach the scheduler ({error})") from None
            try:
                client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
            except TimeoutError:
                raise UsageError(f"--dask {address}: no worker joined in {WORKERS_TIMEOUT_S} s") from None
        client.register_plugin(GradingPlugin(settings, grader))
        workers = len(client.scheduler_info().get("workers", {}))
        say(f"cluster: {address}: {workers} worker(s) at {client.scheduler.address}")

        window = _Window(client)  # how many submissions the scheduler holds; the rest wait here, unread
        run, numbers = secrets.token_hex(4), itertools.count()
        tries: dict[str, int] = {}
        pending: dict[str, Submission] = {}
        waiting = iter(submissions)
        futures = as_completed(loop=client.loop)

        def submit(submission: Submission) -> None:
            try:
                parcel = pack(submission)
            except OSError as error:  # its files could not be read here: its row says so, as on one machine
                record(_unreadable(submission, error))
                return
            key = f"grade-{run}-{next(numbers)}"
            tries[submission.name] = tries.get(submission.name, -1) + 1
            pending[key] = submission
            futures.add(client.submit(grade_task, parcel, forbidden_paths, key=key, pure=False))

        def top_up() -> None:
            while futures.count() < window.size() and (submission := next(waiting, None)) is not None:
                submit(submission)

        top_up()
        protections: dict[str, str] | None = None
        try:
            for future in futures:
                top_up()
                submission = pending.pop(future.key)
                text, failure = _answer(future)
                if failure is not None:
                    if failure["kind"] == "refused":
                        if failure["missing"]:
                            raise MissingProtection(failure["missing"], where=f"on {failure['why']}")
                        raise UsageError(f"--dask {address}: {failure['why']}")
                    if tries[submission.name] < GRADER_FAILURE_RETRIES:
                        submit(submission)
                        continue
                    say(_unrecorded(submission, failure["why"]))
                    continue
                try:
                    result, reported = read_verdict(
                        text, name=submission.name, grader=grader, accepted=settings.accepted_risks
                    )
                except VerdictError as error:
                    say(_unrecorded(submission, str(error)))
                    continue
                if protections is None:
                    protections = reported
                    announce(protections)
                record(result)
        finally:
            for future in list(futures.futures):
                future.cancel()
        if closing is not None:
            ending = threading.Thread(target=stack.pop_all().close, name="closing-the-cluster")
            ending.start()
            closing.callback(ending.join)
    return protections or {}


class _Window:
    """``IN_FLIGHT_PER_THREAD`` submissions per worker thread, counted again every ``RECOUNT_S``: a batch
    cluster's workers join while the class is graded."""

    def __init__(self, client):
        self._client, self._counted_at, self._size = client, -RECOUNT_S, MIN_IN_FLIGHT

    def size(self) -> int:
        if time.monotonic() - self._counted_at >= RECOUNT_S:
            threads = sum(self._client.nthreads().values())
            self._size, self._counted_at = (
                max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads),
                time.monotonic(),
            )
        return self._size


def _answer(future) -> tuple[object, dict | None]:
    """The task's text, or ``(None, {"kind": "failed" | "refused", "why", "missing"})`` when it gave none.

    The failure is read from the task's JSON text, field by field; a Dask failure (a task that killed
    every worker it ran on) is a failure of kind "failed".
    """
    try:
        text = future.result()
    except Exception as error:  # noqa: BLE001 - Dask's own failure, or the task's
        return None, {
            "kind": "failed",
            "why": f"{type(error).__name__}: {str(error)[:MESSAGE_CHARS]}",
            "missing": {},
        }
    if type(text) is not str or not text.startswith('{"failure"'):
        return text, None
    try:
        failure = json.loads(text)["failure"]
        kind, why, missing = failure["kind"], str(failure["why"])[:MESSAGE_CHARS], failure["missing"]
        if kind not in ("failed", "refused") or type(missing) is not dict:
            raise TypeError
        missing = {str(name)[:MESSAGE_CHARS]: str(status)[:MESSAGE_CHARS] for name, status in missing.items()}
    except (ValueError, KeyError, TypeError):
        return None, {"kind": "failed", "why": "its failure could not be read", "missing": {}}
    return None, {"kind": kind, "why": why, "missing": missing}


def _unreadable(submission: Submission, error: OSError) -> SubmissionResult:
    """No points for any exercise, and why: what a single-machine run gives when it cannot copy the files."""
    from grader.grading import grader_failed, submission_result

    return submission_result(submission, [grader_failed(e, error) for e in EXERCISES])


def _unrecorded(submission: Submission, why: str) -> str:
    shown = confined.describe(SandboxError(why))
    return f"cluster: {submission.name!r} was not recorded ({shown}); the next run grades it again"
