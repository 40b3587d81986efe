"""The sandbox's protections by name: which a session must have, how an instructor names a risk, and the
errors that stop a run when the sandbox itself fails or lacks one.

Kept apart from the runner so that the command line can list and catch them without importing PyTorch.
"""

from __future__ import annotations

# Every protection each session must have; the instructor may accept the risk of going without one
# (by name: --accept-risk syscall-filter), never silently. See README, Trust.
REQUIRED_PROTECTIONS = (
    "parent death signal",
    "pid namespace",
    "network namespace",
    "mount namespace",
    "ipc namespace",
    "user namespace",
    "private root",
    "landlock",
    "rlimits",
    "session keyring",
    "identity",
    "syscall filter",
)


def risk_name(protection: str) -> str:
    """The command line's name for going without ``protection``: "syscall filter" -> "syscall-filter"."""
    return protection.replace(" ", "-")


RISKS = tuple(risk_name(protection) for protection in REQUIRED_PROTECTIONS)
# Risk names, comma-separated, of protections a runner leaves out to stand for a weaker machine (tests).
WITHOUT_VARIABLE = "KIT_SANDBOX_WITHOUT"


def protections_named(risks) -> list[str]:
    """The protections that the command line's risk names (``--accept-risk syscall-filter``) stand for."""
    wanted = set(risks)
    return [name for name in REQUIRED_PROTECTIONS if risk_name(name) in wanted]


def is_active(status: str) -> bool:
    return status.startswith("active")


def missing_protections(report: dict[str, str], accepted=()) -> dict[str, str]:
    """The required protections that ``report`` (a session's, read before any learner code ran) lacks.

    A user namespace is made (and so required) only without root: it is then what the identity rests on.
    """
    required = [
        name for name in REQUIRED_PROTECTIONS if name != "user namespace" or "user namespace" in report
    ]
    return {
        name: report.get(name, "not reported")
        for name in required
        if name not in accepted and not is_active(report.get(name, ""))
    }


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the learner's code): the zygote died, a stand-in is broken."""


class MissingProtection(SandboxError):
    """The sandbox lacks a protection the instructor has not accepted to go without: grading must stop."""

    def __init__(self, missing: dict[str, str], where: str = "on this machine"):
        self.missing = missing
        lines = "\n".join(f"  {name}: {status}" for name, status in missing.items())
        flags = " ".join(f"--accept-risk {risk_name(name)}" for name in missing)
        super().__init__(
            f"refusing to grade: the sandbox {where} lacks\n"
            f"{lines}\n"
            "Without it, a submission could reach what that protection guards (see the README, Trust).\n"
            f"To grade anyway, name each risk you accept: {flags}"
        )
