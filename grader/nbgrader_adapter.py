"""nbgrader notebooks to and from the grader's modules: the one place that knows nbgrader exists.

A learner's notebook holds one answer cell per exercise, found by its nbgrader ``grade_id`` (the
module's name, ``masking``), never by position. ``notebook_to_modules`` writes each answer cell as a
module file the grader's sandbox imports as a package module. The notebook ran top to bottom in one
namespace, so a cell may use names that an earlier cell defined or imported; the module gets those
back as imports (``from .masking import masked_attention``, ``import numpy as np``), written on the
cell's first line when that line is a comment, so the module's line numbers are the cell's.

``discover_nbgrader`` reads nbgrader's collected work, ``submitted/<student>/<assignment>/*.ipynb``:
each student is one ``Submission`` named by the student id. Nothing here runs the learner's code, and a
notebook that cannot be read, or lacks or duplicates a cell, becomes a plain sentence in the
submission's ``problems`` (completing "<notebook> ..."), never an exception: the rest of the class is
graded as usual. Notebooks and cells are parsed through ``grader.bounded_parse``: JSON nested 100 000
deep or a cell the parser cannot hold becomes such a sentence too.

``nbgrader_layout`` decides from the whole class whether PATH is nbgrader's collected work: a
learner's entry that happens to be called ``submitted`` (or ``source``, or ``nbgrader_config.py``)
in an ordinary class folder never turns the class into an nbgrader course.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import sys
from pathlib import Path

from grader import confined
from grader.bounded_parse import Unanalysable, load_json, parse_python, symbol_table
from grader.contract import EXERCISES, Exercise
from grader.submission import Submission, UsageError, find_modules

ASSIGNMENT = "lesson13"
NOTEBOOK_NAME = f"{ASSIGNMENT}.ipynb"
MAX_NOTEBOOK_BYTES = 20 << 20  # outputs (plots) make notebooks larger than modules
KIT_ROOT = Path(__file__).resolve().parent.parent  # what a Jupyter kernel must find to import grader and solutions
MAGIC = re.compile(r"^(\s*)([%!].*)$")  # IPython line magics and shell escapes: not Python
# What an nbgrader course folder holds besides the learners' work: any other folder or .zip beside
# submitted/ looks like a learner's entry, and the folder is then graded as a class.
COURSE_ENTRIES = frozenset({"submitted", "autograded", "feedback", "release", "source", "exchange"})
SHOWN_ENTRIES = 5  # entries named in a layout message


def notebook_to_modules(notebook_path: Path, target: Path) -> list[str]:
    """Write ``target/<module>.py`` for every answer cell of the notebook; returns the problems found.

    Each problem completes a sentence about the notebook ("lesson13.ipynb has no cell with grade_id ...").
    """
    cells, problems = read_cells(Path(notebook_path))
    if cells is None:
        return problems
    found = answer_cells(cells, problems)
    analysis = analyse_cells(cells, problems, answers={index for index, _ in found.values()})
    target.mkdir(parents=True, exist_ok=True)
    for exercise in EXERCISES:
        if exercise.module in found:
            index, source = found[exercise.module]
            module_text = cell_to_module(source, exercise, cells, found, problems, analysis)
            # A lone surrogate (a "\ud800" escape in the JSON) is written as is: the import fails in the
            # sandbox, per check, as the cell would have failed in Jupyter.
            (target / exercise.filename).write_text(module_text, encoding="utf-8", errors="surrogatepass")
    order = [module for module, _ in sorted(found.items(), key=lambda item: item[1][0])]
    expected = [e.module for e in EXERCISES if e.module in found]
    if order != expected:
        problems.append(
            f"has its answer cells in another order than the assignment ({', '.join(order)}); "
            "they are graded by grade_id, so the order changes nothing here"
        )
    return problems


def read_cells(path: Path) -> tuple[list[dict] | None, list[str]]:
    """The notebook's cells (each with ``source`` as one string), or ``None`` and why it cannot be read."""
    try:
        if path.is_symlink() or not path.is_file():
            return None, ["is not a file (or is a link, which is never followed)"]
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None, [f"is {path.stat().st_size} bytes (limit {MAX_NOTEBOOK_BYTES}); clear its outputs and resubmit"]
        notebook = load_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        return None, [f"is not a Jupyter notebook: it is not UTF-8 text ({error.reason})"]
    except json.JSONDecodeError as error:
        return None, [f"is not valid JSON (line {error.lineno} column {error.colno}: {error.msg}), so it is not a notebook"]
    except Unanalysable as error:
        return None, [confined.note(f"could not be analysed: {error.reason}")]
    except (OSError, ValueError) as error:
        return None, [f"could not be read: {confined.describe(error)}"]
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return None, ["is not a Jupyter notebook: its JSON has no list of cells"]
    cells = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) and all(isinstance(s, str) for s in source) else source
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbgrader = metadata.get("nbgrader") if isinstance(metadata.get("nbgrader"), dict) else {}
        cells.append(
            {
                "cell_type": cell.get("cell_type"),
                "id": cell.get("id"),
                "source": source if isinstance(source, str) else "",
                "grade_id": nbgrader.get("grade_id"),
                "outputs": cell.get("outputs") if isinstance(cell.get("outputs"), list) else [],
            }
        )
    return cells, []


def answer_cells(cells: list[dict], problems: list[str]) -> dict[str, tuple[int, str]]:
    """``{module: (cell index, source)}`` by grade_id (by cell id if no cell carries the grade_id)."""
    found = {}
    for exercise in EXERCISES:
        module = exercise.module
        matches = [i for i, cell in enumerate(cells) if cell["grade_id"] == module]
        if not matches:
            matches = [i for i, cell in enumerate(cells) if cell["id"] == module and not cell["grade_id"]]
            if matches:
                problems.append(f"has lost the nbgrader metadata of the {module} cell; found it by its cell id")
        if not matches:
            problems.append(
                f"has no cell with grade_id '{module}' (exercise {exercise.number}, {exercise.filename}) — was it deleted? "
                "Its checks count as missing"
            )
            continue
        if len(matches) > 1:
            numbers = ", ".join(str(i + 1) for i in matches)
            problems.append(
                f"has {len(matches)} cells with grade_id '{module}' (cells {numbers}): the last is graded, as nbgrader does; "
                "delete the others"
            )
        index = matches[-1]
        cell = cells[index]
        if cell["cell_type"] != "code":
            problems.append(f"has the {module} answer cell as a {cell['cell_type']} cell, not code: its checks count as missing")
            continue
        errors = [o for o in cell["outputs"] if isinstance(o, dict) and o.get("output_type") == "error"]
        if errors:
            # Only strings are shown: str() of a list nested 900 deep would recurse past the limit.
            ename, evalue = (_text(errors[-1].get(key)) for key in ("ename", "evalue"))
            shown = f"the {module} cell from its last run ({ename}: {evalue[:200]})"
            problems.append(f"shows an error in {shown}; graded as it stands")
        found[module] = (index, cell["source"])
    return found


CellNames = tuple[set[str], dict[str, str]]  # a cell's top-level definitions, and its imports by bound name


def analyse_cells(cells: list[dict], problems: list[str], answers=frozenset()) -> list[CellNames]:
    """Per cell: the names it defines at top level and its imports (both empty but for parsable code cells).

    Each cell is parsed once, bounded; one that is too large or too deep to read lends no names to the
    answer cells, and is reported here unless it is one of the ``answers`` (reported with its module).
    """
    analysis = []
    for index, cell in enumerate(cells):
        names: CellNames = (set(), {})
        if cell["cell_type"] == "code":
            try:
                tree = parse_python(_without_magics(cell["source"]), f"<cell {index + 1}>")
                names = (_top_level_definitions(tree), _imports_in(tree))
            except (SyntaxError, ValueError):
                pass  # an answer cell's syntax error is reported with its module; others only lend no names
            except Unanalysable as error:
                if index not in answers:
                    said = f"has a cell (cell {index + 1}) the grader could not analyse: {error.reason}"
                    problems.append(confined.note(said))
        analysis.append(names)
    return analysis


def cell_to_module(
    source: str,
    exercise: Exercise,
    cells: list[dict],
    found: dict,
    problems: list[str],
    analysis: list | None = None,
) -> str:
    """The module text of one answer cell: IPython lines commented out, the names it needs imported."""
    lines = source.splitlines()
    for number, line in enumerate(lines):
        match = MAGIC.match(line)
        if match:
            lines[number] = f"{match.group(1)}# (IPython, left out) {match.group(2)}"
            problems.append(
                f"has IPython syntax in the {exercise.module} cell, left out: line {number + 1}: {match.group(2)[:80]}"
            )
    code = "\n".join(lines) + "\n"
    try:
        needed = free_names(code)
    except SyntaxError as error:
        problems.append(
            f"has a {exercise.module} cell that does not parse (line {error.lineno}: {error.msg}); its checks will fail"
        )
        return code
    except ValueError as error:  # null bytes, lone surrogates
        said = f"does not parse ({confined.describe(error)}); its checks will fail"
        problems.append(f"has a {exercise.module} cell that {said}")
        return code
    except Unanalysable as error:
        problems.append(
            confined.note(
                f"has a {exercise.module} cell the grader could not analyse: {error.reason}; "
                "it is graded as it stands, without the names other cells would lend it"
            )
        )
        return code
    analysis = analysis if analysis is not None else analyse_cells(cells, [])
    imports, outside = imports_for(needed, exercise, cells, found, analysis)
    for name, where in outside.items():
        problems.append(
            f"has a {exercise.module} cell that uses {name}, defined in cell {where + 1} outside the answer cells "
            "(the grader sees only the answer cells)"
        )
    return place_imports(code, imports)


def free_names(code: str) -> set[str]:
    """Global names the code reads anywhere (functions and classes included) but never binds at module level.

    Raises ``SyntaxError``, or ``Unanalysable`` for code too large or nested too deeply to read.
    """
    table = symbol_table(code, "<cell>")
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()
    scopes = [table]
    while scopes:  # scopes nest as deep as the learner's lambdas: walked without recursion
        scope = scopes.pop()
        for symbol in scope.get_symbols():
            if symbol.is_referenced() and (scope.get_type() == "module" or symbol.is_global()):
                used.add(symbol.get_name())
        scopes.extend(scope.get_children())
    return used - bound - set(dir(builtins))


def imports_for(
    needed: set[str],
    exercise: Exercise,
    cells: list[dict],
    found: dict,
    analysis: list[CellNames],
) -> tuple[list[str], dict[str, int]]:
    """Import lines for ``needed``: from earlier exercises' cells first, then any cell's imports; and what
    stays unknown.

    ``analysis`` holds each cell's top-level definitions and imports (``analyse_cells``).
    """
    imports: list[str] = []
    earlier = [e for e in EXERCISES if e.number < exercise.number and e.module in found]
    definitions = {}
    for other in earlier:
        for name in analysis[found[other.module][0]][0]:
            definitions.setdefault(name, other.module)
    statements = {}
    answer_indices = sorted(index for index, _ in found.values())
    other_indices = [i for i in range(len(cells)) if i not in answer_indices and cells[i]["cell_type"] == "code"]
    for index in answer_indices + other_indices:
        for name, statement in analysis[index][1].items():
            statements.setdefault(name, statement)
    outside = {}
    by_module: dict[str, list[str]] = {}
    for name in sorted(needed):
        if name in definitions:
            by_module.setdefault(definitions[name], []).append(name)
        elif name in statements:
            imports.append(statements[name])
        else:
            where = next((i for i in other_indices if name in analysis[i][0]), None)
            if where is not None:
                outside[name] = where
    for module in [e.module for e in earlier if e.module in by_module]:
        imports.append(f"from .{module} import {', '.join(by_module[module])}")
    return sorted(set(imports), key=imports.index), outside


def place_imports(code: str, imports: list[str]) -> str:
    """Put ``imports`` on the first line when it is a comment or blank (line numbers stay the cell's), else above it."""
    if not imports:
        return code
    joined = "; ".join(imports)
    lines = code.split("\n")
    futures = [n for n, line in enumerate(lines) if line.startswith("from __future__ import")]
    if futures:
        lines[futures[-1]] += f"; {joined}"
    elif not lines[0].strip() or lines[0].lstrip().startswith("#"):
        lines[0] = f"{joined}  {lines[0].strip()}".rstrip() if lines[0].strip() else joined
    else:
        lines.insert(0, joined)
    return "\n".join(lines)


def modules_to_notebook(folder: Path, template: Path, out: Path) -> None:
    """A copy of the notebook ``template`` whose answer cells hold ``folder``'s modules (as a learner would have them)."""
    from grader.notebook import split_module

    notebook = json.loads(Path(template).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        module_file = Path(folder) / f"{grade_id}.py"
        if grade_id in {e.module for e in EXERCISES} and module_file.is_file():
            exercise = next(e for e in EXERCISES if e.module == grade_id)
            cell["source"] = split_module(module_file.read_text(encoding="utf-8"), exercise)["code"]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def looks_like_nbgrader(path: Path) -> bool:
    """Whether ``path`` is a notebook, nbgrader's ``submitted/`` folder, or an nbgrader course holding one."""
    return nbgrader_layout(path)[0]


def nbgrader_layout(path: Path) -> tuple[bool, str]:
    """Whether ``path`` is nbgrader's collected work, decided from the whole class, and why (or why not:
    "" when nothing about it looks like nbgrader's).

    nbgrader's when ``path`` is a ``.ipynb``; or a folder named ``submitted`` that follows nbgrader's
    layout (``_follows_submitted_layout``); or a course folder whose ``submitted/`` does and whose other
    folders are all nbgrader's own (``source/``, ``autograded/``...). A ``submitted`` entry beside
    other learners' folders or zips is one learner's entry, however it is named.
    """
    path = Path(path)
    if path.is_symlink():
        return False, ""
    if path.is_file():
        return path.suffix.lower() == ".ipynb", "PATH is one notebook"
    if not path.is_dir():
        return False, ""
    if path.name == "submitted":
        follows, why = _follows_submitted_layout(path)
        if follows:
            return True, f"PATH is nbgrader's submitted/ folder: {why}"
        return False, f"PATH is named submitted/ like nbgrader's folder, but {why}"
    submitted = path / "submitted"
    if submitted.is_symlink() or not submitted.is_dir():
        return False, ""
    learners = sorted(
        entry.name
        for entry in _visible_entries(path)
        if entry.name not in COURSE_ENTRIES and (entry.is_dir() or entry.name.lower().endswith(".zip"))
    )
    if learners:
        also = f"but also {_some(learners)}, which nbgrader's course folder does not hold"
        return False, (
            f"PATH holds a submitted/ entry, {also}: submitted/ is one learner's entry "
            "(for nbgrader's collected work, pass the course's submitted/ folder itself)"
        )
    follows, why = _follows_submitted_layout(submitted)
    if follows:
        return True, f"PATH is an nbgrader course (only nbgrader's folders beside submitted/): {why}"
    return False, f"PATH holds only nbgrader's folders, but its submitted/ does not follow its layout: {why}"


def _follows_submitted_layout(submitted: Path) -> tuple[bool, str]:
    """Whether every entry of ``submitted`` is a student's folder — ``<student>/<assignment>/*.ipynb``,
    no exercise modules, no zip or stray file — and at least one holds a notebook; and why (or why not)."""
    entries = _visible_entries(submitted)
    strays = sorted(entry.name for entry in entries if entry.is_symlink() or not entry.is_dir())
    if strays:
        return False, f"it holds {_some(strays)}, which are not student folders"
    with_modules = sorted(entry.name for entry in entries if find_modules(entry) is not None)
    if with_modules:
        return False, f"{_some(with_modules)} hold the exercise modules rather than <assignment>/*.ipynb"
    with_notebooks = [entry for entry in entries if _holds_assignment_notebook(entry)]
    if not with_notebooks:
        return False, "no entry holds <assignment>/*.ipynb"
    return True, f"{len(with_notebooks)} of its {len(entries)} student folders hold <assignment>/*.ipynb"


def _holds_assignment_notebook(student: Path) -> bool:
    return any(
        notebook.suffix.lower() == ".ipynb" and not notebook.is_symlink()
        for assignment in _visible_entries(student)
        if assignment.is_dir() and not assignment.is_symlink()
        for notebook in _visible_entries(assignment)
    )


def _visible_entries(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_ENTRIES])
    return shown + (f" and {len(names) - SHOWN_ENTRIES} more" if len(names) > SHOWN_ENTRIES else "")


def discover_nbgrader(root: Path, scratch: Path, assignment: str | None = None) -> list[Submission]:
    """The submissions in nbgrader's ``submitted/<student>/<assignment>/*.ipynb`` (or one ``.ipynb``), one
    per student.

    Whatever reading one student's notebook raises is confined to that student's submission.
    """
    root = Path(root)
    if root.is_file():
        return [_confined(root.stem, root, _from_notebook, root.stem, root, scratch / "nbgrader-0")]
    submitted = root if root.name == "submitted" else root / "submitted"
    students = sorted(s for s in submitted.iterdir() if s.is_dir() and not s.is_symlink() and not s.name.startswith("."))
    assignment = assignment or _pick_assignment(submitted, students)
    return [
        _confined(student.name, student, _from_student, student, assignment, scratch / f"nbgrader-{index}")
        for index, student in enumerate(students)
    ]


def _from_student(student: Path, assignment: str, target: Path) -> Submission:
    folder = student / assignment
    if not folder.is_dir() or folder.is_symlink():
        problem = f"has no {assignment}/ folder (nbgrader's layout)"
        return Submission(student.name, student, problems=[problem])
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        return Submission(student.name, folder, problems=["holds no .ipynb notebook"])
    only = notebooks[0] if len(notebooks) == 1 else None
    chosen = next((p for p in notebooks if p.name == NOTEBOOK_NAME), only)
    if chosen is None:
        names = ", ".join(p.name for p in notebooks)
        problem = f"holds {names} and no {NOTEBOOK_NAME}: which one to grade?"
        return Submission(student.name, folder, problems=[problem])
    return _from_notebook(student.name, chosen, target)


def _confined(name: str, source: Path, read, *args) -> Submission:
    try:
        return read(*args)
    except Exception as error:  # noqa: BLE001 - one student's notebook never stops the class
        problem = confined.note(f"could not be read: {confined.describe(error)}")
        return Submission(name, source, problems=[problem])


def _from_notebook(name: str, notebook: Path, target: Path) -> Submission:
    problems = notebook_to_modules(notebook, target)
    has_modules = target.is_dir() and any(target.glob("*.py"))
    return Submission(name, notebook, folder=target if has_modules else None, problems=problems)


def _pick_assignment(submitted: Path, students: list[Path]) -> str:
    names = set()
    for student in students:
        try:
            names.update(a.name for a in student.iterdir() if a.is_dir() and not a.name.startswith("."))
        except OSError:
            continue  # an unreadable student folder is reported with that student
    names = sorted(names)
    if ASSIGNMENT in names or not names:
        return ASSIGNMENT
    if len(names) == 1:
        return names[0]
    raise UsageError(
        f"PATH {submitted} holds nbgrader submissions for several assignments ({', '.join(names)}) and none named {ASSIGNMENT}"
    )


def _top_level_definitions(tree: ast.Module) -> set[str]:
    """Names a cell binds at top level by def, class or assignment (imports are restored as imports)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _imports_in(tree: ast.Module) -> dict[str, str]:
    """``{bound name: the import statement for that name alone}`` for a cell's top-level absolute imports."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] = ast.unparse(ast.Import([alias]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = ast.unparse(ast.ImportFrom(node.module, [alias], 0))
    return found


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _without_magics(source: str) -> str:
    return "\n".join(MAGIC.sub(r"\1pass", line) for line in source.splitlines())


def isolated_jupyter(root: Path) -> dict[str, str]:
    """Environment variables under which Jupyter's only kernel, ``python3``, is this interpreter, with
    its own config and runtime folders under ``root``; the kernel finds this kit on PYTHONPATH.

    For running nbgrader against the kit without touching the user's Jupyter setup (the round-trip
    test and bench/vs_nbgrader.py).
    """
    kernel = root / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        JUPYTER_PATH=str(root / "jupyter"),
        JUPYTER_DATA_DIR=str(root / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
        IPYTHONDIR=str(root / "ipython"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(KIT_ROOT), env.get("PYTHONPATH")])),
    )
    return env
