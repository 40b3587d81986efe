"""The run's own Dask cluster (``--dask local[:N]``): N worker processes on this machine, locked and quick
to start.

Locked: the cluster listens on this machine's loopback, which every local user can reach, and Dask's
tcp:// has no authentication: whoever connects runs code as the instructor. So its scheduler, nannies
and workers speak TLS with a key made for this run alone (cryptography makes it), and their HTTP
servers, on ports of the system's choosing, answer /health only (Dask's pages show the workers' logs
and call stacks).

Quick to start: by default a nanny starts its worker as a fresh interpreter, which imports Dask, the
grader and PyTorch, while the worker's sandbox fork server imports PyTorch too: with the driver's, five
imports of PyTorch on a 2-core machine before the first answer. Here the workers are forked from one
multiprocessing fork server that imported all that once, started before the cluster, while the driver
sets up its scheduler; and each worker starts its sandbox fork server as it starts (the Dask preload
``grader.cluster.worker``), not when the run's plugin reaches it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from multiprocessing import connection, forkserver

from grader.contract import EXERCISES
from grader.exits import UsageError

HTTP_ADDRESS = "127.0.0.1:0"
WORKER_PRELOAD = "grader.cluster.worker"  # its dask_setup starts the worker's sandbox fork server
CONFIG = {
    "distributed.scheduler.http.routes": ["distributed.http.health"],
    "distributed.worker.http.routes": ["distributed.http.health"],
    # Quietened: it has no dashboard to feed, and its diagnostics run on the cores it grades on. Its workers'
    # statistical profiler (every thread's stack, under the GIL, every 10 ms), the event loops' 20 ms ticks
    # and the 100 ms and 500 ms monitors: idle, 3.8 CPU-s in 30 s (0.5 quietened); grading the bench's class
    # of 48 on 2 workers, 143 CPU-s in all against 124.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def worker_modules() -> list[str]:
    """What a worker imports to grade, imported once by the fork server its processes are forked from."""
    return [
        "distributed",
        WORKER_PRELOAD,
        "grader.cluster.one_submission",
        "grader.cluster.parcel",
        "grader.grading",
        "grader.sandbox.runner",
        *(f"grader.checks.{exercise.module}" for exercise in EXERCISES),
    ]


def start_local_cluster(workers: int, stack: contextlib.ExitStack):
    """A ``Client`` of a new ``LocalCluster`` of ``workers`` single-threaded worker processes, both closed by
    ``stack``. Raises ``UsageError`` when cryptography (the TLS key) is missing."""
    import dask
    from distributed import Client, LocalCluster

    try:
        from distributed.security import Security

        security = Security.temporary()
    except ImportError:
        raise UsageError(
            f'--dask local:{workers} needs cryptography for its TLS key: pip install -e ".[cluster]"'
        ) from None
    start_fork_server()
    stack.enter_context(dask.config.set(CONFIG))  # its nannies hand it to their workers
    stack.enter_context(dask.config.set({"distributed.worker.multiprocessing-method": _start_method()}))
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            security=security,
            dashboard_address=HTTP_ADDRESS,
            silence_logs=logging.ERROR,
            preload=[WORKER_PRELOAD],
        )
    )
    return stack.enter_context(Client(cluster, security=security, set_as_default=False))


_SERVER_ENVIRONMENT: list[dict[str, str]] = []  # this process's environment when it started the server


def start_fork_server() -> None:
    """Start multiprocessing's fork server with ``worker_modules()`` imported, once per driver process.

    Before Dask asks for it: Dask's own preload list (Dask and the optional packages it finds) is set only
    when its server is not yet running. The server is a fresh interpreter (not a fork of the driver) that
    listens in a folder only this user can open; it ends with the driver. Where it cannot start, the
    workers start as fresh interpreters (``_start_method``).
    """
    if _SERVER_ENVIRONMENT or not _fork_server_is_private():
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(worker_modules())
    try:
        forkserver.ensure_running()
    except OSError:  # its socket's path is too long (a deep TMPDIR), or no process: workers are spawned
        return
    _SERVER_ENVIRONMENT.append(dict(os.environ))


def _fork_server_is_private() -> bool:
    """Whether the fork server would listen where only this user can connect: a socket file in a folder of
    this user's. Before Python 3.10.9 it was a Linux abstract socket, which any local user can connect to,
    to have the server unpickle what they send (CVE-2022-42919); there, workers start as fresh
    interpreters."""
    address = connection.arbitrary_address("AF_UNIX")
    return isinstance(address, str) and not address.startswith("\0")


def _start_method() -> str:
    """How the nannies start their workers: forked from the fork server, which has this process's
    environment; a fresh interpreter ("spawn", as Dask does by default) once it has changed (a later
    run in a process that changed it, as tests do): a worker reads it (where the sandbox's scratch
    folders go, which protections a test turned off)."""
    return "forkserver" if _SERVER_ENVIRONMENT == [dict(os.environ)] else "spawn"
