"""What the kit's own test run prints: one line per area (a test file), not minutes of dots.

Each line says which file finished, how its tests went, how long they took, and what the file tests
(the first line of its docstring), so a newcomer sees the suite's map go by. Failures still print
pytest's usual report at the end; ``-v`` restores pytest's own per-test lines. Works with and without
pytest-xdist (``-n``), whose workers finish files in any order.

It also holds what every test process shares: one warm sandbox runner (``warm_runner``), and the settings
that keep each process, and the processes its tests start, from costing the other worker's core.
"""

from __future__ import annotations

import ast
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

# jsonschema (the schema tests, nbformat) imports rfc3987-syntax where it is installed, as nbformat's
# "format-nongpl" extra has it, and that builds some 35 Earley parsers for the "iri" format: 2 s in every
# test process (python-jsonschema/jsonschema#1428). No schema these tests validate against uses that
# format, so jsonschema is left to go without it.
sys.modules.setdefault("rfc3987_syntax", None)

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_WIDTH = 72
# The areas that take longest (measured: tens of seconds each, mostly in a module-scoped fixture) run
# first, so that with pytest-xdist's two workers no long area starts last and the workers end together.
LONGEST_FIRST = (  # measured with two workers, longest first: 59 s down to 14 s
    "tests/test_nbgrader_round_trip.py",
    "tests/test_cluster.py",
    "tests/test_checks_catch_faults.py",
    "tests/test_bulk.py",
    "tests/test_learner_tools.py",
    "tests/test_notebook.py",
    "tests/test_adversarial.py",
    "tests/test_determinism.py",
    "tests/test_unprivileged_grading.py",
    "tests/test_visible_tests.py",
    "tests/test_gradescope_container.py",
    "tests/test_sandbox.py",
    "tests/test_device_checks.py",
    "tests/test_nbgrader_submissions.py",
    "tests/test_confinement.py",
    "tests/test_grading_rules.py",
    "tests/test_release.py",
    "tests/test_reports.py",
    "tests/test_scores.py",
)


class AreaLines:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.expected: Counter = Counter()
        self.finished: Counter = Counter()
        self.outcomes: dict[str, Counter] = defaultdict(Counter)
        self.seconds: Counter = Counter()
        self.printed: set[str] = set()

    @property
    def terminal(self):
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def count(self, nodeids) -> None:
        if not self.expected:
            self.expected.update(nodeid.split("::")[0] for nodeid in nodeids)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.count(item.nodeid for item in session.items)
        if self.terminal is not None:
            self.terminal.showfspath = False  # our line replaces "tests/test_x.py ....."

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        self.count(ids)

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):
        if report.passed and report.when == "call":
            return "passed", "", "PASSED"
        if report.skipped:
            return "skipped", "", "SKIPPED"
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        area = report.nodeid.split("::")[0]
        self.seconds[area] += report.duration
        if report.failed:
            self.outcomes[area]["failed" if report.when == "call" else "error"] += 1
        elif report.skipped or (report.passed and report.when == "call"):
            self.outcomes[area]["skipped" if report.skipped else "passed"] += 1
        if report.when == "teardown":
            self.finished[area] += 1
            if self.finished[area] >= self.expected.get(area, 0) and area not in self.printed:
                self.printed.add(area)
                self.write(area)

    def write(self, area: str) -> None:
        outcomes = self.outcomes[area]
        counts = ", ".join(
            f"{outcomes[kind]} {kind}" for kind in ("passed", "failed", "error", "skipped") if outcomes[kind]
        )
        mark = "✗" if outcomes["failed"] or outcomes["error"] else "✓"
        line = f"{mark} {area:<40} {counts:<24} {self.seconds[area]:6.1f} s  {summary_of(area)}"
        if self.terminal is not None:
            self.terminal.write_line(
                line[: self.terminal._tw.fullwidth - 1] if self.terminal.isatty else line
            )


def summary_of(area: str) -> str:
    """The first line of the test file's docstring: what the area tests."""
    try:
        docstring = ast.get_docstring(ast.parse((ROOT / area).read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError, ValueError):
        return ""
    first = docstring.strip().split("\n")[0]
    return first if len(first) <= SUMMARY_WIDTH else first[: SUMMARY_WIDTH - 1] + "…"


@pytest.fixture(scope="session")
def warm_runner():
    """One sandbox runner for the whole test process, as the grader keeps one for a whole class: its fork
    server (PyTorch imported and warmed up, some 2.5 CPU-seconds) starts once, not once per area. The tests
    of what a fresh, second or weaker runner does open their own."""
    from grader.sandbox.runner import Runner

    with Runner() as runner:
        yield runner


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest areas first (a stable sort: within an area, and among the rest, the order is the files')."""
    rank = {area: index for index, area in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Each worker is one of as many processes as cores, beside the sandboxes they start: PyTorch's
        # intra-op pool of one thread per core in every worker would only make them wait on each other.
        # The same holds for the processes the tests start (nbgrader's kernels, `pytest exercises`, the
        # learner's tools): OpenMP's idle threads spin after each parallel operation, and a kernel running the
        # notebook used 10.5 CPU-seconds with two threads, 7.2 with one. They inherit this environment.
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")
        # The `pytest` runs the tests start (`pytest exercises`, as a learner runs it) go without Hypothesis's
        # plugin, as a learner's install does: it imports all of Hypothesis at the end of every run, 1.5 s.
        addopts = os.environ.get("PYTEST_ADDOPTS", "")
        os.environ["PYTEST_ADDOPTS"] = f"{addopts} -p no:hypothesispytest".strip()
        import torch

        torch.set_num_threads(1)
    if config.option.verbose <= 0 and not config.option.collectonly:
        config.pluginmanager.register(AreaLines(config), "area-lines")
