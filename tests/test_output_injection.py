"""Does learner-controlled text reach every output neutralised for that output, and bounded?

Learners choose their entry names, the file names in their zips, what their code prints and raises
(type names included), what a hostile sandbox reports (forbidden built-ins, warnings) and their
notebooks' metadata. ONE table of hostile strings, ``HOSTILE``, is used as each of these; every
output is then read back the way its consumer reads it (a CSV parser, a Markdown renderer, an HTML
parser, Gradescope's JSON, a terminal) and must hold the text only as text.

The writers are tested directly on result objects; one ``python -m grader grade`` run grades a class
whose entries carry the hostile names, a zip with hostile member names, and the adversarial fixture
``injects_markup_and_escapes_into_reports`` (hostile prints and exception) beside its honest twin.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser

import jsonschema
import pytest

from grader.gradebook import Gradebook
from grader.intake.notebook_cells import notebook_to_modules
from grader.reports.feedback import feedback_html, feedback_markdown
from grader.reports.gradescope import gradescope_results
from grader.reports.progress import Progress
from grader.reports.tables import write_grades, write_results
from grader.results import (
    ERROR,
    FAILED,
    NOT_IMPLEMENTED,
    PASSED,
    CheckResult,
    ExerciseResult,
    SubmissionResult,
)
from grader.safe_text import bounded
from tests.grading_helpers import REPO, SUBMISSIONS

try:  # a CommonMark renderer, installed with nbconvert (nbgrader's); the structural checks run without it
    import mistune
except ImportError:  # pragma: no cover
    mistune = None

HUGE = "x" * 100_000
HOSTILE = {
    "formula": "=cmd|' /C calc'!A0",
    "plus": "+1",
    "minus": "-1",
    "at": "@SUM(1)",
    "tab": "\t=1",
    "carriage_return": "\r=1",
    "script": "<script>alert(1)</script>",
    "img": "<img src=x onerror=alert(1)>",
    "markdown_link": "[link](javascript:alert(1))",
    "fence": "```\n</pre><script>alert(1)</script>\n````",
    "table": "| table | breakers |",
    "heading": "# heading",
    "forged_line": "\n[sandbox] forged progress line",
    "ansi": "\x1b[2J\x1b[31mred",
    "osc8": "\x1b]8;;http://x\x07click\x1b]8;;\x07",
    "bidi": "\u202eevil\u2066",
    "nul": "a\x00b",
    "huge": HUGE,
    "surrogates": "\ud800lone\udcff",
}
FORMULA_STARTERS = ("=", "+", "-", "@", "\t", "\r")
# An oracle of its own, not the grader's: controls but newline and tab, bidi controls, lone surrogates.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
NAME_LIMIT, SHOWN_NAME_LIMIT, NOTE_LIMIT, MESSAGE_LIMIT = 255, 200, 2000, 5000
MARKDOWN_TAGS = set("h1 h2 p strong em ul li pre code blockquote table thead tbody tr th td hr br".split())
HTML_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong", "ul", "li", "pre"}
HTML_TAGS |= {"blockquote", "img", "table", "tr", "th", "td", "a", "footer"}
GRADESCOPE_SCHEMA = REPO / "grader" / "schemas" / "gradescope.schema.json"
# How every line of the Markdown feedback outside its code blocks starts: none is the learner's.
MARKDOWN_LINE_STARTS = (
    "# Lesson 13 — Attention: feedback for ",
    "**Total: ",
    "- ",
    "> ",
    "| ",
    "|---|",
    "## ",
    "Not implemented yet: ",
    "  - ",
    "  *Hint: ",
    "---",
    "Checks marked ",
    "Exercises 4–7 ",
    "so a mistake ",
)
ATTACK = SUBMISSIONS / "adversarial" / "injects_markup_and_escapes_into_reports"


def hostile_result(text: str, name: str | None = None) -> SubmissionResult:
    """A result carrying ``text`` everywhere learner text goes: name, notes, messages, warnings,
    forbidden built-ins, prints and a not-implemented message."""
    raised = f"softmax.py: your code raised {text} at softmax.py line 3: {text}"
    softmax = ExerciseResult(
        "softmax",
        1,
        10,
        [
            CheckResult("shape", "keeps the shape", PASSED, 2, 2),
            CheckResult("values", "matches", FAILED, 0, 4, f"softmax.softmax: got {text}", "Normalised?"),
            CheckResult("raises", "handles -inf", ERROR, 0, 4, raised),
        ],
        notes=[
            f"PyTorch warned (a note, not a failure): {text}",
            f"Points withheld: uses a built-in the SPEC forbids for this exercise: at run time: {text}.",
            f"Your code printed: {text}",
        ],
    )
    stub = f"attention.py: {text} is not implemented yet"
    missing = [CheckResult(n, n, NOT_IMPLEMENTED, 0, 5, stub) for n in "abc"]
    attention = ExerciseResult("attention", 2, 15, missing)
    loading = [f"{text}.zip could not be read: {text}"]
    return SubmissionResult(text if name is None else name, [softmax, attention], notes=loading)


def hostile_results() -> list[SubmissionResult]:
    return [hostile_result(text) for text in HOSTILE.values()]


# --- how each consumer reads an output ------------------------------------------------------------


class Tags(HTMLParser):
    """Every start tag and its attributes, as a browser's parser would see them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_no_unsafe_characters(text: str, where: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(text)})
    assert not found, f"{where} holds control, bidi or surrogate characters: {found}"


def assert_csv_safe(text: str) -> list[list[str]]:
    header, *rows = csv_rows(text)
    assert header[:3] == ["submission", "total", "max"]
    for row in rows:
        cell = row[0]
        assert not cell.lstrip(" ").startswith(FORMULA_STARTERS), f"a spreadsheet runs {cell[:40]!r}"
        assert_no_unsafe_characters(cell, "a grades.csv cell")
        assert len(cell) <= NAME_LIMIT + 1
        assert all(float(value) >= 0 for value in row[1:]), row[1:]  # the scores stay numbers
    return rows


def markdown_fences(markdown: str) -> list[tuple[int, int]]:
    """``(first, last)`` line numbers of each fenced block; fails on a fence left open. An opening
    fence is 3+ backticks or tildes (an info string may follow); a closing one is a run of at least
    the opening's backticks alone on its line (CommonMark)."""
    blocks, opened, width = [], None, 0
    for number, line in enumerate(markdown.split("\n")):
        line = line[2:] if line.startswith("  ") else line  # the feedback's blocks sit in list items
        opening, closing = re.match(r" {0,3}(`{3,}|~{3,})", line), re.fullmatch(r" {0,3}(`{3,})\s*", line)
        if opened is None and opening:
            assert opening.group(1)[0] == "`", f"line {number + 1} opens a ~~~ fence"
            opened, width = number, len(opening.group(1))
        elif opened is not None and closing and len(closing.group(1)) >= width:
            blocks.append((opened, number))
            opened = None
    assert opened is None, f"the fence opened on line {opened + 1} never closes"
    return blocks


def assert_markdown_safe(markdown: str, exercises: int) -> None:
    assert_no_unsafe_characters(markdown, "the Markdown feedback")
    lines = markdown.split("\n")
    inside = {n for first, last in markdown_fences(markdown) for n in range(first, last + 1)}
    outside = [line for n, line in enumerate(lines) if n not in inside]
    assert not [line for line in outside if "<" in line], "raw HTML outside code blocks"
    learners = [line for line in outside if line and not line.startswith(MARKDOWN_LINE_STARTS)]
    assert not learners, f"lines of the learner's: {learners[:3]}"
    assert [line for line in outside if line.startswith("# ")] == [lines[0]], "a second title"
    assert len([line for line in outside if line.startswith("## ")]) == exercises, "an extra heading"
    assert len(lines[0]) <= 2 * SHOWN_NAME_LIMIT + 60, "the title is not bounded"
    assert len(markdown) < 4 * (MESSAGE_LIMIT + 20 * NOTE_LIMIT), "the feedback is not bounded"
    if mistune is not None:
        rendered = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])(markdown)
        tags = Tags(rendered).tags
        assert {tag for tag, _ in tags} <= MARKDOWN_TAGS, {tag for tag, _ in tags} - MARKDOWN_TAGS
        assert [tag for tag, _ in tags].count("h1") == 1 and [tag for tag, _ in tags].count("h2") == exercises
        assert all(not attrs for tag, attrs in tags if tag not in ("td", "th")), [t for t in tags if t[1]]


def assert_html_safe(page: str) -> None:
    assert_no_unsafe_characters(page, "the HTML feedback")
    tags = Tags(page).tags
    assert {tag for tag, _ in tags} <= HTML_TAGS, {tag for tag, _ in tags} - HTML_TAGS
    for tag, attrs in tags:
        assert not [key for key in attrs if key.startswith("on")], (tag, attrs)
        if tag == "img":
            assert attrs["alt"] == "your weights beside the expected ones"
            assert attrs["src"].startswith("data:image/png;base64,")
        if tag == "a":
            assert attrs["href"].startswith("#"), attrs
    assert [tag for tag, _ in tags].count("title") == 1 and [tag for tag, _ in tags].count("h1") == 1
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert len(title) <= 6 * SHOWN_NAME_LIMIT + 20, "the page title is not bounded"


def assert_gradescope_safe(document: dict) -> None:
    jsonschema.validate(document, json.loads(GRADESCOPE_SCHEMA.read_text()))
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # no lone surrogate
    # Gradescope renders the top-level output as HTML unless told otherwise: every format says "text".
    formats = [document["output_format"], document["test_output_format"], document["test_name_format"]]
    assert formats == ["text"] * 3
    assert_no_unsafe_characters(document["output"], "Gradescope's output")
    assert len(document["output"]) < 21 * (NOTE_LIMIT + 5) + 100
    for test in document["tests"]:
        assert test["output_format"] == test["name_format"] == "text"
        assert_no_unsafe_characters(test["output"] + test["name"], "a Gradescope test")
        assert len(test["output"]) <= MESSAGE_LIMIT + 500


def assert_terminal_safe(text: str, lines_expected: int) -> list[str]:
    """No escape sequence, carriage return or bidi control, and exactly one progress line per submission."""
    assert "\x1b" not in text and "\r" not in text
    assert_no_unsafe_characters(text, "the terminal output")
    progress = [line for line in text.splitlines() if re.match(r"^\[\d+/\d+\] ", line)]
    assert len(progress) == lines_expected, progress
    assert not [line for line in text.splitlines() if line.startswith(("[sandbox]", "# heading", "|", "<"))]
    assert all(len(line) < 3 * SHOWN_NAME_LIMIT + 300 for line in progress), max(map(len, progress))
    return progress


def assert_json_strings_bounded(value, where: str = "results.json") -> None:
    """Every string visible and at most a message long; every list of notes at most 20 and a marker."""
    if isinstance(value, str):
        assert_no_unsafe_characters(value, where)
        assert len(value) <= MESSAGE_LIMIT, f"{where}: {len(value)} characters"
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_json_strings_bounded(item, f"{where}.{key}")
    elif isinstance(value, list):
        assert not where.endswith(".notes") or len(value) <= 21, f"{where}: {len(value)} notes"
        for item in value:
            assert_json_strings_bounded(item, where)


# --- each output, written directly from results ----------------------------------------------------


class TestGradesCsv:
    def test_no_text_cell_starts_a_formula_and_scores_stay_numbers(self, tmp_path):
        """Is every hostile name a plain text cell, while the score columns stay numbers?"""
        passed = ExerciseResult("softmax", 1, 10, [CheckResult("a", "a", PASSED, 8.75, 10)])
        honest = SubmissionResult("alice", [passed])
        write_grades([*hostile_results(), honest], tmp_path / "grades.csv")
        rows = assert_csv_safe((tmp_path / "grades.csv").read_text(encoding="utf-8"))
        by_name = {row[0]: row for row in rows}
        assert by_name["alice"][1] == "8.75"
        assert {"'-1", "'+1", "'@SUM(1)"} <= set(by_name)
        assert by_name["'=cmd|' /C calc'!A0"][1] == "2"  # only the quote added: LMS imports match on the name

    def test_a_name_no_file_system_could_hold_is_cut_and_two_such_names_stay_apart(self, tmp_path):
        """Is a 100 kB name cut to the column's bound with a hash, and a 255-character name kept whole?"""
        names = [HUGE, HUGE[:-1] + "y", "n" * 255]
        write_grades([SubmissionResult(name) for name in names], tmp_path / "grades.csv")
        cells = [row[0] for row in assert_csv_safe((tmp_path / "grades.csv").read_text(encoding="utf-8"))]
        assert len(set(cells)) == 3 and cells[2] == "n" * 255
        assert all(len(cell) <= NAME_LIMIT and "more characters" in cell for cell in cells[:2])


class TestMarkdownFeedback:
    @pytest.mark.parametrize("key", HOSTILE)
    def test_learner_text_renders_as_text_with_balanced_fences(self, key):
        """Rendered, is there no learner tag, link, heading, list or table, and does every fence close?"""
        assert_markdown_safe(feedback_markdown(hostile_result(HOSTILE[key])), exercises=2)

    def test_a_message_full_of_backticks_cannot_close_its_fence(self):
        """Does a fence longer than any backtick run in the message keep the message inside its block?"""
        message = "x\n```\n````\n  `````` # heading\n<script>alert(1)</script>"
        markdown = feedback_markdown(hostile_result(message))
        (first, last), *_ = markdown_fences(markdown)
        block = markdown.split("\n")[first : last + 1]
        assert block[1].strip() == "softmax.softmax: got x"
        assert block[-2].strip() == "<script>alert(1)</script>"

    def test_long_names_are_bounded_in_the_title_and_stay_apart(self):
        names = (HUGE, HUGE[:-1] + "y")
        titles = [feedback_markdown(SubmissionResult(name)).split("\n")[0] for name in names]
        assert titles[0] != titles[1] and all(len(title) < SHOWN_NAME_LIMIT + 60 for title in titles)


class TestHtmlFeedback:
    @pytest.mark.parametrize("key", HOSTILE)
    def test_no_learner_tag_or_attribute_survives(self, key, tmp_path):
        """Parsed as a browser would, does the page hold only the grader's own tags?"""
        assert_html_safe(feedback_html(hostile_result(HOSTILE[key]), tmp_path))


class TestGradescope:
    @pytest.mark.parametrize("key", HOSTILE)
    def test_every_output_is_declared_text_and_holds_visible_bounded_text(self, key):
        """Is no output left to Gradescope's HTML default, and is every output free of escapes and bounded?"""
        assert_gradescope_safe(gradescope_results(hostile_result(HOSTILE[key])))


class TestResultsJson:
    def test_every_learner_string_is_writable_and_bounded(self, tmp_path):
        """Do lone surrogates, controls and 100 kB strings leave results.json writable, visible, bounded?"""
        many = hostile_result("warned")
        many.exercises[0].notes = [f"PyTorch warned (a note, not a failure): {n}" for n in range(10_000)]
        write_results([*hostile_results(), many], tmp_path / "results.json")
        document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
        assert_json_strings_bounded(document)
        assert all(len(s["submission"]) <= NAME_LIMIT for s in document["submissions"])

    def test_the_gradebook_records_a_result_whose_messages_hold_lone_surrogates(self, tmp_path):
        """A sandbox can send "\\ud800" escapes: is the result recorded, not a UnicodeEncodeError?"""
        gradebook = Gradebook(tmp_path)
        result = hostile_result(HOSTILE["surrogates"], name="learner")
        gradebook.save(result, "fingerprint")
        loaded = gradebook.load("learner")
        assert loaded is not None and loaded.total == result.total
        assert_json_strings_bounded(loaded.to_json())


class TestTerminal:
    @pytest.mark.parametrize("interactive", [False, True], ids=["plain lines", "terminal bar"])
    def test_progress_lines_hold_no_escape_and_no_forged_line(self, interactive):
        """Is each submission one progress line, with no ESC, CR or bidi control from the learner?"""
        stream = io.StringIO()
        progress = Progress(len(HOSTILE), stream, interactive=interactive)
        for result in hostile_results():
            progress.done(result)
        progress.close()
        text = stream.getvalue()
        if interactive:  # the bar's own redraw, "\r\x1b[2K", is the only escape allowed
            redrawn = text.replace("\r\x1b[2K", "\n").replace("  last: [", "\n[")
            assert_terminal_safe(redrawn, len(HOSTILE))
        else:
            lines = assert_terminal_safe(text, len(HOSTILE))
            counts = [line.split("]", 1)[0] for line in lines]
            assert counts == [f"[{n}/{len(HOSTILE)}" for n in range(1, len(HOSTILE) + 1)]


def test_a_bounded_text_says_how_much_was_cut_and_a_tagged_one_which_text_it_was():
    assert bounded("short", 10) == "short"
    cut = bounded("x" * 1000, 100)
    assert len(cut) <= 100 and cut.endswith(f"[… {1000 - cut.index('[')} more characters]")
    first, second = bounded("y" * 1000, 100, tag=True), bounded("y" * 999 + "z", 100, tag=True)
    assert first != second and len(first) <= 100 and len(second) <= 100


# --- notebooks: error outputs' ename and evalue ----------------------------------------------------


@pytest.mark.parametrize("key", HOSTILE)
def test_a_notebooks_error_output_reaches_every_output_neutralised(key, tmp_path):
    """A cell's saved error (``ename``, ``evalue``: the learner's) becomes a note: is it safe everywhere?"""
    text = HOSTILE[key]
    cell = {
        "cell_type": "code",
        "metadata": {"nbgrader": {"grade_id": "softmax"}},
        "source": "import numpy as np\n",
        "outputs": [{"output_type": "error", "ename": text, "evalue": text, "traceback": [text]}],
    }
    notebook = tmp_path / "lesson13.ipynb"
    document = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    notebook.write_text(json.dumps(document), encoding="utf-8")  # ASCII: lone surrogates as \ud800 escapes
    problems = notebook_to_modules(notebook, tmp_path / "modules")
    assert any("shows an error in the softmax cell" in problem for problem in problems)
    result = hostile_result("plain", name=text)
    result.notes = [f"{notebook.name} {problem}" for problem in problems]  # as grading writes them
    assert_markdown_safe(feedback_markdown(result), exercises=2)
    assert_html_safe(feedback_html(result, tmp_path))
    assert_gradescope_safe(gradescope_results(result))
    write_grades([result], tmp_path / "grades.csv")
    assert_csv_safe((tmp_path / "grades.csv").read_text(encoding="utf-8"))
    write_results([result], tmp_path / "results.json")
    assert_json_strings_bounded(json.loads((tmp_path / "results.json").read_text(encoding="utf-8")))
    stream = io.StringIO()
    Progress(1, stream, interactive=False).done(result)
    assert_terminal_safe(stream.getvalue(), 1)


# --- the command, end to end ------------------------------------------------------------------------


ENTRY_NAME_BYTES = 255  # the longest file name Linux allows


def entry_name(text: str) -> bytes:
    """``text`` as a file name Linux accepts: no "/" or NUL, bounded, other bytes kept (invalid UTF-8 too)."""
    return text.replace("/", "\\").replace("\x00", "0").encode("utf-8", "surrogatepass")[:ENTRY_NAME_BYTES]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class of hostile entry names (empty folders: nothing to run), a zip whose members have
    hostile names, and the hostile fixture's softmax beside its honest twin; graded by the command."""
    from tests.test_adversarial import honest_source

    root = tmp_path_factory.mktemp("injection")
    klass = root / "class"
    klass.mkdir()
    names = {entry_name(text) for text in HOSTILE.values()}
    for name in names:
        os.mkdir(os.path.join(bytes(klass), name))
    with zipfile.ZipFile(klass / "<img src=x onerror=alert(1)>.zip", "w") as bundle:
        bundle.writestr("../\x1b[2J<script>alert(1)</script>\n# heading.py", "x = 1\n")
    source = (ATTACK / "softmax.py").read_text()
    for folder, text in (("\x1b[31m=attack", source), ("honest twin", honest_source(source))):
        (klass / folder).mkdir()
        (klass / folder / "softmax.py").write_text(text)
    out = root / "out"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "grade",
            str(klass),
            "--out",
            str(out),
            "--jobs",
            "2",
            "--cuda",
            "off",
        ],
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    return completed, out, len(names) + 3


class TestTheCommand:
    def test_the_run_completes_with_one_row_per_entry_and_no_formula(self, graded_class):
        completed, out, entries = graded_class
        assert completed.returncode == 0, completed.stderr.decode("utf-8", "replace")[-3000:]
        rows = assert_csv_safe((out / "grades.csv").read_text(encoding="utf-8"))
        assert len(rows) == entries
        assert "x" * ENTRY_NAME_BYTES in {row[0] for row in rows}  # the longest file name is kept whole

    def test_the_terminal_gets_one_clean_line_per_entry(self, graded_class):
        completed, _, entries = graded_class
        text = (completed.stdout + completed.stderr).decode("utf-8")  # strict: no undecodable byte either
        assert_terminal_safe(text, entries)

    def test_every_feedback_page_and_gradescope_file_is_injection_free(self, graded_class):
        _, out, _ = graded_class
        pages = sorted((out / "feedback").glob("*.md"))
        assert pages
        for page in pages:
            assert_markdown_safe(page.read_text(encoding="utf-8"), exercises=7)
        for page in (out / "feedback").glob("*.html"):
            assert_html_safe(page.read_text(encoding="utf-8"))
        for path in (out / "gradescope").glob("*.json"):
            assert_gradescope_safe(json.loads(path.read_text(encoding="utf-8")))
        summary = (out / "summary.md").read_text(encoding="utf-8")
        assert_no_unsafe_characters(summary, "summary.md")
        assert "<" not in summary

    def test_results_json_is_bounded_and_keeps_what_the_hostile_code_raised_visible(self, graded_class):
        """Does the learner still see the exception it raised, as escaped text?"""
        _, out, _ = graded_class
        document = json.loads((out / "results.json").read_text(encoding="utf-8"))
        assert_json_strings_bounded(document)
        attack = next(s for s in document["submissions"] if s["submission"].endswith("=attack"))
        softmax = next(e for e in attack["exercises"] if e["module"] == "softmax")
        raised = [c["message"] for c in softmax["checks"] if c["status"] == "error"]
        assert raised and all("HYPERLINK" in message and "\\x1b[2J" in message for message in raised)
        printed = [note for note in softmax["notes"] if note.startswith("Your code printed")]
        assert printed and "\\x1b[2J" in printed[0]

    def test_the_attack_scores_exactly_what_its_honest_twin_scores(self, graded_class):
        """Text aimed at the reports changes no grade: the same status and score on every check."""
        _, out, _ = graded_class
        submissions = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
        document = {s["submission"]: s for s in submissions}
        attack = next(s for name, s in document.items() if name.endswith("=attack"))

        def checks(submission):
            every = [check for exercise in submission["exercises"] for check in exercise["checks"]]
            return [(check["name"], check["status"], check["score"]) for check in every]

        assert checks(attack) == checks(document["honest twin"])
        assert attack["total"] == document["honest twin"]["total"] > 0
