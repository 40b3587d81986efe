"""Build Gradescope's autograder: ``python -m grader autograder --out autograder.zip``.

Gradescope unpacks the zip into ``/autograder/source``, runs its ``setup.sh`` once to build the image,
and runs its ``run_autograder`` for every submission; both must sit at the zip's root. So the zip holds
those two scripts (from ``gradescope/``) and what they install and run: ``grader/``, ``solutions/`` (the
reference the checks compare with), ``learner/`` (the lesson's exercises, points and tolerances, which
the grader imports), ``pyproject.toml``, ``constraints.txt`` and ``README.md`` (the project's readme:
installing reads it). Nothing else: no ``tests/``, ``exercises/`` or ``examples/``, no ``.git``, no
caches or build leftovers. The zip is the instructor's upload to Gradescope, never the learners': it
holds the reference solution.
"""

from __future__ import annotations

import fnmatch
import sys
import zipfile
from pathlib import Path

from grader.exits import EXIT_OK, EXIT_USAGE, UsageError

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ("setup.sh", "run_autograder")  # gradescope/<name> -> <name> at the zip's root
SHIPPED = ("grader", "solutions", "learner", "pyproject.toml", "constraints.txt", "README.md")
NOT_SHIPPED = ("__pycache__", "*.pyc", ".*", "*.egg-info")  # caches, hidden files, build leftovers
# Fixed dates and modes: two builds of one tree are the same bytes, and the scripts stay executable.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
EXECUTABLE, READABLE = 0o100755, 0o100644


def autograder_members(repo: Path = REPO) -> dict[str, Path]:
    """``{name in the zip: file}``, in the zip's order: the two scripts first, then the sources."""
    members = {name: repo / "gradescope" / name for name in SCRIPTS}
    for name in SHIPPED:
        top = repo / name
        if not top.exists():
            raise UsageError(f"{top} is missing: the autograder needs it")
        files = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in files:
            relative = path.relative_to(repo)
            if path.is_symlink() or not path.is_file() or _not_shipped(relative):
                continue
            members[relative.as_posix()] = path
    return members


def build_autograder(out: Path, *, repo: Path = REPO, force: bool = False) -> Path:
    """Write the autograder zip ``out`` (a new file unless ``force``); returns its resolved path."""
    out = Path(out).resolve()
    repo = Path(repo).resolve()
    if out.suffix != ".zip":
        raise UsageError(f"--out {out}: Gradescope takes a .zip; name it autograder.zip, say")
    if out.exists() and not force:
        raise UsageError(f"{out} already exists: choose another name, or pass --force to replace it")
    if any(out.is_relative_to(repo / name) for name in ("gradescope", *SHIPPED)):
        raise UsageError(f"--out {out} is inside what the zip holds: write it elsewhere, e.g. dist/")
    members = autograder_members(repo)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.with_name(f".{out.name}.building")
    try:
        with zipfile.ZipFile(building, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, path in members.items():
                entry = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                entry.external_attr = (EXECUTABLE if name in SCRIPTS else READABLE) << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(entry, path.read_bytes())
        building.replace(out)
    finally:
        building.unlink(missing_ok=True)
    return out


def autograder_command(*, out: Path, force: bool = False) -> int:
    """``python -m grader autograder --out FILE``: build the zip, say what to do with it; an exit code."""
    try:
        written = build_autograder(out, force=force)
    except UsageError as error:
        print(f"grader autograder: {error}", file=sys.stderr)
        return EXIT_USAGE
    with zipfile.ZipFile(written) as bundle:
        count = len(bundle.namelist())
    print(
        f"wrote {written} ({count} files): upload it as the autograder of a Gradescope programming "
        "assignment; it holds the reference solution, so never hand it to learners",
        file=sys.stderr,
    )
    return EXIT_OK


def _not_shipped(relative: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in NOT_SHIPPED)
