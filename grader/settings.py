"""How much each exercise of a submission may use: the grading settings, and the sandbox limits they make."""

from __future__ import annotations

from dataclasses import dataclass, replace

from grader.contract import Exercise

# A GPU session's first call also starts CUDA in a fresh process: seconds on a warm driver, more on a cold
# one.
GPU_CALL_TIMEOUT_S = 60.0
# CUDA's own host memory (its context, the kernels it loads) is not the learner's: a GPU session gets this on
# top.
GPU_RUNTIME_MEMORY_MB = 1024


@dataclass(frozen=True)
class Limits:
    """What one session may use.

    call_timeout_s: wall-clock seconds for one call (the first also imports the learner's module; a
        later exercise's earlier modules are imported before it, each by a call with a short limit of
        its own: ``grader.sandbox.earlier_modules``).
    session_timeout_s: wall-clock seconds for all calls of a session together; also the CPU-time
        limit of each of its processes.
    memory_mb: address space each process may add to what the zygote had already mapped.
    max_processes: processes and threads the session may have at once (RLIMIT_NPROC counts both).
    output_bytes: how much of what a call prints is kept; the rest is counted, not stored.
    file_size_mb: the largest file the learner's code may write in its scratch folder.
    scratch_mb, scratch_files: what the scratch folder may hold in all (a tmpfs of that size and
        number of files; the submission's own modules count).
    reply_mb: the largest reply the grader reads; a larger one is refused from its header, unread.
    demote_after_s: how long a call runs before it is lowered in priority and, on a busy machine, held to
        a tenth of a core (``None``: the sandbox's ``DEMOTE_AFTER_S`` or a quarter of the call's limit,
        whichever is later); it keeps its whole ``call_timeout_s`` either way.
    gpu: the session may use NVIDIA GPUs (their device files and driver); ``memory_mb`` then bounds
        private writable memory (RLIMIT_DATA), since CUDA reserves more address space than it uses.
        GPU memory itself is not bounded: the session's end frees it.
    """

    call_timeout_s: float = 30
    session_timeout_s: float = 180
    memory_mb: int = 2048
    max_processes: int = 64
    output_bytes: int = 2000
    file_size_mb: int = 64
    scratch_mb: int = 64
    scratch_files: int = 1024
    reply_mb: int = 32
    demote_after_s: float | None = None
    gpu: bool = False


@dataclass(frozen=True)
class Settings:
    """How much each exercise may use. ``training_timeout_s`` is the call limit for the classifier's training.

    cuda: where the device checks (no points) run: "auto" (on a GPU when the sandbox can use one,
    else skipped), "off", or a torch device name to force (the tests' "cpu").
    accepted_risks: protections of the sandbox the run may go without (names from
        ``grader.sandbox.protections.RISKS``); any other that is missing stops the run before it grades
        anything.
    """

    call_timeout_s: float = 10.0
    exercise_timeout_s: float = 120.0
    training_timeout_s: float = 120.0
    memory_mb: int = 2048
    cuda: str = "auto"
    accepted_risks: tuple[str, ...] = ()

    def limits_for(self, exercise: Exercise, *, gpu: bool = False) -> Limits:
        """The sandbox limits of ``exercise``; ``gpu`` for the session of its device check on a GPU."""
        if exercise.module == "classifier":
            limits = Limits(
                call_timeout_s=self.training_timeout_s,
                session_timeout_s=self.exercise_timeout_s + self.training_timeout_s,
                memory_mb=self.memory_mb,
            )
        else:
            limits = Limits(
                call_timeout_s=self.call_timeout_s,
                session_timeout_s=self.exercise_timeout_s,
                memory_mb=self.memory_mb,
            )
        if gpu:
            limits = replace(
                limits,
                gpu=True,
                call_timeout_s=max(limits.call_timeout_s, GPU_CALL_TIMEOUT_S),
                memory_mb=limits.memory_mb + GPU_RUNTIME_MEMORY_MB,
            )
        return limits
