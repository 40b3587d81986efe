"""Names: every entry of a class gets a name of its own, and every name files of its own.

A submission's name is the entry's exact name (a folder's, or a ``.zip``'s without ``.zip``): it is
what grades.csv shows and what ``--regrade`` takes, so it is never rewritten, even where it holds
bytes that are not UTF-8 (Python keeps them as surrogates; every writer makes them visible). Two
entries can still want one name — ``x/`` and ``x.zip`` — so within a class the zip then keeps its
whole name, ``x.zip``.

Output files are named by ``file_stem``: the name itself when it is already a plain file name on
every file system (lowercase ASCII letters, digits, ``._-``, short), else a readable sanitised start
plus a hash of the exact name. So ``bob smith`` and ``bob_smith``, ``Alice`` and ``alice`` (one file
on a case-insensitive disk), names that sanitise to nothing and 10 000-character names all get
files of their own, of bounded length, and the same files on every run (resuming finds its records
by them). A plain stem never ends like a hashed one, so no learner can pick a name that lands on
another's files.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

STEM_CHARS = 64  # the readable start of a hashed stem; with the hash and suffixes far below 255 bytes
TAG_HEX = 12  # 48 bits of SHA-256: finding a name that lands on a given learner's files is out of reach
PLAIN = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?")
LOOKS_TAGGED = re.compile(rf"-[0-9a-f]{{{TAG_HEX}}}$")
UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
# Windows refuses these as file names, with any extension ("con.md").
PORTS = tuple(f"{port}{n}" for port in ("com", "lpt") for n in range(10))
RESERVED = frozenset({"con", "prn", "aux", "nul", *PORTS})


def tag(name: str) -> str:
    """A short hash of the exact name (undecodable bytes included)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:TAG_HEX]


def is_plain(name: str) -> bool:
    """Whether ``name`` can be its own file stem on every file system, and cannot pose as a hashed stem."""
    if not PLAIN.fullmatch(name) or LOOKS_TAGGED.search(name):
        return False
    return name.split(".")[0] not in RESERVED


def file_stem(name: str) -> str:
    """The stem of a learner's feedback and Gradescope files: ``name`` if plain, else a sanitised start
    and a hash."""
    return name if is_plain(name) else tagged_stem(name)


def tagged_stem(name: str) -> str:
    """A sanitised, bounded start of ``name`` and its hash: ``bob_smith-3f2a9c0d1e4b``."""
    start = UNSAFE_RUN.sub("_", name).strip("._-")[:STEM_CHARS].rstrip("._-") or "submission"
    if start.split(".")[0].lower() in RESERVED:
        start = "_" + start
    return f"{start}-{tag(name)}"


def entry_name(entry: Path) -> str:
    """An entry's submission name: its exact name, without ``.zip`` for a zip file."""
    name = entry.name
    if name.lower().endswith(".zip") and len(name) > len(".zip") and not entry.is_dir():
        return name[: -len(".zip")]
    return name or "submission"


def unique_names(entries: list[Path]) -> list[str]:
    """A name per entry, unique within the class: an entry whose short name another entry also has
    keeps its whole name (``x.zip`` beside ``x/``). Entries of one folder have distinct whole names."""
    names = [entry_name(entry) for entry in entries]
    while True:  # a whole name can meet another's short one (x.zip.zip): repeat until none meet
        taken = Counter(names)
        unique = [entry.name if taken[name] > 1 else name for entry, name in zip(entries, names)]
        if unique == names:
            return names
        names = unique
