"""The sandbox's protections by name: which a session must have, and how an instructor names a risk.

Kept apart from the runner so that the command line can list them without importing PyTorch.
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


def is_active(status: str) -> bool:
    return status.startswith("active")


def missing_protections(report: dict[str, str], accepted=()) -> dict[str, str]:
    """The required protections that ``report`` (a session's, read before any learner code ran) lacks.

    A user namespace is made (and so required) only without root: it is then what the identity rests on.
    """
    required = [name for name in REQUIRED_PROTECTIONS if name != "user namespace" or "user namespace" in report]
    return {
        name: report.get(name, "not reported")
        for name in required
        if name not in accepted and not is_active(report.get(name, ""))
    }
