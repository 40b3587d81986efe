"""The grading model: plain dataclasses for what a check, an exercise and a submission earned."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from grader.safe_text import MESSAGE_LIMIT, NAME_LIMIT, NOTE_LIMIT, bounded_items, for_json

PASSED, FAILED, NOT_IMPLEMENTED, ERROR, TIMEOUT, SKIPPED = (
    "passed",
    "failed",
    "not_implemented",
    "error",
    "timeout",
    "skipped",
)


@dataclass
class CheckResult:
    """One named check of one exercise.

    name: the check's function name without ``check_`` (stable, for gradebooks).
    title: the sentence the learner sees ("fully masked rows give zero weights").
    status: passed | failed | not_implemented | error (the code raised or crashed) | timeout | skipped.
    message: the facts of a failure (empty when passed). hint: a question pointing at the idea.
    score / max_score: points earned / available. elapsed_s: wall time of the check.
    picture: for some failures, small 2-D lists {"title", "mask", "got", "expected"} that the HTML
        feedback draws side by side (the learner's attention weights beside the expected ones).
    """

    name: str
    title: str
    status: str
    score: float
    max_score: float
    message: str = ""
    hint: str = ""
    elapsed_s: float = 0.0
    picture: dict | None = None


def shown(check: CheckResult) -> bool:
    """Whether feedback lists ``check``: all but a no-points check that did not run (the device
    checks on a machine without a GPU, or of a missing module); results.json keeps every check."""
    return not (check.max_score == 0 and check.status in (SKIPPED, NOT_IMPLEMENTED))


@dataclass
class ExerciseResult:
    """One exercise: its checks, in feedback order, and notes (stand-ins used, warnings, forbidden
    built-ins)."""

    module: str
    number: int
    max_score: float
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(check.score for check in self.checks), 6)


@dataclass(frozen=True)
class Identity:
    """Who the learner is as their LMS knows them, read from the export's own names (never from code).

    lms: the export's kind ("moodle", "canvas", "github-classroom", "gradescope", "nbgrader"); "" for a
        plain folder. id: the key that LMS matches grades on (Moodle's participant id, Canvas's user id,
        the GitHub username, Gradescope's SID or email, nbgrader's student id). name: the full name where
        the export gives one. login: a login, username or email where the export gives one.
    """

    lms: str = ""
    id: str = ""
    name: str = ""
    login: str = ""


@dataclass
class SubmissionResult:
    """One learner's submission: every exercise, in lesson order, notes about loading it, and who it is.

    ``identity`` and the intake's notes come from the export being graded, not from the record: they
    are laid over a loaded record each run (``grader.bulk``), so a record never needs regrading for them.
    """

    submission: str
    exercises: list[ExerciseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    identity: Identity = field(default_factory=Identity)

    @property
    def total(self) -> float:
        return round(sum(exercise.score for exercise in self.exercises), 6)

    @property
    def max_score(self) -> float:
        return sum(exercise.max_score for exercise in self.exercises)

    def to_json(self) -> dict:
        """The record written to the gradebook and results.json.

        Notes, messages and hints carry what the sandbox reported, which the learner's code chooses:
        they are bounded and made visible here, for every file that records them (a lone surrogate,
        sent as a ``\\ud800`` escape, cannot even be written as UTF-8). The name stays exact: the
        gradebook finds a record by it.
        """
        data = asdict(self)
        data["total"], data["max_score"] = self.total, self.max_score
        data["notes"] = [for_json(note, NOTE_LIMIT) for note in bounded_items(data["notes"])]
        data["identity"] = {
            key: for_json(value, NAME_LIMIT, one_line=True) for key, value in data["identity"].items()
        }
        for exercise, source in zip(data["exercises"], self.exercises):
            exercise["score"] = source.score
            exercise["notes"] = [for_json(note, NOTE_LIMIT) for note in bounded_items(exercise["notes"])]
            for check in exercise["checks"]:
                check["message"] = for_json(check["message"], MESSAGE_LIMIT)
                check["hint"] = for_json(check["hint"], NOTE_LIMIT)
        return data

    @classmethod
    def from_json(cls, data: dict) -> SubmissionResult:
        """The inverse of ``to_json`` (derived fields are recomputed, not read)."""
        exercises = []
        for exercise in data["exercises"]:
            checks = [CheckResult(**check) for check in exercise["checks"]]
            fields = {key: exercise[key] for key in ("module", "number", "max_score", "notes", "elapsed_s")}
            exercises.append(ExerciseResult(**fields, checks=checks))
        identity = data.get("identity") or {}
        identity = Identity(**{key: str(identity.get(key, "")) for key in Identity.__dataclass_fields__})
        return cls(
            data["submission"], exercises, list(data.get("notes", [])), data.get("elapsed_s", 0.0), identity
        )


def format_points(value: float) -> str:
    """Points as every report writes them: ``7.5``, ``10``, ``0``."""
    return f"{value:g}"
