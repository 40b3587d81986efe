"""A grade as an LMS reads it: the total scaled to the LMS's maximum, written with a decimal point.

Both LMSs keep two decimals where they show a grade (Canvas's exporter rounds scores to two places and
compares imports at that precision; Moodle's grade items show two by default), so a grade is written
with at most two: 33.333333 becomes 33.33, 87.5 stays 87.5 and 100 stays 100. The decimal point is a
point whatever the locale: Canvas's importer turns a decimal comma into a point and leaves a point
alone, and Moodle's ``unformat_float`` only replaces the locale's separator, so a point always reads.
"""

from __future__ import annotations

import math
import re

DECIMALS = 2
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)?")


def scaled(total: float, ours: float, theirs: float) -> float:
    """``total`` out of ``ours`` as points out of ``theirs``, within [0, theirs]."""
    if ours <= 0 or theirs == ours:
        return min(max(total, 0.0), theirs)
    return min(max(total * theirs / ours, 0.0), theirs)


def format_grade(value: float) -> str:
    """``value`` rounded to two decimals, without trailing zeros: ``87.5``, ``100``, ``33.33``, ``0``."""
    text = f"{round(value, DECIMALS):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_points(text: str) -> float | None:
    """A number of points as an LMS exports it (``100``, ``100.00``, ``100,00``, `` 20 ``), or ``None``."""
    text = text.strip().replace("\u00a0", "").replace(" ", "")
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text.replace(",", "."))
    return value if math.isfinite(value) else None
