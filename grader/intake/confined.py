"""Errors confined to one submission: the note that says so, and how a run counts them.

Whatever one submission makes the grader's own process hit — a ``RecursionError`` in a parser, a
``MemoryError``, a zip the standard library chokes on, a bug of ours that only its input reaches — costs
that submission alone: it still gets its row, with the reason in a note, and the rest of the class is
graded as usual. Such notes start with ``MARK``, so the run's final line can say how many submissions
hit one, and an instructor can find them in results.json.
"""

from __future__ import annotations

MARK = "⚠ "
DETAIL_CHARS = 300  # an exception's message can be the learner's text: a bounded part of it


def note(text: str) -> str:
    """``text`` as a confined-error note."""
    return MARK + text


def is_note(text: str) -> bool:
    return text.startswith(MARK)


def describe(error: BaseException) -> str:
    """``RecursionError: maximum recursion depth exceeded``, bounded."""
    detail = str(error)
    if len(detail) > DETAIL_CHARS:
        detail = detail[:DETAIL_CHARS] + "…"
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def hit(result) -> bool:
    """Whether a ``SubmissionResult`` carries a confined-error note, on itself or on an exercise."""
    notes = list(result.notes) + [note for exercise in result.exercises for note in exercise.notes]
    return any(is_note(text) for text in notes)
