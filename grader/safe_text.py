"""Learner-controlled text, made safe for each place the grader writes it.

Entry names, the file names inside a submission, what the sandbox reports (exception types and
messages, traceback file names, forbidden built-ins, warnings), what the learner's code printed and
notebook metadata are all chosen by the learner. Written raw, they could run a formula in the
instructor's spreadsheet (grades.csv), add markup or a script to a feedback page, forge a progress
line, drive the instructor's terminal with escape sequences, or fill every output with megabytes.

Each output format has its own function, applied where the text is written rather than where it
enters, so every format is escaped once and for itself: ``for_csv_cell``, ``for_markdown`` and
``markdown_code_block``, ``for_html``, ``for_text`` (plain text: Gradescope), ``for_terminal`` (one
line) and ``for_json``. Each first makes the text *visible*: control characters (C0, DEL and C1:
NUL, ESC, CR...), lone surrogates, line and paragraph separators and the bidirectional overrides and
isolates (which reorder what a reader sees) become escapes such as ``\\x1b`` and ``\\u202e``. Then
it bounds the length (``bounded``) with a visible marker; a name's marker carries a hash of the
whole name, so two long names that share their start stay apart.
"""

from __future__ import annotations

import hashlib
import html
import re

NAME_LIMIT = 255  # a name in grades.csv and results.json: every file name fits (see for_csv_cell)
SHOWN_NAME_LIMIT = 200  # a name in a heading, a page title or a progress line
NOTE_LIMIT = 2000  # one note (loading problems, warnings, prints, forbidden built-ins)
MESSAGE_LIMIT = 5000  # one check's message: the facts of a failure, or the exception the code raised
TERMINAL_LIMIT = 200  # learner text in one terminal line
NOTES_SHOWN = 20  # notes per list; a hostile sandbox can report any number of distinct warnings

# Controls (C0, DEL, C1), lone surrogates, line/paragraph separators, bidi marks, embeddings,
# overrides and isolates. Matched in one C-speed pass: a sandbox can send megabytes.
_INVISIBLE = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(rf"[\x00-\x1f{_INVISIBLE}]")
_UNSAFE_BUT_NEWLINE_AND_TAB = re.compile(rf"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}

# OWASP "CSV injection": a cell starting with one of these is a formula to Excel, LibreOffice and
# Google Sheets. The full-width forms are included because some spreadsheets fold them.
FORMULA_STARTERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

# Markdown: escaped with a backslash where CommonMark and Python-Markdown both honour it, and as a
# character reference where one of them does not (<, >, &, |, ~); references never form structure.
_MARKDOWN_BACKSLASHED = frozenset("\\`*_{}[]()#!")
_MARKDOWN_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "|": "&#124;", "~": "&#126;", "@": "&#64;"}
_MARKDOWN_ORDERED_LIST = re.compile(r"^(\d{1,9})([.)])")  # "1." or "1)" at the start opens a list
# GitHub and other renderers turn bare "http://...", "www...." and e-mail addresses into links; a
# character reference in place of ":" or "." (and "@" above) keeps them text.
_MARKDOWN_AUTOLINK = re.compile(r"(?i)(://|www\.)")


def bounded(text: str, limit: int, *, tag: bool = False) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and a marker "[… N more
    characters]" that fit in ``limit`` together. With ``tag``, the marker also holds a short hash of
    the whole text, so two long names with the same start stay distinct."""
    if len(text) <= limit:
        return text
    marker = _marker(text, len(text), tag)
    keep = max(limit - len(marker), 0)
    return text[:keep] + _marker(text, len(text) - keep, tag)


def visible(text: object, *, one_line: bool = True) -> str:
    """``text`` with every unsafe character written as an escape (``\\x1b``, ``\\u202e``); with
    ``one_line=False``, newlines and tabs stay (CR LF becomes LF)."""
    text = text if isinstance(text, str) else str(text)
    if one_line:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE_BUT_NEWLINE_AND_TAB.sub(_escape, text.replace("\r\n", "\n"))


def for_terminal(text: object, limit: int = TERMINAL_LIMIT, *, tag: bool = False) -> str:
    """One line for a terminal or a log: no escape sequence, no carriage return, no newline (a line
    that seems to start with the grader's own words is still part of the learner's)."""
    return for_text(text, limit, one_line=True, tag=tag)


def for_text(text: object, limit: int = MESSAGE_LIMIT, *, one_line: bool = False, tag: bool = False) -> str:
    """Plain text shown as text (Gradescope with ``output_format: text``): visible and bounded."""
    return _fit(text, limit, one_line=one_line, tag=tag)


def for_json(text: object, limit: int = MESSAGE_LIMIT, *, one_line: bool = False, tag: bool = False) -> str:
    """A string in results.json. JSON itself cannot be injected into, but a lone surrogate cannot be
    written as UTF-8, C1 controls and bidi overrides survive ``ensure_ascii=False`` into whatever
    shows the file, and a hostile sandbox's megabytes would be kept whole."""
    return _fit(text, limit, one_line=one_line, tag=tag)


def for_csv_cell(text: object, limit: int = NAME_LIMIT) -> str:
    """A text cell of grades.csv that no spreadsheet runs as a formula (OWASP: a cell whose first
    character, spaces aside, is = + - @ tab or CR gets a leading single quote).

    For the ``submission`` column, LMS imports match rows on the exact entry name, so the name is
    otherwise kept as it is: the quote is the only change for an ordinary name, and ``limit`` (255,
    the longest file name Linux and common file systems allow) never cuts a name that came from a
    folder or a zip's name. Only names no LMS could hold change further: control characters become
    visible escapes (``cat grades.csv`` must not drive a terminal), and an over-long name (from no
    file system) is cut with a hash so that it stays distinct. Numeric columns do not come here:
    an honest score like 87.5 or a total of 0 stays a number.
    """
    cell = _fit(text, limit, one_line=True, tag=True)
    return "'" + cell if cell.lstrip(" ").startswith(FORMULA_STARTERS) else cell


def for_markdown(text: object, limit: int = NOTE_LIMIT, *, tag: bool = False) -> str:
    """Inline Markdown that renders as exactly this text, on one line: no HTML, link (autolinks
    included), image, emphasis, code span, table cell or heading, and no list or quote opened at its start."""
    shown = _fit(text, limit, one_line=True, tag=tag).lstrip(" ")  # leading spaces could indent a code block
    out = []
    for char in shown:
        if char in _MARKDOWN_BACKSLASHED:
            out.append("\\" + char)
        else:
            out.append(_MARKDOWN_ENTITIES.get(char, char))
    escaped = _MARKDOWN_AUTOLINK.sub(_unlinked, "".join(out))
    if escaped[:1] in ("-", "+"):  # a list item's bullet
        return "\\" + escaped
    return _MARKDOWN_ORDERED_LIST.sub(r"\1\\\2", escaped, count=1)


def markdown_code_block(text: object, limit: int = MESSAGE_LIMIT, *, indent: str = "") -> list[str]:
    """The lines of a fenced code block showing ``text`` verbatim (visible, bounded). Its fence is
    longer than any run of backticks in the text, so no line of the text can close it; every line is
    indented like the fence, so none can end the list item the block sits in."""
    shown = _fit(text, limit, one_line=False)
    longest = max((len(run) for run in re.findall("`+", shown)), default=0)
    fence = "`" * max(3, longest + 1)
    return [indent + fence, *(indent + line for line in shown.split("\n")), indent + fence]


def for_html(text: object, limit: int = MESSAGE_LIMIT, *, one_line: bool = False, tag: bool = False) -> str:
    """HTML text or attribute content: visible, bounded, then every <, >, &, " and ' escaped."""
    return html.escape(_fit(text, limit, one_line=one_line, tag=tag), quote=True)


def bounded_items(items: list, limit: int = NOTES_SHOWN) -> list:
    """The first ``limit`` items and, if there were more, one line saying how many were left out."""
    if len(items) <= limit:
        return list(items)
    return [*items[:limit], f"[… {len(items) - limit} more not shown]"]


def _fit(text: object, limit: int, *, one_line: bool, tag: bool = False) -> str:
    text = text if isinstance(text, str) else str(text)
    if not one_line:
        text = text.replace("\r\n", "\n")
    # Escaping only lengthens, so ``limit`` characters of the input always fill the output: a
    # sandbox's megabytes are never escaped whole.
    head = visible(text[: limit + 1], one_line=one_line)
    if len(text) <= limit and len(head) <= limit:
        return head
    budget = max(limit - len(_marker(text, len(text), tag)), 0)
    if len(head) == min(len(text), limit + 1):  # nothing escaped: characters in, characters out
        return head[:budget] + _marker(text, len(text) - budget, tag)
    pieces, used = [], 0
    for char in text[:budget]:
        piece = visible(char, one_line=one_line)
        if used + len(piece) > budget:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces) + _marker(text, len(text) - len(pieces), tag)


def _unlinked(match: re.Match) -> str:
    return "&#58;//" if match.group() == "://" else match.group()[:3] + "&#46;"


def _marker(whole: str, cut: int, tag: bool) -> str:
    if not tag:
        return f"[… {cut} more characters]"
    digest = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"[… {cut} more characters; #{digest}]"


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


PRINTED_OUTPUT_LIMIT = 1000  # characters of a submission's own prints shown in its feedback


def truncate_output(text: str, limit: int = PRINTED_OUTPUT_LIMIT) -> str:
    """A submission's own prints, cut to ``limit`` characters with a line that says how many were cut."""
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters cut)"
