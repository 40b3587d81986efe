"""Pairing the LMS's rows with the results, on the LMS's own id and nothing else, and saying how it went.

A row is a learner's when its id (Canvas's ``ID``, Moodle's ``Participant <id>``) is the id the LMS
export gave that learner's submission. Nothing is guessed: a name that looks alike is not a match. What
did not pair is listed for the instructor: learners of the LMS without a submission (their rows keep
their cells) and submissions no row claims (left out of the import).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.exits import UsageError
from grader.export.graded import ID_NAMES, NAMES_SHOWN, Graded
from grader.safe_text import SHOWN_NAME_LIMIT, for_terminal


@dataclass(frozen=True)
class Learner:
    """A learner's row of the LMS file: its index among the rows, its id there, and how to name it."""

    row: int
    id: str
    label: str


@dataclass
class Matching:
    """What paired: (row index, result) for each match, the rows' learners without a result, and the
    results without a row."""

    lms: str
    sheet: str
    matched: list[tuple[int, Graded]] = field(default_factory=list)
    without_submission: list[Learner] = field(default_factory=list)
    without_row: list[Graded] = field(default_factory=list)

    def summary(self, verb: str, written: list[Path]) -> str:
        """One paragraph: matched N, who has no submission, which submissions no row claims, the files."""
        id_name = ID_NAMES.get(self.lms, "id")
        parts = [f"grader export {verb}: matched {len(self.matched)} learner(s)"]
        if self.without_submission:
            names = [learner.label for learner in self.without_submission]
            parts.append(
                f"{len(names)} in the {self.sheet} without a submission, their rows kept as they were: "
                + _listed(names)
            )
        if self.without_row:
            names = [_result_label(result, self.lms, id_name) for result in self.without_row]
            parts.append(
                f"{len(names)} submission(s) matching no row of the {self.sheet}, left out (nothing is "
                f"matched by name): " + _listed(names)
            )
        return "; ".join(parts) + f". Wrote {', '.join(str(path) for path in written)}."


def pair(
    learners: list[Learner],
    by_id: dict[str, Graded],
    others: list[Graded],
    *,
    lms: str,
    sheet: str,
    where: str,
) -> Matching:
    """Pair each learner with the result of the same id; ``where`` names the file in a duplicate error."""
    counts = Counter(learner.id for learner in learners if learner.id)
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        shown = ", ".join(for_terminal(key, 40) for key in repeated[:NAMES_SHOWN])
        more = f" and {len(repeated) - NAMES_SHOWN} more" if len(repeated) > NAMES_SHOWN else ""
        raise UsageError(
            f"{where} has more than one row for the same {ID_NAMES.get(lms, 'id')}: {shown}{more}; "
            "export it again from the LMS"
        )
    matching = Matching(lms, sheet)
    claimed = set()
    for learner in learners:
        result = by_id.get(learner.id) if learner.id else None
        if result is None:
            matching.without_submission.append(learner)
        else:
            matching.matched.append((learner.row, result))
            claimed.add(learner.id)
    matching.without_row = [result for key, result in by_id.items() if key not in claimed] + list(others)
    return matching


def _result_label(result: Graded, lms: str, id_name: str) -> str:
    if result.identity.lms == lms and result.identity.id.strip():
        return f"{result.submission} ({id_name} {result.identity.id.strip()})"
    return f"{result.submission} (no {id_name})"


def _listed(names: list[str]) -> str:
    # Names come from the LMS and from learner-chosen file names: one line each, bounded, a few of them,
    # quoted because sortable names hold commas ("Doe, Jane").
    shown = ", ".join(f'"{for_terminal(name, SHOWN_NAME_LIMIT, tag=True)}"' for name in names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
