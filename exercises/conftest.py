"""Helpers and reporting for the visible tests: ``pytest exercises``.

* A stub that is not implemented yet fails with one short line ("softmax.py: softmax() is not
  implemented yet — TODO: ..."); the other tests of that exercise are skipped until it is.
* The run ends with your progress: how many of the 7 exercises pass their visible checks, which
  one to do next, and the command that shows a hint for it (``python -m learner hint``). The
  progress is also kept in pytest's cache (``.pytest_cache``), where that command reads it.
* The fixtures ``expect_close``, ``expect_shape`` and ``to_torch_multihead`` keep the tests short.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from learner import lesson
from learner.kit import HINTS_SHOWN_KEY, PROGRESS_KEY
from learner.torch_modules import torch_multihead

EXERCISES = lesson.MODULES  # lesson order
NOT_IMPLEMENTED = "is not implemented yet"
HINT_COMMAND = "python -m learner hint"

_status: dict[str, dict] = {}
_packages: dict[str, str] = {}  # exercise → the package its tests were imported from, to find its HINTS


def _exercise_of(item: pytest.Item) -> str | None:
    name = Path(str(item.fspath)).stem
    module = name.removeprefix("test_")
    return module if name.startswith("test_") and module in EXERCISES else None


def _not_implemented_message(excinfo) -> str | None:
    """The stub's own "not implemented yet" message, prefixed with the file that raised it."""
    if (
        excinfo is None
        or not excinfo.errisinstance(NotImplementedError)
        or NOT_IMPLEMENTED not in str(excinfo.value)
    ):
        return None
    raising_file = Path(excinfo.traceback[-1].path).name
    return f"{raising_file}: {excinfo.value}"


def pytest_configure(config: pytest.Config) -> None:
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "short"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the exercises in lesson order, not alphabetically."""
    order = {module: index for index, module in enumerate(EXERCISES)}
    items.sort(key=lambda item: order.get(_exercise_of(item), len(order)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    exercise = _exercise_of(item)
    if exercise is None or report.when not in ("setup", "call"):
        return report
    status = _status.setdefault(exercise, {"passed": 0, "failed": 0, "todo": None})
    _packages.setdefault(exercise, getattr(item.module, "__package__", None) or "")
    message = _not_implemented_message(call.excinfo)
    if message is not None:
        if status["todo"] is None:
            status["todo"] = message
            report.longrepr = message
        else:
            # One line per exercise is enough: the rest of its tests wait for the first TODO.
            report.outcome = "skipped"
            report.longrepr = (str(item.fspath), item.location[1] or 0, f"waiting for {status['todo']}")
    if report.when == "call" or report.outcome != "passed":
        key = "passed" if report.outcome == "passed" else "failed"
        status[key] += 1
    return report


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    ran = [module for module in EXERCISES if module in _status]
    if not ran:
        return
    done = [module for module in ran if _status[module]["failed"] == 0]
    write = terminalreporter.write_line
    terminalreporter.section("Lesson 13 progress", sep="=")
    write(
        f"{len(done)} of {len(EXERCISES)} exercises pass their visible checks"
        + (f": {', '.join(done)}" if done else "")
    )
    pending = [module for module in ran if module not in done]
    if pending:
        module = pending[0]
        number = EXERCISES.index(module) + 1
        reason = _status[module]["todo"] or f"{_status[module]['failed']} visible check(s) fail — see above"
        write(f"Next: exercise {number} — {reason}")
        write(_hint_line(config, module))
    not_run = [module for module in EXERCISES if module not in _status]
    if not_run:
        write(f"Not run this time: {', '.join(not_run)}")
    write(
        "These are the visible checks. At grading, hidden checks test much more (shapes, dtypes, every mask,"
    )
    write("gradients, equivalence with PyTorch's modules, padding and causality, training).")
    _record_progress(config, pending[0] if pending else None, not_run)


def _hint_line(config: pytest.Config, module: str) -> str:
    """How to see the next hint for ``module``:
    "Stuck? `python -m learner hint` shows hint 2 of 3 for masking.py"."""
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    shown = cache.get(HINTS_SHOWN_KEY, {}) if cache is not None else {}
    shown = shown.get(module, 0) if isinstance(shown, dict) else 0
    stub = sys.modules.get(f"{_packages.get(module)}.{module}")
    total = len(getattr(stub, "HINTS", ()) or ())
    if total and shown >= total:
        return (
            f"Stuck? All {total} hints for {module}.py are shown; "
            f"`{HINT_COMMAND} --again` shows the last one again."
        )
    which = f"hint {shown + 1} of {total}" if total else "a hint"
    return f"Stuck? `{HINT_COMMAND}` shows {which} for {module}.py."


def _record_progress(config: pytest.Config, first_failing: str | None, not_run: list[str]) -> None:
    """Keep this run's result where ``python -m learner hint`` reads it."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        record = {
            "finished_at": time.time(),
            "first_failing": first_failing,
            "not_run": not_run,
            "exercises": _status,
        }
        cache.set(PROGRESS_KEY, record)


def _as_tensor(value, what: str) -> torch.Tensor:
    __tracebackhide__ = True
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        pytest.fail(f"{what}: expected an array/tensor, got {type(value).__name__}", pytrace=False)
    return value.detach()


def _shape(value) -> tuple:
    return tuple(value.shape)


@pytest.fixture
def expect_shape():
    """``expect_shape(got, shape, what)``: fail with "what: shape: expected (..), got (..)"."""

    def check(got, shape, what: str) -> None:
        __tracebackhide__ = True
        if not hasattr(got, "shape"):
            pytest.fail(f"{what}: expected an array/tensor, got {type(got).__name__}", pytrace=False)
        if _shape(got) != tuple(shape):
            pytest.fail(f"{what}: shape: expected {tuple(shape)}, got {_shape(got)}", pytrace=False)

    return check


@pytest.fixture
def expect_close():
    """``expect_close(got, expected, what, hint=None)``: shape, dtype, then values, first mismatch only."""

    def check(got, expected, what: str, hint: str | None = None, rtol=None, atol=None) -> None:
        __tracebackhide__ = True
        got_t, expected_t = _as_tensor(got, what), _as_tensor(expected, what)
        if got_t.shape != expected_t.shape:
            pytest.fail(f"{what}: shape: expected {_shape(expected_t)}, got {_shape(got_t)}", pytrace=False)
        if got_t.dtype != expected_t.dtype:
            pytest.fail(f"{what}: dtype: expected {expected_t.dtype}, got {got_t.dtype}", pytrace=False)
        default_rtol, default_atol = lesson.tolerance(expected_t.dtype)  # the grader's own table
        rtol = default_rtol if rtol is None else rtol
        atol = default_atol if atol is None else atol
        message = _mismatch(got_t, expected_t, rtol, atol)
        if message:
            pytest.fail(f"{what}: {message}" + (f"\n  hint: {hint}" if hint else ""), pytrace=False)

    return check


def _mismatch(got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> str | None:
    got64, expected64 = got.cpu().double(), expected.cpu().double()
    both_nan = got64.isnan() & expected64.isnan()
    same_inf = (got64 == expected64) & expected64.isinf()
    excess = (got64 - expected64).abs() - (atol + rtol * expected64.abs())
    excess = torch.where(excess.isnan(), torch.inf, excess)
    excess = torch.where(both_nan | same_inf, -1.0, excess)
    bad = excess > 0
    if not bool(bad.any()):
        return None
    worst = np.unravel_index(int(excess.flatten().argmax()), tuple(expected.shape)) if expected.dim() else ()
    index = list(int(i) for i in worst)
    return (
        f"{int(bad.sum())} of {expected.numel()} values differ; worst at {index}: "
        f"expected {expected64[tuple(index)].item():.6g}, got {got64[tuple(index)].item():.6g} "
        f"(allowed {atol:g} + {rtol:g} × |expected|)"
    )


@pytest.fixture
def to_torch_multihead():
    """``to_torch_multihead(mha, num_heads)``: an ``nn.MultiheadAttention`` with your module's weights."""
    return torch_multihead
