"""A learner's notebook as the grader's modules: one answer cell per exercise, found by its nbgrader
``grade_id``.

``notebook_to_modules`` writes each answer cell as a module file the grader's sandbox imports as a
package module. The notebook ran top to bottom in one namespace, so a cell may use what an earlier
cell defined or imported: each module gets the imports it needs from earlier cells. A notebook that
cannot be read, or lacks or duplicates a cell, becomes a plain sentence in the submission's
``problems``, never an exception. Imports come back on the cell's first line when that line is a
comment (``from .masking import masked_attention``), so the module's line numbers are the cell's.
Notebooks and cells are parsed through ``bounded_parse``: JSON nested 100 000 deep or a cell the
parser cannot hold becomes such a sentence too.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from pathlib import Path

from grader.contract import EXERCISES, Exercise
from grader.intake import confined
from grader.intake.bounded_parse import Unanalysable, load_json, parse_python, symbol_table

MAX_NOTEBOOK_BYTES = 20 << 20  # outputs (plots) make notebooks larger than modules
MAGIC = re.compile(r"^(\s*)([%!].*)$")  # IPython line magics and shell escapes: not Python


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
            return None, [
                f"is {path.stat().st_size} bytes (limit {MAX_NOTEBOOK_BYTES}); clear its outputs and resubmit"
            ]
        notebook = load_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        return None, [f"is not a Jupyter notebook: it is not UTF-8 text ({error.reason})"]
    except json.JSONDecodeError as error:
        return None, [
            f"is not valid JSON (line {error.lineno} column {error.colno}: {error.msg}), so it is not a "
            "notebook"
        ]
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
        source = (
            "".join(source)
            if isinstance(source, list) and all(isinstance(s, str) for s in source)
            else source
        )
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
                problems.append(
                    f"has lost the nbgrader metadata of the {module} cell; found it by its cell id"
                )
        if not matches:
            problems.append(
                f"has no cell with grade_id '{module}' (exercise {exercise.number}, {exercise.filename}) — "
                "was it deleted? "
                "Its checks count as missing"
            )
            continue
        if len(matches) > 1:
            numbers = ", ".join(str(i + 1) for i in matches)
            problems.append(
                f"has {len(matches)} cells with grade_id '{module}' (cells {numbers}): the last is graded, "
                "as nbgrader does; "
                "delete the others"
            )
        index = matches[-1]
        cell = cells[index]
        if cell["cell_type"] != "code":
            problems.append(
                f"has the {module} answer cell as a {cell['cell_type']} cell, not code: its checks count "
                "as missing"
            )
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
                f"has IPython syntax in the {exercise.module} cell, left out: line {number + 1}: "
                f"{match.group(2)[:80]}"
            )
    code = "\n".join(lines) + "\n"
    try:
        needed = free_names(code)
    except SyntaxError as error:
        problems.append(
            f"has a {exercise.module} cell that does not parse (line {error.lineno}: {error.msg}); its "
            "checks will fail"
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
            f"has a {exercise.module} cell that uses {name}, defined in cell {where + 1} outside the "
            "answer cells "
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
    other_indices = [
        i for i in range(len(cells)) if i not in answer_indices and cells[i]["cell_type"] == "code"
    ]
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
    """Put ``imports`` on the first line when it is a comment or blank (line numbers stay the cell's), else
    above it."""
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
