"""A later exercise's earlier modules, each imported under a short limit before any check's call.

Exercises 4–7 run with the reference standing in for the earlier modules they import: the learner's
module is imported and the stand-in's public names overwrite its own (``harness/submission_package.py``).
Importing still runs the module's top level, so test code left at its bottom — an endless loop,
``os._exit`` — would otherwise hang or end every call of every later exercise. So each new session
first puts the earlier modules in place one call at a time, each under ``IMPORT_TIMEOUT_S`` (not the
call timeout). One that does not finish in time or ends the process is replaced by its stand-in whole
in a fresh session, and in every later session of the exercise. That decision rests on what the grader
sees itself: its own deadline, and the process's exit status from the session's supervisor.

A module that raises while importing (``SystemExit`` and ``KeyboardInterrupt`` too) is replaced whole
by the sandbox itself, as it always was; the reason it gives is its word, so it only words the note,
and later sessions skip that module's import.
"""

from __future__ import annotations

from collections.abc import Callable

from grader.sandbox.session import Session

# Importing takes milliseconds (PyTorch and NumPy are loaded in the fork server already); test code left
# at the bottom of a module may take a little longer, an endless loop takes forever.
IMPORT_TIMEOUT_S = 2.0
WHY_CHARS = 300
MISSING = "is missing"  # the sandbox's word for a module not handed in (harness/submission_package.py)


class EarlierModules:
    """The earlier modules of one exercise's sessions, and which of them the reference replaces whole.

    standins: ``{module: {"source": str, "names": [str]}}`` in module order (empty before exercise 4).
    replaced: ``{module: why}`` for each module the reference replaces whole, in the order found.
    output: what the learner's code printed while its earlier modules were imported.
    """

    def __init__(self, standins: dict[str, dict]):
        self._standins = standins
        self.replaced: dict[str, str] = {}
        self.output: list[str] = []

    def open_session(self, fork: Callable[[dict], Session], import_timeout_s: float = IMPORT_TIMEOUT_S):
        """A session from ``fork(standins)`` with the earlier modules in place, before any other call."""
        for _ in range(len(self._standins) + 1):  # each retry replaces one more module: the last has none
            session = fork(self._standins_now())
            try:
                imported = self._put_in_place(session, import_timeout_s)
            except BaseException:
                session.close()
                raise
            if imported:
                return session
            session.close()
        return fork(self._standins_now())

    def notes(self) -> list[str]:
        """One sentence per module replaced whole, for the feedback; none for a missing module, which its own
        exercise reports (a learner who hands in classifier.py alone would read six such notes four times)."""
        return [
            f"Your {module}.py {why}, so the reference stood in for it whole."
            for module, why in self.replaced.items()
            if why != MISSING
        ]

    def _standins_now(self) -> dict[str, dict]:
        return {
            module: {**spec, "whole": True} if module in self.replaced else spec
            for module, spec in self._standins.items()
        }

    def _put_in_place(self, session: Session, import_timeout_s: float) -> bool:
        """Import each earlier module not yet replaced; False when one failed and the session must go."""
        for module in self._standins:
            if module in self.replaced:
                continue
            outcome = session.call("import_earlier", {"module": module}, timeout_s=import_timeout_s)
            if outcome.output:
                self.output.append(outcome.output)
            if not outcome.ok:
                self.replaced[module] = _why_it_failed(outcome.error, import_timeout_s)
                return False
            said = outcome.value.get("result") if type(outcome.value) is dict else None
            if type(said) is dict and said.get("whole") is True:
                why = said.get("why")
                self.replaced[module] = why[:WHY_CHARS] if type(why) is str and why else "did not import"
        return True


def _why_it_failed(error, import_timeout_s: float) -> str:
    if error.kind == "timeout" and "CPU time" not in error.message:
        return f"did not finish importing within {import_timeout_s:g} s"
    if error.kind in ("timeout", "crash", "exit", "memory"):
        return f"ended the process while importing ({error.describe()})"
    return f"could not be imported in the sandbox ({error.describe()[:WHY_CHARS]})"
