"""The exercise contract of ``SPEC.md``, transcribed once: modules, public names and points, in lesson order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number, its module (also its column in ``grades.csv``), its public names, its points."""

    number: int
    module: str
    names: tuple[str, ...]
    points: int

    @property
    def filename(self) -> str:
        return f"{self.module}.py"


EXERCISES: tuple[Exercise, ...] = (
    Exercise(1, "softmax", ("softmax",), 10),
    Exercise(2, "attention", ("scaled_dot_product_attention",), 15),
    Exercise(3, "masking", ("causal_mask", "padding_mask", "masked_attention"), 20),
    Exercise(4, "self_attention", ("SelfAttention",), 10),
    Exercise(5, "multi_head", ("MultiHeadAttention",), 15),
    Exercise(6, "encoder", ("EncoderBlock", "Encoder", "sinusoidal_positional_encoding"), 20),
    Exercise(7, "classifier", ("AttentionClassifier", "train_classifier"), 10),
)

MODULES: tuple[str, ...] = tuple(exercise.module for exercise in EXERCISES)
TOTAL_POINTS = sum(exercise.points for exercise in EXERCISES)

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
