"""Why checks did not pass, said once: a cause several checks share, and a submission's main reason.

A syntax error, an import error, a missing module or an unwritten function fails every check that
needs it with the very same status and message. The feedback shows such a cause once, with the checks
it cost (``feedback_items``); the progress line names it (``main_reason``) instead of counting crashes.
Checks are gathered only when status, message and hint are all the same and none has a picture of
its own, so a check that failed for a reason of its own is always shown on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.results import (
    ERROR,
    FAILED,
    NOT_IMPLEMENTED,
    PASSED,
    SKIPPED,
    TIMEOUT,
    CheckResult,
    SubmissionResult,
    format_points,
)
from grader.safe_text import for_terminal

STATUS_MARKS = {
    PASSED: "✓",
    FAILED: "✗",
    NOT_IMPLEMENTED: "·",
    ERROR: "✗",
    TIMEOUT: "⏱",
    SKIPPED: "–",
}
SYNTAX_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError"})
IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})
# How grading.py and the sandbox word these failures: "<file>: your code raised <type> at <file> line <n>:
# <text>" (sandbox/session.py, ChildError.describe) and "<file> is missing from the submission".
RAISED = re.compile(
    r"(?P<module>[^\s:]+\.py): your code raised (?P<type>\w+)(?: at (?P<file>.+?) line (?P<line>\d+))?: "
    r"(?P<text>.*)",
    re.S,
)
MISSING = re.compile(r"(?P<file>[^\s:]+\.py) is missing from the submission")
LABELS = {
    "syntax": "A syntax error: the module could not be loaded",
    "import": "An import error: the module could not be loaded",
    "missing": "The module is missing",
    NOT_IMPLEMENTED: "Not implemented yet",
    ERROR: "Your code raised an error",
    TIMEOUT: "Out of time",
    SKIPPED: "Not run",
    FAILED: "Failed",
}
REASONS_SHOWN = 3  # a progress line names at most this many causes, then says how many more
DETAIL_LIMIT = 80  # learner text (a file name, an exception's message) in a progress line


@dataclass
class Cause:
    """Checks of one exercise that did not pass for one reason: the same status, message and hint."""

    checks: list[CheckResult]

    @property
    def status(self) -> str:
        return self.checks[0].status

    @property
    def message(self) -> str:
        return self.checks[0].message

    @property
    def hint(self) -> str:
        return self.checks[0].hint

    @property
    def label(self) -> str:
        """What kind of cause it is, in words: "Not implemented yet", "A syntax error: ..."."""
        return LABELS.get(kind(self.checks[0]), LABELS[FAILED])

    @property
    def cost(self) -> str:
        """ "10 checks, 0 / 15 points"."""
        score = sum(check.score for check in self.checks)
        most = sum(check.max_score for check in self.checks)
        return f"{len(self.checks)} checks, {format_points(score)} / {format_points(most)} points"


def feedback_items(checks: list[CheckResult]) -> list[CheckResult | Cause]:
    """``checks`` in their order, those that share a cause gathered into one ``Cause`` where the first of
    them stood."""
    shared: dict[tuple, list[CheckResult]] = {}
    for check in filter(_shareable, checks):
        shared.setdefault(_key(check), []).append(check)
    items, placed = [], set()
    for check in checks:
        group = shared.get(_key(check), []) if _shareable(check) else []
        if len(group) < 2:
            items.append(check)
        elif _key(check) not in placed:
            placed.add(_key(check))
            items.append(Cause(group))
    return items


def kind(check: CheckResult) -> str:
    """The check's status, made finer where the message says why the module could not be used:
    "syntax", "import" or "missing"."""
    if check.status == NOT_IMPLEMENTED and MISSING.fullmatch(check.message):
        return "missing"
    raised = RAISED.fullmatch(check.message) if check.status == ERROR else None
    if raised and raised["type"] in SYNTAX_ERRORS:
        return "syntax"
    if raised and raised["type"] in IMPORT_ERRORS:
        return "import"
    return check.status


def main_reason(result: SubmissionResult) -> str:
    """What went wrong with the learner's code, in a few words for a progress line, or "" when it ran
    (failed checks are grades, not trouble): "syntax error at multi_head.py line 55", "classifier.py
    missing", "softmax.py: import error (ModuleNotFoundError: ...)", "3 checks crashed, 1 timed out",
    "not implemented: masking, encoder". Learner text is made safe for a terminal here."""
    causes: dict[str, None] = {}  # ordered, without repeats: ten checks report one syntax error
    unwritten: dict[str, None] = {}
    crashed = timed_out = 0
    for exercise in result.exercises:
        for check in exercise.checks:
            what = kind(check)
            if what in ("syntax", "import", "missing"):
                causes[_module_cause(what, check.message)] = None
            elif what == NOT_IMPLEMENTED:
                unwritten[exercise.module] = None
            crashed += what == ERROR
            timed_out += what == TIMEOUT
    reasons = list(causes)
    if (
        reasons
        and all(reason.endswith(" missing") for reason in reasons)
        and len(reasons) == len(result.exercises) > 1
    ):
        reasons = ["none of the modules found"]  # the submission's own note says why
    counts = [f"{crashed} check{'s' * (crashed != 1)} crashed"] * bool(crashed)
    counts += [f"{timed_out} timed out"] * bool(timed_out)
    if counts:
        reasons.append(", ".join(counts))
    if unwritten and len(unwritten) == len(result.exercises):
        reasons.append("nothing implemented yet")
    elif unwritten:
        reasons.append("not implemented: " + ", ".join(unwritten))
    if len(reasons) > REASONS_SHOWN:
        reasons[REASONS_SHOWN:] = [f"and {len(reasons) - REASONS_SHOWN} more"]
    return "; ".join(reasons)


def _module_cause(what: str, message: str) -> str:
    if what == "missing":
        return f"{_shown(MISSING.fullmatch(message)['file'])} missing"
    raised = RAISED.fullmatch(message)
    where = raised["file"] or raised["module"]
    if what == "syntax":
        line = f" line {raised['line']}" if raised["line"] else ""
        return f"syntax error at {_shown(where)}{line}"
    return f"{_shown(where)}: import error ({raised['type']}: {_shown(raised['text'])})"


def _shown(text: str) -> str:
    return for_terminal(text, DETAIL_LIMIT)


def _shareable(check: CheckResult) -> bool:
    return check.status != PASSED and bool(check.message) and not check.picture


def _key(check: CheckResult) -> tuple:
    return check.status, check.message, check.hint


def misbehaved(result: SubmissionResult) -> bool:
    """Whether the learner's code crashed, hung or could not be loaded somewhere (the progress bar's
    "troubled"): unwritten or missing modules and failed checks are grades, not trouble."""
    kinds = {kind(check) for exercise in result.exercises for check in exercise.checks}
    return bool(kinds & {ERROR, TIMEOUT, "syntax", "import"})
