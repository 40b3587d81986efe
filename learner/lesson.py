"""Lesson 13's facts that the kit, its visible tests and the hidden grader share, written once.

The exercises in lesson order, with the public names each module defines and its points (the SPEC's
table), and how close a result must be to the expected one, by dtype. The visible tests
(``exercises/conftest.py``) and the grader's checks both read ``TOLERANCES`` from here, so a visible
test never fails a result the grader would pass. This module imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number, its module (also its column in ``grades.csv``),
    its public names, its points."""

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

# (rtol, atol) by dtype name: a value passes when |got - expected| <= atol + rtol * |expected|. Wide
# enough for a correct computation that sums in another order (or scales q before the product, or
# computes in float64 and rounds), tight enough to catch a wrong scale or axis. float64 allows
# float32-level error in one constant (the lesson's float32 √d_k); the attention exercise checks full
# float64 precision once, in its own check, rather than in every value check. Other dtypes are exact.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-3),
    "bfloat16": (5e-2, 2e-2),
    "float32": (2e-5, 2e-6),
    "float64": (1e-7, 1e-9),
}


def tolerance(dtype) -> tuple[float, float]:
    """``(rtol, atol)`` for a torch or NumPy dtype (``torch.float32``, ``np.float64``); ``(0, 0)``: exact."""
    name = str(dtype).removeprefix("torch.")
    return TOLERANCES.get(name, (0.0, 0.0))
