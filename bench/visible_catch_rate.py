"""How many of the known mistakes do the visible tests catch, per exercise?
``python bench/visible_catch_rate.py``.

Every mutant in ``tests/submissions/mutants/`` is one real mistake, and the hidden grader catches each
(``tests/test_checks_catch_faults.py``). This script runs the visible tests of the exercise each mutant
changes on that mutant (laid over the reference, as the tests lay it), all in one pytest process
(``tests/visible_runs.py``), and prints per exercise how many the visible tests catch, then the
mutants only the hidden checks see. The README quotes its table. With ``--unusual`` it also runs the
correct-but-unusual fixtures and the reference, and lists any that a visible test fails (there should
be none: ``tests/test_checks_catch_faults.py`` asserts it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.contract import MODULES  # noqa: E402 - after the repository is on the path
from tests import visible_runs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--unusual",
        action="store_true",
        help="also run the unusual-but-correct fixtures and the reference, and list any that fail",
    )
    args = parser.parse_args()
    jobs = visible_runs.fixture_jobs(("mutants", "unusual") if args.unusual else ("mutants",))
    if args.unusual:
        jobs.append((visible_runs.REFERENCE, None, list(MODULES)))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="visible-catch-rate-") as scratch:
        visible = visible_runs.run_visible(jobs, Path(scratch))
    print(f"{len(jobs)} submissions, their visible tests run in {time.monotonic() - started:.1f} s\n")
    print(visible_runs.catch_rate_table(visible))
    missed = visible_runs.missed(visible)
    print(
        "\nonly the hidden checks catch: " + (", ".join(m.removeprefix("mutants/") for m in missed) or "none")
    )
    if not args.unusual:
        return 0
    wrong = [
        f"{name} ({module}: {failures[0].test})"
        for name, exercises in visible.items()
        if not name.startswith("mutants/")
        for module, failures in exercises.items()
        if failures
    ]
    print("correct code a visible test fails: " + (", ".join(wrong) or "none"))
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
