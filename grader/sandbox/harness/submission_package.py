"""The learner's modules as the package the tasks call into, with the reference standing in where it must.

The scratch folder's modules are imported as the package ``submission``; a stand-in (the reference's
source of an earlier exercise, sent by the grader) replaces the names a later exercise imports from it,
or the whole module when the learner's does not import.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import types
from pathlib import Path

from . import tasks

SUBMISSION_PACKAGE = "submission"
STANDIN_PACKAGE = "_standin"


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


def load_standins(standins: dict) -> dict[str, tuple[types.ModuleType, list[str]]]:
    """Import every stand-in, in the order given, as ``_standin.<name>``, and check it defines its names."""
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
        loaded[name] = (module, list(spec["names"]))
    return loaded


def import_submission(scratch: Path, standins: dict) -> tasks.Package:
    """Make ``submission`` a package over the scratch copy, then put the stand-ins in place.

    In module order, the learner's module is imported and its stand-in names overwritten, so a
    later module's ``from .masking import masked_attention`` gets the stand-in. A module that is
    missing or fails to import is replaced by its stand-in whole.
    """
    package = types.ModuleType(SUBMISSION_PACKAGE)
    package.__path__ = [str(scratch)]
    package.__package__ = SUBMISSION_PACKAGE
    sys.modules[SUBMISSION_PACKAGE] = package
    for name, (standin, names) in standins.items():
        full_name = f"{SUBMISSION_PACKAGE}.{name}"
        try:
            module = importlib.import_module(full_name)
        except BaseException:
            sys.modules[full_name] = standin
            setattr(package, name, standin)
            continue
        for public in names:
            setattr(module, public, getattr(standin, public))
    return tasks.Package(SUBMISSION_PACKAGE)
