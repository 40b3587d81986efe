"""The learner's modules as the package the tasks call into, with the reference standing in where it must.

The scratch folder's modules are imported as the package ``submission``; a stand-in (the reference's
source of an earlier exercise, sent by the grader) replaces the names a later exercise imports from it,
or the whole module when the learner's does not import or the grader says so (it hung or ended the
process while importing in an earlier session: ``grader.sandbox.earlier_modules``).
"""

import importlib
import importlib.abc
import importlib.util
import sys
import traceback
import types
from pathlib import Path

from . import tasks

SUBMISSION_PACKAGE = "submission"
STANDIN_PACKAGE = "_standin"
WHY_CHARS = 300


class _StandinImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``_standin.<name>`` from source held in memory, so stand-ins import each other."""

    def __init__(self, sources: dict[str, str]):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != STANDIN_PACKAGE or name not in self.sources:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=f"<stand-in {name}.py>")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__.rpartition(".")[2]
        exec(compile(self.sources[name], f"<stand-in {name}.py>", "exec", dont_inherit=True), module.__dict__)


def load_standins(standins: dict) -> dict[str, tuple[types.ModuleType, list[str], bool]]:
    """Import every stand-in, in the order given, as ``_standin.<name>``, and check it defines its names.

    Each becomes ``(module, its public names, whether it stands in whole)``.
    """
    package = types.ModuleType(STANDIN_PACKAGE)
    package.__path__ = []
    sys.modules[STANDIN_PACKAGE] = package
    sys.meta_path.insert(0, _StandinImporter({name: spec["source"] for name, spec in standins.items()}))
    loaded = {}
    for name, spec in standins.items():
        module = importlib.import_module(f"{STANDIN_PACKAGE}.{name}")
        missing = [public for public in spec["names"] if not hasattr(module, public)]
        if missing:
            raise AttributeError(f"stand-in {name} defines no {', '.join(missing)}")
        loaded[name] = (module, list(spec["names"]), spec.get("whole") is True)
    return loaded


class SubmissionPackage(tasks.Package):
    """``submission`` over the scratch copy; its earlier modules are put in place, in order, on demand.

    In module order, the learner's module is imported and its stand-in names overwritten, so a later
    module's ``from .masking import masked_attention`` gets the stand-in while ``from .masking import
    _own_helper`` still finds the learner's. A module that is missing, fails to import, or that the
    grader names to stand in whole is replaced by its stand-in whole.
    """

    def __init__(self, scratch: Path, standins: dict):
        super().__init__(SUBMISSION_PACKAGE)
        self._scratch = scratch
        self._standins = standins
        self._waiting = list(standins)
        self._placed: dict[str, dict] = {}
        package = types.ModuleType(SUBMISSION_PACKAGE)
        package.__path__ = [str(scratch)]
        package.__package__ = SUBMISSION_PACKAGE
        sys.modules[SUBMISSION_PACKAGE] = package
        self._package = package

    def put_in_place(self, name: str | None = None) -> dict:
        """Put the earlier modules in place, in order, through ``name`` (all of them when None).

        Returns how ``name`` was put: ``{"whole": the stand-in replaced it whole, "why": the reason}``.
        """
        if name is not None and name not in self._standins:
            raise tasks.MissingPart(f"{name}.py is no earlier module of this exercise")
        while self._waiting and (name is None or name not in self._placed):
            current = self._waiting.pop(0)
            self._placed[current] = self._put(current)
        return self._placed.get(name, {})

    def module(self, name: str) -> types.ModuleType:
        self.put_in_place()  # a later module imports the earlier ones: they are in place first
        return super().module(name)

    def _put(self, name: str) -> dict:
        standin, names, whole = self._standins[name]
        full_name = f"{SUBMISSION_PACKAGE}.{name}"
        why = "the grader asked for the stand-in" if whole else ""
        if not whole:
            try:
                module = importlib.import_module(full_name)
                for public in names:
                    setattr(module, public, getattr(standin, public))
                return {"whole": False, "why": ""}
            except BaseException as error:  # SystemExit, KeyboardInterrupt and the like too
                why = self._why(error, full_name)
        sys.modules[full_name] = standin
        setattr(self._package, name, standin)
        return {"whole": True, "why": why}

    def _why(self, error: BaseException, full_name: str) -> str:
        if isinstance(error, ModuleNotFoundError) and error.name == full_name:
            return "is missing"
        lines = [
            line
            for frame, line in traceback.walk_tb(error.__traceback__)
            if Path(frame.f_code.co_filename).parent == self._scratch
        ]
        where = f" at line {lines[-1]}" if lines else ""
        try:
            text = str(error)
        except BaseException:
            text = ""
        return f"raised {type(error).__name__}{where} while importing" + (
            f" ({text[:WHY_CHARS]})" if text else ""
        )


def import_submission(scratch: Path, standins: dict) -> SubmissionPackage:
    """Make ``submission`` a package over the scratch copy; the stand-ins go in place at first use."""
    return SubmissionPackage(scratch, standins)
