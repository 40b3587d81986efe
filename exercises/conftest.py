"""Helpers and reporting for the visible tests: ``pytest exercises``.

* A stub that is not implemented yet fails with one short line ("softmax.py: softmax() is not
  implemented yet — TODO: ..."); the other tests of that exercise are skipped until it is.
* Every other failure reads like the hidden grader's: where and what was checked, expected and got, the
  input that shows it, and a hint. Code of yours that raises is named by its file and line.
* Within an exercise the most basic behaviour runs first (``LEVELS``: shapes, then values, then edge
  cases, then argument checks), so the first failure shown is the one to fix first.
* The run ends with your progress over the exercises it ran, which one to do next, and the command that
  shows a hint for it (``python -m learner hint``). The progress is also kept in pytest's cache
  (``.pytest_cache``), where that command reads it.
* The fixtures ``expect_close``, ``expect_equal``, ``expect_shape``, ``expect_true``, ``expect_raises``
  and ``to_torch_multihead`` keep the tests short.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
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
# How basic the behaviour a visible test checks is, most basic first: ``@pytest.mark.level("shape")``.
# An exercise's tests run in this order, so the first failure pytest (and `python -m learner watch`) shows
# is the one the others may follow from.
LEVELS = ("shape", "values", "edge case", "arguments")
UNMARKED_LEVEL = "values"
RAISED_HINT = "Which values reach that line? Compare their shapes and dtypes with the docstring's."
BROKEN_RESULT_HINT = "Does your function return what its docstring promises: which type, which shape?"

_status: dict[str, dict] = {}
_packages: dict[str, str] = {}  # exercise → the package its tests were imported from, to find its HINTS


def _exercise_of(item: pytest.Item) -> str | None:
    name = Path(str(item.fspath)).stem
    module = name.removeprefix("test_")
    return module if name.startswith("test_") and module in EXERCISES else None


def level_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("level")
    return marker.args[0] if marker and marker.args else UNMARKED_LEVEL


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


def _raised_message(item: pytest.Item, excinfo) -> str | None:
    """An exception (not a failed expectation) as the grader words it: the file and line of yours that
    raised, or the test line your result broke, then the test line that called your code, and a hint."""
    if excinfo is None or excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return None
    folder = Path(str(item.fspath)).parent
    entries = [entry for entry in excinfo.traceback if Path(entry.path).parent == folder]
    tests = [entry for entry in entries if Path(entry.path).name.startswith(("test_", "conftest"))]
    mine = [entry for entry in entries if entry not in tests]
    if not tests:
        return None
    text = (str(excinfo.value).strip().splitlines() or [""])[0]
    where = f"{_exercise_of(item)}.py"
    if not mine:
        broken = f"{Path(tests[-1].path).name} line {tests[-1].lineno + 1}: {_statement(tests[-1])}"
        return (
            f"{where}: your result broke the test at {broken}: {excinfo.typename}: {text}"
            f"\n  hint: {BROKEN_RESULT_HINT}"
        )
    raised, first = mine[-1], entries.index(mine[0])
    caller = next((entry for entry in reversed(entries[:first]) if entry in tests), tests[-1])
    return (
        f"{where}: your code raised {excinfo.typename} at {Path(raised.path).name} line {raised.lineno + 1}: "
        f"{text}\n  input: {Path(caller.path).name} line {caller.lineno + 1}: {_statement(caller)}"
        f"\n  hint: {RAISED_HINT}"
    )


def _statement(entry, width: int = 100) -> str:
    """The source of a traceback entry's statement on one line, shortened to ``width`` characters."""
    text = " ".join(str(entry.statement).split()).replace("( ", "(").replace(" )", ")")
    return text if len(text) <= width else text[: width - 1] + "…"


def pytest_configure(config: pytest.Config) -> None:
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "short"
    config.addinivalue_line(
        "markers", f"level(name): how basic the checked behaviour is, one of {', '.join(LEVELS)}"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the exercises in lesson order, not alphabetically, and each one's most basic tests first."""
    order = {module: index for index, module in enumerate(EXERCISES)}
    rank = {level: index for index, level in enumerate(LEVELS)}
    items.sort(
        key=lambda item: (order.get(_exercise_of(item), len(order)), rank.get(level_of(item), len(rank)))
    )


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
    elif report.failed and report.when == "call":
        report.longrepr = _raised_message(item, call.excinfo) or report.longrepr
    if report.when == "call" or report.outcome != "passed":
        key = "passed" if report.outcome == "passed" else "failed"
        status[key] += 1
    return report


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    ran = [module for module in EXERCISES if module in _status]
    if not ran:
        return
    done = [module for module in ran if _status[module]["failed"] == 0]
    not_run = [module for module in EXERCISES if module not in _status]
    write = terminalreporter.write_line
    terminalreporter.section("Lesson 13 progress", sep="=")
    write(progress_line(ran, done))
    pending = [module for module in ran if module not in done]
    if pending:
        module = pending[0]
        number = EXERCISES.index(module) + 1
        counts = _status[module]
        tests = counts["passed"] + counts["failed"]
        reason = counts["todo"] or f"{counts['failed']} of {tests} visible tests fail — see above"
        write(f"Next: exercise {number} — {reason}")
        write(_hint_line(config, module))
    if not_run:
        write(f"Not run this time: {', '.join(not_run)} (`pytest exercises` runs all {len(EXERCISES)})")
    write(
        "These are the visible checks. At grading, hidden checks test much more (shapes, dtypes, every mask,"
    )
    write("gradients, equivalence with PyTorch's modules, padding and causality, training).")
    _record_progress(config, pending[0] if pending else None, not_run)


def progress_line(ran: list[str], done: list[str]) -> str:
    """How many of the exercises this run ran pass: "2 of 7 exercises pass their visible checks: ..." when
    it ran all of them, "0 of 1 exercise run passes its visible checks" when it ran fewer."""
    passing = f": {', '.join(done)}" if done else ""
    if len(ran) == len(EXERCISES):
        return f"{len(done)} of {len(EXERCISES)} exercises pass their visible checks{passing}"
    if len(ran) == 1:
        return f"{len(done)} of 1 exercise run passes its visible checks{passing}"
    return f"{len(done)} of {len(ran)} exercises run pass their visible checks{passing}"


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


Hint = str | Callable[[], str] | None  # a callable is asked only on failure: it may try the usual mistakes


def _fail(message: str, hint: Hint = None, inputs: str | None = None) -> None:
    """Fail with the grader's shape: the facts on the first line, then the input, then the hint."""
    __tracebackhide__ = True
    if callable(hint):
        try:
            hint = hint()
        except Exception:  # noqa: BLE001 - a hint that cannot be worked out must not hide the failure
            hint = None
    lines = [message]
    if inputs:
        lines.append(f"  input: {inputs}")
    if hint:
        lines.append(f"  hint: {hint}")
    pytest.fail("\n".join(lines), pytrace=False)


def describe(value) -> str:
    """A short description of a value: ``tensor (2, 3) float32``, ``array (2,) float64``, ``list of 3``."""
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def _as_tensor(value, what: str, hint: Hint, inputs: str | None) -> torch.Tensor:
    __tracebackhide__ = True
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        _fail(f"{what}: expected an array/tensor, got {describe(value)}", hint, inputs)
    return value.detach()


def _same_shape_and_dtype(got, expected, what: str, hint: Hint, inputs: str | None):
    """Both as tensors, after failing on the first of shape and dtype that differs."""
    __tracebackhide__ = True
    got_t, expected_t = _as_tensor(got, what, hint, inputs), _as_tensor(expected, what, hint, inputs)
    if got_t.shape != expected_t.shape:
        _fail(f"{what}: shape: expected {tuple(expected_t.shape)}, got {tuple(got_t.shape)}", hint, inputs)
    if got_t.dtype != expected_t.dtype:
        _fail(f"{what}: dtype: expected {expected_t.dtype}, got {got_t.dtype}", hint, inputs)
    return got_t, expected_t


@pytest.fixture
def expect_shape():
    """``expect_shape(got, shape, what, hint=None, inputs=None)``: "what: shape: expected (..), got (..)"."""

    def check(got, shape, what: str, hint: Hint = None, inputs: str | None = None) -> None:
        __tracebackhide__ = True
        got_t = _as_tensor(got, what, hint, inputs)
        if tuple(got_t.shape) != tuple(shape):
            _fail(f"{what}: shape: expected {tuple(shape)}, got {tuple(got_t.shape)}", hint, inputs)

    return check


@pytest.fixture
def expect_close():
    """``expect_close(got, expected, what, hint=None, rtol=None, atol=None, inputs=None)``: shape, dtype,
    then values within the grader's tolerance, first mismatch only."""

    def check(
        got, expected, what: str, hint: Hint = None, rtol=None, atol=None, inputs: str | None = None
    ) -> None:
        __tracebackhide__ = True
        got_t, expected_t = _same_shape_and_dtype(got, expected, what, hint, inputs)
        default_rtol, default_atol = lesson.tolerance(expected_t.dtype)  # the grader's own table
        rtol = default_rtol if rtol is None else rtol
        atol = default_atol if atol is None else atol
        message = _mismatch(got_t, expected_t, rtol, atol)
        if message:
            _fail(f"{what}: {message}", hint, inputs)

    return check


@pytest.fixture
def expect_equal():
    """``expect_equal(got, expected, what, hint=None, inputs=None)``: shape, dtype, then every value exactly
    (masks, integer results)."""

    def check(got, expected, what: str, hint: Hint = None, inputs: str | None = None) -> None:
        __tracebackhide__ = True
        got_t, expected_t = _same_shape_and_dtype(got, expected, what, hint, inputs)
        differs = got_t.cpu() != expected_t.cpu()
        if bool(differs.any()):
            index = [int(i) for i in torch.nonzero(differs)[0]] if differs.dim() else []
            _fail(
                f"{what}: {int(differs.sum())} of {expected_t.numel()} values differ; first at {index}: "
                f"expected {expected_t[tuple(index)].item()}, got {got_t[tuple(index)].item()}",
                hint,
                inputs,
            )

    return check


@pytest.fixture
def expect_true():
    """``expect_true(condition, message, hint=None, inputs=None)``: a property that must hold; ``message``
    says where, what and what came out."""

    def check(condition, message: str, hint: Hint = None, inputs: str | None = None) -> None:
        __tracebackhide__ = True
        if not condition:
            _fail(message, hint, inputs)

    return check


@pytest.fixture
def expect_raises():
    """``expect_raises(ValueError, lambda: f(...), "module.f(...)", hint=None)``: the call must raise that
    exception; failing, it says what was called, what should have been raised and what happened instead."""

    def check(expected: type[BaseException], call: Callable[[], object], called: str, hint: Hint = None):
        __tracebackhide__ = True
        try:
            result = call()
        except expected as error:
            return error
        except NotImplementedError as error:
            if NOT_IMPLEMENTED in str(error):
                raise  # the stub's own line, shown once per exercise
            got = f"NotImplementedError: {error}"
        except Exception as error:  # noqa: BLE001 - any other exception is what the learner needs to see
            got = f"{type(error).__name__}: {error}"
        else:
            got = f"no exception (it returned {describe(result)})"
        _fail(f"{called}: expected {expected.__name__}, got {got}", hint)

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
