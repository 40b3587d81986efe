"""How much each exercise of a submission may use: the grading settings, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from grader.contract import Exercise


@dataclass(frozen=True)
class Settings:
    """How much each exercise may use. ``training_timeout_s`` is the call limit for the classifier's training."""

    call_timeout_s: float = 10.0
    exercise_timeout_s: float = 120.0
    training_timeout_s: float = 120.0
    memory_mb: int = 2048

    def limits_for(self, exercise: Exercise):
        from grader.runner import Limits  # the sandbox (and PyTorch) only when grading starts

        if exercise.module == "classifier":
            return Limits(
                call_timeout_s=self.training_timeout_s,
                session_timeout_s=self.exercise_timeout_s + self.training_timeout_s,
                memory_mb=self.memory_mb,
            )
        return Limits(call_timeout_s=self.call_timeout_s, session_timeout_s=self.exercise_timeout_s, memory_mb=self.memory_mb)
