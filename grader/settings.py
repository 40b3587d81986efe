"""How much each exercise of a submission may use: the grading settings, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, replace

from grader.contract import Exercise

# A GPU session's first call also starts CUDA in a fresh process: seconds on a warm driver, more on a cold one.
GPU_CALL_TIMEOUT_S = 60.0
# CUDA's own host memory (its context, the kernels it loads) is not the learner's: a GPU session gets this on top.
GPU_RUNTIME_MEMORY_MB = 1024


@dataclass(frozen=True)
class Settings:
    """How much each exercise may use. ``training_timeout_s`` is the call limit for the classifier's training.

    cuda: where the device checks (no points) run: "auto" (on a GPU when the sandbox can use one,
    else skipped), "off", or a torch device name to force (the tests' "cpu").
    accepted_risks: protections of the sandbox the run may go without (``runner.RISKS`` names); any
        other that is missing stops the run before it grades anything.
    """

    call_timeout_s: float = 10.0
    exercise_timeout_s: float = 120.0
    training_timeout_s: float = 120.0
    memory_mb: int = 2048
    cuda: str = "auto"
    accepted_risks: tuple[str, ...] = ()

    def limits_for(self, exercise: Exercise, *, gpu: bool = False):
        """The sandbox limits of ``exercise``; ``gpu`` for the session of its device check on a GPU."""
        from grader.runner import Limits  # the sandbox (and PyTorch) only when grading starts

        if exercise.module == "classifier":
            limits = Limits(
                call_timeout_s=self.training_timeout_s,
                session_timeout_s=self.exercise_timeout_s + self.training_timeout_s,
                memory_mb=self.memory_mb,
            )
        else:
            limits = Limits(
                call_timeout_s=self.call_timeout_s, session_timeout_s=self.exercise_timeout_s, memory_mb=self.memory_mb
            )
        if gpu:
            limits = replace(
                limits,
                gpu=True,
                call_timeout_s=max(limits.call_timeout_s, GPU_CALL_TIMEOUT_S),
                memory_mb=limits.memory_mb + GPU_RUNTIME_MEMORY_MB,
            )
        return limits
