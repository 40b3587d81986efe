"""Reading a learner's source for the built-ins the SPEC forbids ("No built-in attention"), and the rule
that withholds an exercise's points for one (``withhold_for_forbidden_builtins``).

The run-time recorders in the sandbox catch any use however it is spelled; this scan catches the
plain spellings before anything runs, and names the line. The learner's own functions may share a
forbidden name (exercise 2 *is* ``scaled_dot_product_attention``), so only references that reach
PyTorch count: attributes of anything but the learner's own modules, absolute imports, and strings
that spell the name (as ``getattr`` would take it).

The scan runs in the grader's own process on the learner's text, so it parses through
``grader.intake.bounded_parse`` (a module too large or nested too deeply raises ``Unanalysable``) and never
recurses itself: ``ast.walk`` is iterative, and a use is named from a bounded part of its expression.
"""

from __future__ import annotations

import ast

from grader.contract import FORBIDDEN_BUILTINS, MODULES
from grader.intake.bounded_parse import parse_python
from grader.results import ERROR, FAILED, PASSED, ExerciseResult

MAX_SHOWN_PARTS = 8  # of a dotted name: "torch.nn.functional.scaled_dot_product_attention" has 4
MAX_UNPARSED_NODES = 40  # ast.unparse recurses: only small expressions are written out


def forbidden_uses(source: str, filename: str) -> list[str]:
    """``["attention.py line 12: torch.nn.functional.scaled_dot_product_attention", ...]``; [] if none
    or unparsable. Raises ``grader.intake.bounded_parse.Unanalysable`` when the source is too large or nested
    too deeply to read.
    """
    try:
        tree = parse_python(source, filename)
    except (SyntaxError, ValueError):
        return []  # the sandbox cannot import it either, and says so per check
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_BUILTINS:
            name = None if _is_own_module(node.value) else _spelling(node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            name = next(
                (f"{node.module}.{alias.name}" for alias in node.names if alias.name in FORBIDDEN_BUILTINS),
                None,
            )
        elif isinstance(node, ast.Call):
            # getattr(F, "scaled_dot_product_attention") and the like; a name listed in __all__ is no use.
            for argument in node.args:
                if (
                    isinstance(argument, ast.Constant)
                    and isinstance(argument.value, str)
                    and argument.value.strip() in FORBIDDEN_BUILTINS
                ):
                    name = f"the string {argument.value.strip()!r}"
        if name:
            found.append((node.lineno, f"{filename} line {node.lineno}: {name}"))
    return [text for _, text in sorted(set(found))]


def _spelling(node: ast.Attribute) -> str:
    """``F.scaled_dot_product_attention``; a long chain keeps its last parts, a large base becomes ``(…)``."""
    parts: list[str] = []
    base: ast.AST = node
    while isinstance(base, ast.Attribute):
        parts.append(base.attr)
        base = base.value
    if isinstance(base, ast.Name):
        parts.append(base.id)
    elif _smaller_than(base, MAX_UNPARSED_NODES):
        parts.append(ast.unparse(base))
    else:
        parts.append("(…)")
    if len(parts) > MAX_SHOWN_PARTS:
        parts = parts[: MAX_SHOWN_PARTS - 1] + ["…"]
    return ".".join(reversed(parts))


def _smaller_than(node: ast.AST, limit: int) -> bool:
    for count, _ in enumerate(ast.walk(node)):
        if count >= limit:
            return False
    return True


def _is_own_module(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in MODULES


def withhold_for_forbidden_builtins(result: ExerciseResult, runtime: list[str], source: list[str]) -> None:
    """SPEC "No built-in attention": an exercise that calls one earns nothing, and says which and where.

    A check that passed, or whose call raised (a forbidden operator refuses to run in the sandbox), says
    so instead; a check that failed on its values keeps its own message.
    """
    uses = source + [f"at run time: {use}" for use in runtime]
    if not uses:
        return
    reason = f"uses a built-in the SPEC forbids for this exercise: {'; '.join(uses[:5])}"
    result.notes.append(f"Points withheld: {reason}.")
    for check in result.checks:
        if check.status in (PASSED, ERROR):
            check.status, check.score, check.message = FAILED, 0, f"{result.module}: {reason}"
            check.hint = (
                "Write the attention yourself (matmul, softmax, masking): PyTorch's built-ins are the "
                "grader's oracles."
            )
