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
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_BUILTINS and not _is_own_module(node.value):
            name = ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            name = next((f"{node.module}.{alias.name}" for alias in node.names if alias.name in FORBIDDEN_BUILTINS), None)
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
            found.append(f"{filename} line {node.lineno}: {name}")
    return sorted(set(found), key=lambda text: int(text.split(" line ")[1].split(":")[0]))


def _is_own_module(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in MODULES
