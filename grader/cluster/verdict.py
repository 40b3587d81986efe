"""A worker's answer, read as text and checked against the lesson before it is believed.

A task returns JSON text, never a pickled object. The driver parses it within a size bound and accepts
it only when it is a whole result of this submission, by this grader, in the lesson's shape: every
exercise of the contract in order with its points, every check of that exercise in order with its
points, each status one of the six, each score the check's points when it passed and 0 otherwise, and
a sandbox whose every protection was active (or its risk accepted). Anything else is a
``VerdictError`` naming what was wrong; the submission then gets no record, and the next run grades it
again.
"""

from __future__ import annotations

import json
import math

from grader.contract import EXERCISES
from grader.gradebook import MAX_RECORD_BYTES
from grader.results import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, SKIPPED, TIMEOUT, SubmissionResult
from grader.sandbox.protections import MissingProtection, missing_protections, protections_named

STATUSES = (PASSED, FAILED, NOT_IMPLEMENTED, ERROR, TIMEOUT, SKIPPED)


class VerdictError(ValueError):
    """A worker's answer that is not a whole, well-formed result of the submission it was asked about."""


def read_verdict(
    text: object, *, name: str, grader: str, accepted=()
) -> tuple[SubmissionResult, dict[str, str]]:
    """The result and the sandbox's protections in ``text``, a worker's answer about submission ``name``.

    Raises ``VerdictError`` for anything malformed, and ``MissingProtection`` when the worker's sandbox
    lacked a protection whose risk (``--accept-risk`` name) is not in ``accepted``.
    """
    if type(text) is not str:
        raise VerdictError(f"the answer is a {type(text).__name__}, not JSON text")
    if len(text) > MAX_RECORD_BYTES:
        raise VerdictError(f"the answer is larger than {MAX_RECORD_BYTES} characters")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise VerdictError(f"the answer is not JSON ({error})") from None
    _expect(type(document) is dict and set(document) == {"grader", "protections", "result"}, "its keys")
    if document["grader"] != grader:
        raise VerdictError(f"it was graded by another version of the grader ({str(document['grader'])[:40]})")
    protections = document["protections"]
    _expect(
        type(protections) is dict
        and all(type(key) is str and type(value) is str for key, value in protections.items()),
        "its protections",
    )
    missing = missing_protections(protections, protections_named(accepted))
    if missing:
        raise MissingProtection(missing)
    result = document["result"]
    _expect(type(result) is dict and result.get("submission") == name, "the submission it names")
    _expect_result(result)
    return SubmissionResult.from_json(result), protections


def _expect_result(result: dict) -> None:
    # The checks import PyTorch: here, with the first answer, not before the driver has started its cluster.
    from grader.checks import checks_for

    _expect(_strings(result.get("notes")), "its notes")
    _expect(_seconds(result.get("elapsed_s")), "its time")
    exercises = result.get("exercises")
    _expect(type(exercises) is list and len(exercises) == len(EXERCISES), "its exercises")
    for got, exercise in zip(exercises, EXERCISES):
        where = f"exercise {exercise.module}"
        _expect(type(got) is dict, where)
        _expect(
            got.get("module") == exercise.module
            and got.get("number") == exercise.number
            and got.get("max_score") == exercise.points,
            f"{where}: its name, number or points",
        )
        _expect(_strings(got.get("notes")) and _seconds(got.get("elapsed_s")), f"{where}: its notes or time")
        checks = got.get("checks")
        expected = checks_for(exercise.module)
        _expect(type(checks) is list and len(checks) == len(expected), f"{where}: its checks")
        for check, known in zip(checks, expected):
            _expect_check(check, known, f"{where}, check {known.name}")


def _expect_check(check: object, known, where: str) -> None:
    _expect(type(check) is dict, where)
    _expect(
        check.get("name") == known.name and check.get("title") == known.title,
        f"{where}: its name or title",
    )
    _expect(check.get("max_score") == known.points and check.get("status") in STATUSES, f"{where}: points")
    earned = known.points if check["status"] == PASSED else 0
    _expect(check.get("score") == earned, f"{where}: a score its status does not give")
    _expect(type(check.get("message")) is str and type(check.get("hint")) is str, f"{where}: message or hint")
    _expect(_seconds(check.get("elapsed_s")), f"{where}: its time")
    _expect(check.get("picture") is None or type(check.get("picture")) is dict, f"{where}: its picture")
    _expect(
        set(check)
        <= {"name", "title", "status", "score", "max_score", "message", "hint", "elapsed_s", "picture"},
        f"{where}: its fields",
    )


def _strings(value: object) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _seconds(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise VerdictError(f"the answer is malformed: {what}")
