"""How a ``python -m grader`` command ends: its exit codes, and the error that means "this input cannot be
used"."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED_CHECK = (
    1  # a --check (stale stubs or notebook) or the release's leak check found something to fix
)
EXIT_USAGE = 2  # bad arguments or unreadable input
EXIT_UNSAFE = 3  # the sandbox lacks a protection whose risk was not accepted: nothing was graded

MEANINGS = {
    EXIT_OK: "success",
    EXIT_FAILED_CHECK: "a --check or the release's leak check found something to fix",
    EXIT_USAGE: "usage error (bad arguments or unreadable input)",
    EXIT_UNSAFE: "the sandbox lacks a protection on this machine (see --accept-risk); nothing was graded",
}


def exit_codes_help(*codes: int, failed_check: str | None = None) -> str:
    """The ``exit codes:`` section of a verb's ``--help``: only ``codes``, the ones that verb can return
    (every code when none is named); ``failed_check`` says what exit 1 means for that verb."""
    meanings = {**MEANINGS, **({EXIT_FAILED_CHECK: failed_check} if failed_check else {})}
    return "exit codes:\n" + "\n".join(f"  {code}  {meanings[code]}" for code in sorted(codes or MEANINGS))


EXIT_CODES_HELP = exit_codes_help()  # every code: the top-level parser's epilog


class UsageError(ValueError):
    """The input cannot be used at all (missing, or holding nothing that looks like a submission)."""
