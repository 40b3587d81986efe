"""The grader's folders keep its design: every import is walked, and each boundary is a rule checked here.

The tree (README, "Layout"): the model (``contract``, ``exits``, ``names``, ``results``, ``safe_text``,
``settings``) at the bottom; ``intake/``, ``checks/``, ``sandbox/`` and ``reports/`` above it, each
knowing only the model (the checks also their client into the sandbox); the decisions (``grading``,
``forbidden``, ``gradebook``) above those; the run (``bulk``), the kit (``kit/``) and the LMS export
(``export/``: the model and the feedback pages' names only) above; the command line on top. What runs
beside learner code (``sandbox/harness/``) imports nothing of the project but itself. Imports are read
from the source (lazy ones inside functions included), not by importing.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import gradebook
from grader.gradebook import Gradebook, grade_sources, grader_fingerprint
from grader.intake.submission import Submission
from grader.results import SubmissionResult

REPO = Path(__file__).resolve().parent.parent
PROJECT = ("grader", "learner", "solutions", "exercises", "tests")
MODEL = {
    "grader.contract",
    "grader.exits",
    "grader.names",
    "grader.results",
    "grader.safe_text",
    "grader.settings",
}
HARNESS = "grader.sandbox.harness"
# Layers, bottom to top: a module may import its own layer's package or lower layers, never a higher one.
LAYERS = [
    ("model", lambda m: m in MODEL or m == "grader"),
    ("parts", lambda m: m.startswith(("grader.intake", "grader.checks", "grader.sandbox", "grader.reports"))),
    (
        "decisions",
        lambda m: m in {"grader.grading", "grader.worker_slots", "grader.forbidden", "grader.gradebook"},
    ),
    (
        "run, kit, export and cluster",
        lambda m: m == "grader.bulk" or m.startswith(("grader.kit", "grader.export", "grader.cluster")),
    ),
    ("command line", lambda m: m in {"grader.cli", "grader.__main__"}),
]
PARTS = ("grader.intake", "grader.checks", "grader.sandbox", "grader.reports")
THIRD_PARTY_BESIDE_LEARNER_CODE = {"torch", "numpy"}
MAX_MODULE_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int, int]]:
    """``(imported module, line, relative level)`` for every import in ``path``, resolved to module names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((target, node.lineno, node.level))
            for alias in node.names:  # "from grader.intake import confined" imports a module
                candidate = f"{target}.{alias.name}"
                if _source_of(candidate) is not None:
                    found.append((candidate, node.lineno, node.level))
    return found


def _source_of(module: str) -> Path | None:
    path = REPO.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


GRADER_FILES = sorted((REPO / "grader").rglob("*.py"))
GRAPH = {module_name(path): imports_of(path) for path in GRADER_FILES}


def project_imports(module: str) -> set[str]:
    return {target for target, _, _ in GRAPH[module] if target.split(".")[0] == "grader" and target in GRAPH}


def layer_of(module: str) -> int:
    return next(index for index, (_, belongs) in enumerate(LAYERS) if belongs(module))


def is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def test_every_grader_module_has_a_layer():
    for module in GRAPH:
        assert any(belongs(module) for _, belongs in LAYERS), (
            f"{module}: add it to a layer in this test and the README"
        )


def test_nothing_imports_a_higher_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module in GRAPH
        for target in project_imports(module)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle_anywhere_in_the_grader():
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for target in project_imports(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in project_imports(module):
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_the_harness_imports_only_the_standard_library_torch_numpy_and_itself():
    # The fork server imports a copy of the folder as "sandbox_harness": an absolute import of the
    # project would not even resolve there, and whatever it loaded, learner code could read.
    harness = [module for module in GRAPH if module.startswith(HARNESS)]
    assert len(harness) >= 10
    wrong = []
    for module in harness:
        for target, line, level in GRAPH[module]:
            if level:
                if not target.startswith(HARNESS):
                    wrong.append(f"{module}:{line}: relative import {target} leaves the harness")
            elif not (is_stdlib(target) or target.split(".")[0] in THIRD_PARTY_BESIDE_LEARNER_CODE):
                wrong.append(f"{module}:{line}: imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_parts_know_only_the_model_and_themselves():
    # The checks may also talk to learner code through the sandbox's client, and nothing else of it, but
    # for the one way both sides take gradients for given output gradients (pure arithmetic, no channel):
    # the learner's in the sandbox and the reference's here must be taken alike.
    wrong = []
    for module in GRAPH:
        own = next((part for part in PARTS if module.startswith(part)), None)
        if own is None:
            continue
        for target in project_imports(module):
            allowed = target in MODEL or target == "grader" or target.startswith(own)
            allowed |= own == "grader.checks" and target in (
                "grader.sandbox.client",
                "grader.sandbox.harness.output_gradients",
            )
            if not allowed:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_export_knows_only_the_model_the_feedback_pages_names_the_results_reader_and_itself():
    # It reads a grading output and cannot change a grade: nothing of the sandbox, checks or intake.
    export = [module for module in GRAPH if module.startswith("grader.export")]
    assert len(export) >= 5
    wrong = [
        f"{module} imports {target}"
        for module in export
        for target in project_imports(module)
        if not (target in MODEL or target == "grader" or target.startswith("grader.export"))
        and target not in ("grader.reports", "grader.reports.feedback", "grader.reports.tables")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_model_imports_only_the_model_and_the_lessons_shared_facts():
    for module in MODEL:
        for target, line, _ in GRAPH[module]:
            assert is_stdlib(target) or target in MODEL or target == "learner.lesson", (
                f"{module}:{line}: {target}"
            )


def test_learner_tools_and_visible_tests_never_import_the_grader_or_the_reference():
    files = [*(REPO / "learner").glob("*.py"), *(REPO / "exercises").glob("*.py")]
    wrong = [
        f"{path.relative_to(REPO)}:{line}: {target}"
        for path in files
        for target, line, _ in imports_of(path)
        if target.split(".")[0] in ("grader", "solutions", "tests")
    ]
    assert not wrong, "\n".join(wrong)


def test_modules_are_short_and_have_no_section_banners():
    for path in [*GRADER_FILES, *(REPO / "learner").glob("*.py")]:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= MAX_MODULE_LINES, (
            f"{path.relative_to(REPO)}: {len(lines)} lines; split it by concept"
        )
        banners = [n for n, line in enumerate(lines, 1) if re.match(r"\s*# ?(---|===|\*\*\*)", line)]
        assert not banners, (
            f"{path.relative_to(REPO)}: section banners at lines {banners}; a new module instead"
        )


def test_the_fork_server_copies_the_harness_folder_and_nothing_else(tmp_path):
    from grader.sandbox import forkserver

    assert forkserver.HARNESS_DIR == REPO / "grader" / "sandbox" / "harness"
    copied = forkserver._copy_harness(tmp_path)
    assert sorted(p.name for p in copied.iterdir()) == sorted(
        p.name for p in forkserver.HARNESS_DIR.glob("*.py")
    )
    assert "harness.__path__ = [sys.argv[1]]" in forkserver.ZYGOTE_BOOTSTRAP


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the files the fingerprint reads, to change one at a time."""
    copy = tmp_path_factory.mktemp("tree")
    for folder in ("grader", "solutions", "learner"):
        shutil.copytree(REPO / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


class TestRegradeFingerprint:
    """Every file whose change can change a grade is in the fingerprint; changing one regrades everyone."""

    def test_the_grading_path_and_the_harness_are_all_fingerprinted(self):
        fingerprinted = set(grade_sources())
        reachable, todo = set(), ["grader.grading"]
        while todo:
            module = todo.pop()
            path = _source_of(module)
            if path is None or path in reachable:
                continue
            reachable.add(path)
            parents = module.split(".")
            todo += [
                ".".join(parents[:n]) for n in range(1, len(parents))
            ]  # their packages' __init__ run too
            todo += [target for target, _, _ in imports_of(path) if target.split(".")[0] in PROJECT]
        reachable |= set(
            (REPO / "grader" / "sandbox" / "harness").glob("*.py")
        )  # the fork server loads them as files
        missing = sorted(str(path.relative_to(REPO)) for path in reachable - fingerprinted)
        assert not missing, f"on the grading path but not in the regrade fingerprint: {missing}"
        for name in (
            "checks/oracles.py",
            "grading.py",
            "forbidden.py",
            "checks/compare.py",
            "sandbox/harness/lesson_tasks.py",
        ):
            assert REPO / "grader" / name in fingerprinted

    def test_what_is_left_out_is_not_on_the_grading_path(self):
        for relative in gradebook.NOT_GRADING:
            module = relative.removesuffix(".py").removesuffix("/").replace("/", ".")
            users = [
                m
                for m in GRAPH
                if m.startswith(("grader.grading", "grader.checks", "grader.sandbox", "grader.intake"))
            ]
            assert not [m for m in users if any(t.startswith(module) for t in project_imports(m))], module

    def test_touching_any_of_them_regrades_a_recorded_submission(self, tree, tmp_path):
        submission = Submission("ada", tmp_path / "ada")
        before = Gradebook(tmp_path / "out", repo=tree)
        before.save(SubmissionResult("ada"), "its files")
        assert Gradebook(tmp_path / "out", repo=tree).is_current(submission, "its files")
        sources = grade_sources(tree)
        assert len(sources) > 40
        for path in sources:
            original = path.read_bytes()
            path.write_bytes(original + b"\n# touched\n")
            try:
                regraded = not Gradebook(tmp_path / "out", repo=tree).is_current(submission, "its files")
            finally:
                path.write_bytes(original)
            assert regraded, f"changing {path.relative_to(tree)} would not regrade anyone"
        assert grader_fingerprint(tree) == before.grader

    def test_reports_and_the_command_line_do_not_regrade(self, tree):
        base = grader_fingerprint(tree)
        for relative in ("grader/reports/feedback.py", "grader/cli.py", "grader/kit/notebook.py"):
            path = tree / relative
            original = path.read_bytes()
            path.write_bytes(original + b"\n# touched\n")
            try:
                assert grader_fingerprint(tree) == base, relative
            finally:
                path.write_bytes(original)


def test_the_fingerprint_does_not_depend_on_where_the_repository_is(tree):
    assert grader_fingerprint(tree) == grader_fingerprint()


def test_a_fresh_interpreter_imports_every_grader_module():
    # Static checks above cannot see an import that fails at run time (a name moved, a cycle at import).
    modules = sorted(m for m in GRAPH if m != "grader.__main__")
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    finished = subprocess.run(
        [sys.executable, "-c", code, *modules], cwd=REPO, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
