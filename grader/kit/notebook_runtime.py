"""The hidden tests of the nbgrader notebook: the grader's own checks, run in the notebook's kernel.

nbgrader runs a notebook top to bottom in one kernel, and a test cell earns its points unless it
raises or writes to stderr. Each test cell's hidden region calls ``grade_check(module, check,
globals())``. The first call for an exercise grades the whole exercise with
``grader.grading.grade_exercise`` — the same checks, points, stand-ins for earlier exercises and
forbidden-built-in rule as ``python -m grader grade`` — with one difference: where the grader opens
a sandboxed process, this opens a ``NotebookSession`` that finds the learner's functions by name in
the notebook's namespace and runs them right here. That is nbgrader's model: no isolation, no time or
memory limits beyond nbgrader's cell timeout. Inputs and results still pass through the wire format,
so the learner's code gets fresh copies and can only return plain tensors, as in the sandbox.

Stand-ins: for exercises 4–7 the grader runs the reference in place of the earlier exercises, so a
mistake costs points once. Here that means the earlier exercises' public names in the namespace become
the reference's (except names that the exercise's own cell defines itself), and stay so for the rest of
the notebook: the visible asserts that follow and the later exercises then see what the grader's
sandbox would. The learner's own objects are kept aside, and an exercise is always graded on its own.

Nothing here writes to stderr: warnings and whatever the learner's code prints are caught and become
notes on stdout, so a PyTorch warning never costs points.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import linecache
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_PASSED_HINT_PREFIX = "  hint: "

_RESULTS: dict[
    tuple[int, str], tuple[tuple, object]
] = {}  # (namespace, module) -> (fingerprint, ExerciseResult)
_SET_ASIDE: dict[
    int, dict[str, tuple[object, object]]
] = {}  # namespace -> {name: (learner's object, reference)}
_ABSENT = object()


class CheckNotPassed(AssertionError):
    """A hidden check did not pass; the message is the grader's own (facts first, then a hint)."""


def grade_check(module: str, check: str, namespace: dict) -> None:
    """Raise ``CheckNotPassed`` unless check ``check`` of exercise ``module`` passes on ``namespace``'s code.

    nbgrader gives the cell all its points or none; a passing check prints one line to stdout.
    """
    __tracebackhide__ = True
    _route_warnings_to_stdout()
    result = grade_exercise_in_notebook(module, namespace)
    found = next((c for c in result.checks if c.name == check), None)
    if found is None:
        known = ", ".join(c.name for c in result.checks)
        raise CheckNotPassed(
            f"{module}: the grader has no check {check!r} (it has {known}); regenerate the notebook"
        )
    if found.status != "passed":
        hint = f"\n{NOT_PASSED_HINT_PREFIX}{found.hint}" if found.hint else ""
        raise CheckNotPassed(
            f"{module}: {found.title}: {found.status.replace('_', ' ')}: {found.message}{hint}"
        ) from None
    print(f"{module}: {found.title} — {found.score:g} of {found.max_score:g} point(s)")


def grade_exercise_in_notebook(module: str, namespace: dict):
    """The ``ExerciseResult`` of ``module`` for the code in ``namespace``, graded once per definition of its
    names."""
    _make_reference_importable()
    from grader.contract import exercise as find_exercise

    exercise = find_exercise(module)
    _take_back(namespace, exercise.names)
    _put_standins_in_place(namespace, exercise)
    fingerprint = tuple(id(namespace.get(name)) for name in exercise.names)
    key = (id(namespace), module)
    cached = _RESULTS.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    result = _grade(exercise, namespace)
    _RESULTS[key] = (fingerprint, result)
    for note in result.notes:
        print(f"{module}: note: {note}")
    return result


def _take_back(namespace: dict, names) -> None:
    """Give the learner's own objects back to ``names`` where a stand-in had replaced them."""
    aside = _SET_ASIDE.setdefault(id(namespace), {})
    for name in names:
        if name in aside:
            learners, reference = aside.pop(name)
            if namespace.get(name, _ABSENT) is reference:  # else the learner has defined it again since
                if learners is _ABSENT:
                    namespace.pop(name, None)
                else:
                    namespace[name] = learners


def _put_standins_in_place(namespace: dict, exercise) -> None:
    """The reference's objects for the names of the exercises before ``exercise`` (as the grader's
    stand-ins)."""
    from grader.contract import EXERCISES
    from grader.grading import STANDIN_FROM

    if exercise.number < STANDIN_FROM:
        return
    aside = _SET_ASIDE.setdefault(id(namespace), {})
    own_cell = _cell_of(exercise, namespace)
    for earlier in (e for e in EXERCISES if e.number < exercise.number):
        reference_module = importlib.import_module(f"solutions.{earlier.module}")
        for name in earlier.names:
            reference = getattr(reference_module, name)
            current = namespace.get(name, _ABSENT)
            if current is reference:
                continue
            if own_cell is not None and _defining_file(current) == own_cell:
                continue  # the exercise's own copy, as a self-contained module would have it
            aside[name] = (current, reference)
            namespace[name] = reference


def _grade(exercise, namespace: dict):
    from grader.grading import grade_exercise
    from grader.intake.submission import Submission
    from grader.results import TIMEOUT, CheckResult, ExerciseResult
    from grader.settings import Settings

    with tempfile.TemporaryDirectory(prefix="notebook-exercise-") as folder:
        # The source scan for forbidden built-ins reads the exercise's cell, as the grader reads its file.
        (Path(folder) / exercise.filename).write_text(_cell_source(exercise, namespace), encoding="utf-8")
        submission = Submission(name="notebook", source=Path("notebook.ipynb"), folder=Path(folder))
        runner = NotebookRunner(namespace)
        try:
            with warnings.catch_warnings(record=True), _captured_output():
                warnings.simplefilter("always")  # the grader's own oracles may warn: never onto stderr
                return grade_exercise(submission, exercise, runner, Settings(cuda="off"))
        except KeyboardInterrupt:
            # nbgrader's cell timeout interrupted the kernel: every check of this exercise counts as timed
            # out.
            from grader.checks import checks_for

            message = "interrupted by nbgrader's cell timeout — an endless loop?"
            interrupted = ExerciseResult(exercise.module, exercise.number, exercise.points)
            interrupted.checks = [
                CheckResult(c.name, c.title, TIMEOUT, 0, c.points, message)
                for c in checks_for(exercise.module, device_checks=False)
            ]
            _RESULTS[(id(namespace), exercise.module)] = (
                tuple(id(namespace.get(n)) for n in exercise.names),
                interrupted,
            )
            raise


class NotebookRunner:
    """Stands in for ``grader.sandbox.runner.Runner``: its sessions run the notebook's code in this
    process."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def open_session(self, folder, *, standins=None, limits=None, forbidden_paths=()):
        # The stand-ins are in the namespace already (``_put_standins_in_place``); limits need a sandbox.
        return NotebookSession(self.namespace)


class NotebookSession:
    """One exercise's calls, like ``grader.sandbox.runner.Session.call``, on the notebook's namespace."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def call(self, task: str, payload: dict, timeout_s: float | None = None):
        """``timeout_s`` is there for the signature's sake: nbgrader's cell timeout is the only limit here."""
        from grader.sandbox.harness import tasks, wire
        from grader.sandbox.harness.operator_tripwires import take_notes
        from grader.sandbox.session import CallResult, ChildError

        take_notes()  # one kernel runs every exercise: nothing noted before this call is this call's
        started = time.monotonic()
        output = io.StringIO()
        try:
            request = wire.decode(wire.encode(payload))  # fresh copies, as the sandbox receives them
            with _captured_output(output), _own_random_state():
                value = tasks.TASKS[task](NotebookPackage(self.namespace), request)
            value = wire.decode(wire.encode(value))  # plain data only, as the sandbox can send
        except KeyboardInterrupt:
            raise
        except tasks.MissingPart as error:
            return CallResult(
                False, None, ChildError("missing", str(error)), output.getvalue(), time.monotonic() - started
            )
        except wire.WireError as error:
            return CallResult(
                False, None, ChildError("protocol", str(error)), output.getvalue(), time.monotonic() - started
            )
        except BaseException as error:  # noqa: BLE001 - whatever the learner's code raises is its result
            return CallResult(False, None, _child_error(error), output.getvalue(), time.monotonic() - started)
        return CallResult(True, value, None, output.getvalue(), time.monotonic() - started)

    def close(self) -> None:
        pass


class NotebookPackage:
    """Stands in for ``grader.sandbox.harness.tasks.Package``: the learner's names are the notebook's
    globals."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def attribute(self, module_name: str, name: str):
        from grader.sandbox.harness.tasks import MissingPart

        if name not in self.namespace:
            raise MissingPart(
                f"the notebook defines no {name} (its cell has grade_id '{module_name}'; was it run?)"
            )
        return self.namespace[name]

    def put_in_place(self, name: str) -> dict:
        """The earlier exercises' names are the reference's already (``_put_standins_in_place``)."""
        return {"whole": False, "why": ""}


def _child_error(error: BaseException):
    """The ``ChildError`` the sandbox would report for ``error``, located in a notebook cell where
    possible."""
    from grader.sandbox.harness.operator_tripwires import take_notes
    from grader.sandbox.session import ChildError

    forbidden = tuple(take_notes())  # what the failed call reached: its own, not the next call's
    file, line = None, None
    for frame, number in reversed(list(traceback.walk_tb(error.__traceback__))):
        if _is_cell_file(frame.f_code.co_filename):
            file, line = "a notebook cell", number
            break
    text = _text_of(error)[:2000]
    if isinstance(error, NotImplementedError):
        return ChildError("not_implemented", text, "NotImplementedError", file, line, forbidden)
    if isinstance(error, MemoryError):
        return ChildError("memory", "ran out of memory", type(error).__name__, file, line, forbidden)
    return ChildError("exception", text, type(error).__name__, file, line, forbidden)


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException:  # noqa: BLE001 - a message that cannot be printed is still an error
        return f"<{type(error).__name__} whose message cannot be printed>"


def _is_cell_file(filename: str) -> bool:
    # ipykernel compiles each cell as /tmp/ipykernel_<pid>/<hash>.py; plain IPython as <ipython-input-...>.
    return "ipykernel_" in filename or filename.startswith("<ipython-input-") or filename.startswith("<cell ")


def _defining_file(obj) -> str | None:
    """The file (for a notebook: the cell) that defined a function or class, or ``None``."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename
    if isinstance(obj, type):
        for member in vars(obj).values():
            found = _defining_file(getattr(member, "__func__", member))
            if found:
                return found
    return None


def _cell_of(exercise, namespace: dict) -> str | None:
    """The cell (its compiled file name) that defined the exercise's names, or ``None``."""
    return next((f for f in (_defining_file(namespace.get(name)) for name in exercise.names) if f), None)


def _cell_source(exercise, namespace: dict) -> str:
    """The text of the exercise's cell (IPython keeps each cell in ``linecache``); "" if unknown."""
    cell = _cell_of(exercise, namespace)
    return "".join(linecache.getlines(cell)) if cell else ""


def _print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


def _route_warnings_to_stdout() -> None:
    """What the notebook's setup cell does, again, in case that cell was deleted: nbgrader fails a cell on
    stderr."""
    if warnings.showwarning is warnings._showwarning_orig:  # noqa: SLF001 - replaced only if no one else has
        warnings.showwarning = _print_warning


def _make_reference_importable() -> None:
    """The checks import the reference (``solutions``) from the kit's checkout, next to ``grader/``."""
    if importlib.util.find_spec("solutions") is None:
        sys.path.append(str(REPO))


@contextlib.contextmanager
def _own_random_state():
    import torch

    with torch.random.fork_rng(devices=[]):
        yield


@contextlib.contextmanager
def _captured_output(buffer: io.StringIO | None = None):
    """Send ``print`` (Python and C level) to ``buffer`` instead of the cell's stdout and stderr."""
    buffer = buffer if buffer is not None else io.StringIO()
    saved_fds = []
    with tempfile.TemporaryFile(mode="w+b") as low_level:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            try:
                saved = os.dup(fd)
            except OSError:
                continue  # no such descriptor here: Python-level capture is all there is
            os.dup2(low_level.fileno(), fd)
            saved_fds.append((fd, saved))
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield buffer
        finally:
            for fd, saved in saved_fds:
                os.dup2(saved, fd)
                os.close(saved)
            low_level.seek(0)
            buffer.write(low_level.read().decode("utf-8", "replace"))
