"""Parsing learner text in the grader's own process, within bounds.

The grader reads learner source (the forbidden built-in scan, notebook cells) and notebooks (JSON)
before any sandbox runs, in the process that writes every learner's grade. CPython's parsers
recurse, and a learner chooses how deep: ``a.b.c…`` or ``1+1+…`` a few thousand long raises
``RecursionError`` ("during ast construction"), ``not not … x`` or an ``elif`` chain raises
``MemoryError`` (the parser's stack of 6000 levels overflowed), JSON nested 1000 deep raises
``RecursionError``. Measured on CPython 3.11, the parser needs up to 1 MiB of C stack before it gives
up — a thread with a smaller stack (musl's default is 128 KiB) dies outright instead, taking the
whole run with it. And time and memory grow with the text: 1 MiB of ``[1,1,…]`` takes 2 s and 500 MB.

So every parse here refuses text over ``MAX_SOURCE_CHARS`` first, runs on a thread of its own with
a ``STACK_BYTES`` stack whatever the platform's default, and turns the interpreter's limits into
``Unanalysable`` with a plain reason. A syntax error stays a ``SyntaxError``: that one is the
learner's to fix, and the sandbox reports it per check.
"""

from __future__ import annotations

import ast
import json
import symtable
import threading

MAX_SOURCE_CHARS = 256 * 1024  # a module of the lesson is under 8 kB; worst case measured: 0.75 s, 140 MB
MAX_JSON_CHARS = 20 << 20  # a notebook with its outputs
STACK_BYTES = 64 << 20  # reserved, not used: the parser needs under 1 MiB at its own limit
_STARTING = threading.Lock()  # threading.stack_size is process-wide: set it, start, restore, one at a time


class Unanalysable(Exception):
    """The text is too large or nested too deeply for the grader to read; ``reason`` says which, in words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_python(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source)``, bounded. Raises ``SyntaxError``/``ValueError`` for invalid source."""
    _check_size(source, MAX_SOURCE_CHARS)
    return _on_own_stack(ast.parse, source, filename)


def symbol_table(source: str, filename: str = "<unknown>") -> symtable.SymbolTable:
    """``symtable.symtable(source, filename, "exec")``, bounded. Raises ``SyntaxError`` for invalid source."""
    _check_size(source, MAX_SOURCE_CHARS)
    return _on_own_stack(symtable.symtable, source, filename, "exec")


def load_json(text: str) -> object:
    """``json.loads(text)``, bounded. Raises ``ValueError`` (``json.JSONDecodeError``) for invalid JSON."""
    _check_size(text, MAX_JSON_CHARS)
    return _on_own_stack(json.loads, text)


def _check_size(text: str, limit: int) -> None:
    if len(text) > limit:
        raise Unanalysable(f"too large (over {limit} characters, the most the grader reads)")


def _on_own_stack(function, *args):
    """``function(*args)`` on a thread with a ``STACK_BYTES`` stack; its limits become ``Unanalysable``."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # handed to the calling thread below
            outcome["error"] = error

    with _STARTING:
        try:
            previous = threading.stack_size(STACK_BYTES)
        except (ValueError, RuntimeError):  # a platform that cannot size thread stacks: its default
            previous = None
        try:
            thread = threading.Thread(target=run, name="bounded-parse", daemon=True)
            thread.start()
        finally:
            if previous is not None:
                threading.stack_size(previous)
    thread.join()
    error = outcome.get("error")
    if isinstance(error, RecursionError):
        raise Unanalysable(f"nested too deeply ({error})") from None
    if isinstance(error, MemoryError):
        detail = str(error) or "the parser ran out of stack"
        raise Unanalysable(f"nested too deeply or too large ({detail})") from None
    if error is not None:
        raise error
    return outcome["value"]
