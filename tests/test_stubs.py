"""Is exercises/ generated from solutions/, and does the generator do what it promises?"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grader.contract import EXERCISES
from grader.kit import stubs

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISE_DIR = REPO / "solutions", REPO / "exercises"


def region_bodies(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    return [
        line.strip()
        for region in stubs.find_regions(source, str(path))
        for line in lines[region.begin : region.end - 1]
        if line.strip() and not line.strip().startswith("#")
    ]


def public_api(path: Path) -> dict[str, tuple]:
    """name → (argument names, defaults, docstring) of every function and method."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    api = {}
    scopes = [("", tree)] + [(node.name + ".", node) for node in tree.body if isinstance(node, ast.ClassDef)]
    for owner, scope in scopes:
        for child in scope.body:
            if isinstance(child, ast.FunctionDef) and (
                not child.name.startswith("_") or child.name == "__init__"
            ):
                returns = ast.unparse(child.returns) if child.returns else None
                api[owner + child.name] = (ast.unparse(child.args), returns, ast.get_docstring(child))
    return api


class TestExercisesMatchSolutions:
    def test_exercises_are_in_sync_with_solutions(self):
        assert stubs.stale_files(SOLUTIONS, EXERCISE_DIR) == [], (
            "exercises/ is stale: run `python -m grader stubs`"
        )

    @pytest.mark.parametrize("module", [exercise.module for exercise in EXERCISES])
    def test_stub_contains_no_solution_code(self, module):
        stub = (EXERCISE_DIR / f"{module}.py").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in stub and "END SOLUTION" not in stub
        stub_lines = {line.strip() for line in stub.splitlines()}
        leaked = [
            line
            for line in region_bodies(SOLUTIONS / f"{module}.py")
            if line in stub_lines and len(line) > 12
        ]
        assert leaked == []

    @pytest.mark.parametrize("module", [exercise.module for exercise in EXERCISES])
    def test_stub_keeps_signatures_docstrings_and_module_docstring(self, module):
        solution, stub = SOLUTIONS / f"{module}.py", EXERCISE_DIR / f"{module}.py"
        solution_api, stub_api = public_api(solution), public_api(stub)
        assert stub_api == solution_api
        assert ast.get_docstring(ast.parse(stub.read_text())) == ast.get_docstring(
            ast.parse(solution.read_text())
        )

    @pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.module)
    def test_every_public_name_of_the_contract_is_in_the_stub(self, exercise):
        tree = ast.parse((EXERCISE_DIR / exercise.filename).read_text())
        defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert set(exercise.names) <= defined

    def test_exercise_folder_holds_only_modules_tests_and_conftest(self):
        expected = (
            {"__init__.py", "conftest.py"}
            | {f"{e.module}.py" for e in EXERCISES}
            | {f"test_{e.module}.py" for e in EXERCISES}
        )
        present = {path.name for path in EXERCISE_DIR.iterdir() if path.name != "__pycache__"}
        assert present == expected


SAMPLE = '''"""A module."""

import math


class Box:
    def area(self, side):
        """Area of a square."""
        # TODO: multiply the side by itself.
        ### BEGIN SOLUTION
        return side * side
        ### END SOLUTION


def root(x):
    # TODO: the "square" root.
    ### BEGIN SOLUTION
    return math.sqrt(x)
    ### END SOLUTION
'''


class TestGenerator:
    def test_region_becomes_a_raise_naming_the_function_and_the_todo(self):
        stub = stubs.make_stub(SAMPLE, "sample.py")
        assert "return side * side" not in stub and "math.sqrt" not in stub
        assert (
            'raise NotImplementedError("Box.area() is not implemented yet — '
            'TODO: multiply the side by itself.")' in stub
        )
        assert (
            'raise NotImplementedError("root() is not implemented yet — TODO: the \\"square\\" root.")'
            in stub
        )
        assert "import math" in stub and '"""Area of a square."""' in stub and "# TODO: multiply" in stub

    def test_stub_runs_and_raises_not_implemented(self):
        namespace: dict = {}
        exec(compile(stubs.make_stub(SAMPLE, "sample.py"), "sample.py", "exec"), namespace)
        with pytest.raises(NotImplementedError, match="root\\(\\) is not implemented yet"):
            namespace["root"](4)

    @pytest.mark.parametrize(
        "source, problem",
        [
            (
                "def f():\n    # TODO: x\n    ### BEGIN SOLUTION\n    return 1\n",
                "line 3: ### BEGIN SOLUTION is never closed",
            ),
            ("def f():\n    return 1\n    ### END SOLUTION\n", "line 3: ### END SOLUTION without"),
            (
                "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
                "line 2: a solution region needs a '# TODO: ...'",
            ),
            (
                "# TODO: x\n### BEGIN SOLUTION\nX = 1\n### END SOLUTION\n",
                "line 2: a solution region must lie inside a function",
            ),
            (
                (
                    "def f():\n    # TODO: x\n    ### BEGIN SOLUTION\n"
                    "    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n"
                ),
                "line 4: ### BEGIN SOLUTION inside the region opened at line 3",
            ),
            ("def f(:\n    pass\n", "line 1"),
        ],
        ids=["unclosed", "stray end", "no todo", "outside a function", "nested", "syntax error"],
    )
    def test_malformed_regions_are_reported_with_file_and_line(self, source, problem):
        with pytest.raises(stubs.StubError) as error:
            stubs.make_stub(source, "bad.py")
        assert str(error.value).startswith("bad.py line") and problem in str(error.value)


class TestStubsCommand:
    def run(self, *args):
        return subprocess.run(
            [sys.executable, "-m", "grader", "stubs", *args], cwd=REPO, capture_output=True, text=True
        )

    def test_check_fails_on_a_stale_stub_and_regeneration_fixes_it(self, tmp_path):
        solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
        solutions.mkdir()
        (solutions / "root.py").write_text(SAMPLE)
        exercises.mkdir()
        (exercises / "test_root.py").write_text("# a visible test the generator must leave alone\n")
        stale = self.run("--solutions", str(solutions), "--exercises", str(exercises), "--check")
        assert (
            stale.returncode == 1 and "root.py" in stale.stderr and "python -m grader stubs" in stale.stderr
        )
        assert self.run("--solutions", str(solutions), "--exercises", str(exercises)).returncode == 0
        assert (
            self.run("--solutions", str(solutions), "--exercises", str(exercises), "--check").returncode == 0
        )
        assert (exercises / "test_root.py").read_text() == "# a visible test the generator must leave alone\n"
        assert "math.sqrt" not in (exercises / "root.py").read_text()

    def test_a_malformed_solution_is_a_usage_error_naming_the_file(self, tmp_path):
        (tmp_path / "broken.py").write_text(
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
        )
        result = self.run("--solutions", str(tmp_path), "--exercises", str(tmp_path / "out"))
        assert result.returncode == 2 and "broken.py line 2" in result.stderr
