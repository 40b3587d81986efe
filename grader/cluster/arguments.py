"""``grade --dask ADDRESS``: its argument, beside the code it drives (no Dask import here)."""

from __future__ import annotations

import argparse


def add_dask_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help=(
            "grade across a Dask cluster instead of this machine's --jobs: a running scheduler "
            "(tcp://HOST:PORT), or local[:N] for a cluster of N workers here (default N: the CPU count). "
            'Needs the cluster extra: pip install -e ".[cluster]"'
        ),
    )
