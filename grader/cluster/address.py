"""What ``--dask`` names: a running scheduler's address, or a cluster of N workers on this machine."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from grader.exits import UsageError

LOCAL = "local"
MAX_LOCAL_WORKERS = 256
_SCHEME = re.compile(r"^(tcp|tls|ucx|inproc|ws|wss)://\S+$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class ClusterAddress:
    """``scheduler`` is the address to connect to; ``None`` with ``local_workers`` set for ``local[:N]``."""

    scheduler: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.scheduler or f"{LOCAL}:{self.local_workers}"


def parse_address(text: str) -> ClusterAddress:
    """``local`` (one worker per core), ``local:N``, ``tcp://host:port`` or ``host:port``."""
    text = text.strip()
    if text == LOCAL or text.startswith(LOCAL + ":"):
        count = text.partition(":")[2] or str(os.cpu_count() or 1)
        if not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_WORKERS:
            raise UsageError(
                f"--dask {text}: local:N takes a number of workers from 1 to {MAX_LOCAL_WORKERS}"
            )
        return ClusterAddress(local_workers=int(count))
    if _SCHEME.match(text):
        return ClusterAddress(scheduler=text)
    if _HOST_PORT.match(text):
        return ClusterAddress(scheduler=f"tcp://{text}")
    raise UsageError(
        f"--dask {text!r}: expected a scheduler's address (tcp://HOST:PORT or HOST:PORT), "
        "local (one worker per core) or local:N"
    )
