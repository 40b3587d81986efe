"""The exercise contract of ``SPEC.md``: modules, public names and points in lesson order, and what the grader
adds.

The table itself lives in ``learner/lesson.py``, the one home the kit, its visible tests and the grader
share; this module adds what only the grader needs: the built-ins a submission may not use, and the
nbgrader assignment's name.
"""

from __future__ import annotations

from learner.lesson import EXERCISES, MODULES, TOTAL_POINTS, Exercise

__all__ = ["ASSIGNMENT", "EXERCISES", "FORBIDDEN_BUILTINS", "MODULES", "TOTAL_POINTS", "Exercise", "exercise"]


ASSIGNMENT = "lesson13"  # the nbgrader assignment, and its notebook's name

# SPEC "No built-in attention": the grader uses these as independent oracles, so submissions may not.
FORBIDDEN_BUILTINS: tuple[str, ...] = (
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
    "MultiheadAttention",
    "TransformerEncoderLayer",
    "TransformerEncoder",
)


def exercise(module: str) -> Exercise:
    """The exercise whose module is ``module``; ``KeyError`` names the valid ones."""
    for candidate in EXERCISES:
        if candidate.module == module:
            return candidate
    raise KeyError(f"no exercise module {module!r}; expected one of {', '.join(MODULES)}")
