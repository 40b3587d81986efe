"""Reading a learner's source for the built-ins the SPEC forbids ("No built-in attention").

The run-time recorders in the sandbox catch any use however it is spelled; this scan catches the
plain spellings before anything runs, and names the line. The learner's own functions may share a
forbidden name (exercise 2 *is* ``scaled_dot_product_attention``), so only references that reach
PyTorch count: attributes of anything but the learner's own modules, absolute imports, and strings
that spell the name (as ``getattr`` would take it).
"""

from __future__ import annotations

import ast

from grader.contract import FORBIDDEN_BUILTINS, MODULES


def forbidden_uses(source: str, filename: str) -> list[str]:
    """``["attention.py line 12: torch.nn.functional.scaled_dot_product_attention", ...]``; [] if none or unparsable."""
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return []
    docstrings = {id(node.body[0].value) for node in ast.walk(tree) if _has_docstring(node)}
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_BUILTINS and not _is_own_module(node.value):
            name = ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            name = next((f"{node.module}.{alias.name}" for alias in node.names if alias.name in FORBIDDEN_BUILTINS), None)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value.strip() in FORBIDDEN_BUILTINS:
                name = f"the string {node.value.strip()!r}"
        if name:
            found.append(f"{filename} line {node.lineno}: {name}")
    return sorted(set(found), key=lambda text: int(text.split(" line ")[1].split(":")[0]))


def _is_own_module(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in MODULES


def _has_docstring(node: ast.AST) -> bool:
    body = getattr(node, "body", None)
    return (
        isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and bool(body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
