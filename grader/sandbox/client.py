"""The submission's code for one exercise, as the checks see it: every call runs in the sandbox.

Checks never touch learner objects. They send plain tensors, get plain tensors back (decoded from the
wire format in this process) and compare them here. A call that raises, crashes, runs out of memory
or time becomes ``LearnerError`` with the sentence the learner reads; after a crash or a timeout the
next call gets a fresh sandbox, so one endless loop costs only the check that hit it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from grader.results import ERROR, NOT_IMPLEMENTED, TIMEOUT
from grader.sandbox.harness.lesson_tasks import LoadFailed, NoSuchSubmodule, NotASubmodule
from grader.sandbox.harness.recorder import WARNING_ORIGINS
from grader.sandbox.session import forbidden_names

FATAL_KINDS = ("timeout", "memory", "crash", "exit", "protocol")
UNUSABLE_SUBMODULE = (NoSuchSubmodule.__name__, NotASubmodule.__name__)


class LearnerError(Exception):
    """The learner's code did not return: ``status`` is error / not_implemented / timeout.

    ``load_failure``: why the grader's weights did not load strictly into the learner's module;
    ``submodule_failure``: why a SPEC path led to nothing callable (both from ``submodules``), so a
    structure check can say so instead of "your code raised" at a line of the grader's harness.
    """

    def __init__(
        self,
        status: str,
        message: str,
        load_failure: str | None = None,
        submodule_failure: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.load_failure = load_failure
        self.submodule_failure = submodule_failure


@dataclass
class Call:
    """What one call gave back: its result, the gradients asked for, and the inputs as they are afterwards."""

    result: object
    grads: list = field(default_factory=list)
    param_grads: dict = field(default_factory=dict)
    inputs_after: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    devices: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


class Learner:
    """One exercise's view of a submission. ``open_session()`` gives a fresh sandbox session.

    ``device``: where calls run (None: the CPU, where the inputs are made). With a device, the sandbox
    moves every input tensor there (except the paths in ``stay_on_cpu``) and each ``Call.devices``
    says where the results were before they travelled back.
    """

    def __init__(self, module: str, open_session: Callable[[], object]):
        self.module = module
        self._open_session = open_session
        self._sessions: dict[int, object] = {}  # side -> its open session (``forward(side=...)``)
        self.device: str | None = None
        self.forbidden: set[str] = set()
        self.warnings: list[tuple[str, str]] = []  # (origin: recorder.WARNING_ORIGINS, "Category: message")
        self.output: list[str] = []
        self.cache: dict = {}  # results several checks share, e.g. one training run

    @contextmanager
    def on_cpu(self) -> Iterator[None]:
        """Calls inside run on the CPU, in whatever session is open (a device check's own reference run)."""
        device, self.device = self.device, None
        try:
            yield
        finally:
            self.device = device

    def move_to(self, device: str | None, open_session: Callable[[], object]) -> None:
        """From now on, run calls on ``device`` in sessions from ``open_session`` (the current one ends)."""
        self.close()
        self.device, self._open_session = device, open_session

    def call(
        self,
        function: str,
        *args,
        grad_wrt: tuple[int, ...] = (),
        grad_outputs=None,
        fresh: bool = False,
        stay_on_cpu: tuple[str, ...] = (),
        **kwargs,
    ) -> Call:
        """``module.function(*args, **kwargs)``; with ``grad_wrt``, also d(Σ outputs·grad_outputs)/d args.

        ``fresh`` runs it in a new sandbox: the two sides of a comparison must not share a process,
        or code could remember its first answer and give it again.
        """
        if fresh:
            self._close_side(0)
        payload = {
            "module": self.module,
            "function": function,
            "args": list(args),
            "kwargs": kwargs,
            "grad_wrt": list(grad_wrt),
            "grad_outputs": grad_outputs,
        }
        call = self._call("call", self._placed(payload, stay_on_cpu))
        if grad_wrt:
            _expect_lengths(call.grads, len(grad_wrt), "gradients")
        _expect_lengths(call.inputs_after, len(args), "inputs")
        return call

    def forward(
        self,
        cls: str,
        init: tuple | list = (),
        *,
        init_kwargs: dict | None = None,
        state: dict | None = None,
        train: bool = False,
        dtype: torch.dtype | None = None,
        calls: list[dict] | None = None,
        grad_params: tuple[str, ...] | list[str] = (),
        seed: int = 0,
        fresh: bool = False,
        side: int = 0,
        stay_on_cpu: tuple[str, ...] = (),
    ) -> Call:
        """Build ``module.cls(*init, **init_kwargs)``, load ``state``, then run each of ``calls``.

        Each call is ``{"args": [...], "kwargs": {...}, "grad_wrt": [...], "grad_output": tensor}``.
        ``result`` is the list of outputs; ``grads`` the list of input-gradient lists; ``param_grads``
        maps each name in ``grad_params`` to that parameter's gradient after the last call, the parameter
        found by its attribute path (``self_attn.q_proj.weight``), whatever other names it has.

        ``side``: the sandbox it runs in, when the sides of a comparison must not share a process (or
        code could remember its first answer and give it again). Side 0 is every other call's; each
        other side has a sandbox of its own, kept open for the next call on that side. So the
        classifier's seven comparisons of two calls take two sandboxes, not eight: each comparison is
        split across them, and no two calls in one of them are about the same sequences.
        """
        payload = {
            "module": self.module,
            "cls": cls,
            "init": list(init),
            "init_kwargs": init_kwargs or {},
            "state": state,
            "train": train,
            "dtype": None if dtype is None else str(dtype).removeprefix("torch."),
            "calls": calls or [],
            "grad_params": list(grad_params),
            "seed": seed,
        }
        if fresh:
            self._close_side(side)
        call = self._call("forward", self._placed(payload, stay_on_cpu), side)
        calls = calls or []
        _expect_lengths(call.result, len(calls), "outputs")
        _expect_lengths(call.grads, len(calls), "gradient lists")
        _expect_lengths(call.inputs_after, len(calls), "input lists")
        for grads, spec in zip(call.grads, calls):
            _expect_lengths(grads, len(spec.get("grad_wrt") or []), "gradients")
        return call

    def submodules(
        self,
        cls: str,
        init: tuple | list = (),
        *,
        state: dict,
        calls: list[dict],
        init_kwargs: dict | None = None,
        dtype: torch.dtype | None = None,
        seed: int = 0,
    ) -> Call:
        """Build ``module.cls(*init, **init_kwargs)``, load ``state`` strictly, eval mode, call submodules.

        Each call is ``{"path": "layers.1.linear1", "args": [...]}``; ``result`` lists what each
        submodule returned. ``state`` must load by ``lesson_tasks.load_strictly`` (else ``LearnerError``
        with ``load_failure``) and each path lead to something callable (else ``submodule_failure``).
        """
        payload = {
            "module": self.module,
            "cls": cls,
            "init": list(init),
            "init_kwargs": init_kwargs or {},
            "state": state,
            "dtype": None if dtype is None else str(dtype).removeprefix("torch."),
            "calls": calls,
            "seed": seed,
        }
        call = self._call("submodules", self._placed(payload, ()))
        _expect_lengths(call.result, len(calls), "outputs")
        return call

    def raises(self, function: str, *args, **kwargs) -> str | None:
        """The name of the exception ``module.function(*args, **kwargs)`` raises, or ``None``."""
        payload = {"module": self.module, "function": function, "args": list(args), "kwargs": kwargs}
        return self._call("raises", payload).result

    def train(self, payload: dict) -> Call:
        """Build the classifier, train it with the learner's ``train_classifier``, predict held-out data."""
        return self._call("train", self._placed({"module": self.module, **payload}, ()))

    def _placed(self, payload: dict, stay_on_cpu) -> dict:
        if self.device is None:
            return payload
        return {**payload, "device": self.device, "stay_on_cpu": list(stay_on_cpu)}

    def close(self) -> None:
        for side in list(self._sessions):
            self._close_side(side)

    def _close_side(self, side: int) -> None:
        session = self._sessions.pop(side, None)
        if session is not None:
            session.close()

    def _call(self, task: str, payload: dict, side: int = 0) -> Call:
        if side not in self._sessions:
            self._sessions[side] = self._open_session()
        outcome = self._sessions[side].call(task, payload)
        if outcome.output:
            self.output.append(outcome.output)
        if not outcome.ok:
            error = outcome.error
            self.forbidden.update(error.forbidden)
            if error.kind in FATAL_KINDS:
                self._close_side(side)
            status = {"not_implemented": NOT_IMPLEMENTED, "missing": NOT_IMPLEMENTED, "timeout": TIMEOUT}.get(
                error.kind, ERROR
            )
            stub_message = error.kind == "not_implemented" and "is not implemented yet" in (
                error.message or ""
            )
            message = error.message if stub_message else error.describe()
            raised = error.exc_type if error.kind == "exception" else None
            raise LearnerError(
                status,
                message,
                load_failure=error.message if raised == LoadFailed.__name__ else None,
                submodule_failure=error.message if raised in UNUSABLE_SUBMODULE else None,
            )
        value = outcome.value
        if not isinstance(value, dict) or "result" not in value:
            raise LearnerError(ERROR, "the sandbox returned a malformed reply")
        self.forbidden.update(forbidden_names(value.get("forbidden")))
        self.warnings.extend(_warning(warning) for warning in value.get("warnings", []))
        return Call(
            result=value["result"],
            grads=value.get("grads") or [],
            param_grads=value.get("param_grads") or {},
            inputs_after=value.get("inputs_after") or [],
            losses=value.get("losses") or [],
            devices=value.get("devices") if isinstance(value.get("devices"), dict) else {},
            extra={
                key: item
                for key, item in value.items()
                if key not in ("result", "grads", "param_grads", "inputs_after")
            },
        )


def _warning(reported) -> tuple[str, str]:
    """``(origin, text)`` of one reported warning; anything else the reply holds is the learner's code's."""
    if type(reported) in (list, tuple) and len(reported) == 2 and all(type(x) is str for x in reported):
        origin, text = reported
        return (origin if origin in WARNING_ORIGINS else "code"), text
    return "code", str(reported)


def _expect_lengths(values, expected: int, what: str) -> None:
    """A reply must answer everything asked: a harness rewritten by the learner's code could drop parts."""
    if not isinstance(values, (list, tuple)) or len(values) != expected:
        got = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
        raise LearnerError(
            ERROR,
            f"the sandbox's reply is incomplete ({got} {what} for {expected}); was the grader's harness "
            "altered?",
        )
