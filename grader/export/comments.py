"""The short feedback comment Moodle shows beside a grade: the total, the points of each exercise, and
where the full feedback is.

Moodle stores an imported "Feedback comments" cell as HTML (``assignfeedback_comments``
``set_editor_text`` saves it with ``FORMAT_HTML``) and shows it through ``format_text``. Every piece of
text from results.json is escaped here; the numbers are formatted here. The comment is one line, so the
worksheet keeps one line per learner.
"""

from __future__ import annotations

from html import escape

from grader.export.feedback_zip import FEEDBACK_FILE
from grader.export.graded import LESSON_TITLE, Graded
from grader.export.points import format_grade
from grader.safe_text import for_html

EXERCISES_SHOWN = 20  # the lesson has seven; a tampered results.json cannot make the comment long
MODULE_CHARS = 40


def feedback_comment(result: Graded, grade: float, maximum: float, *, attached: bool) -> str:
    """The comment for ``result``, whose grade in Moodle is ``grade`` out of ``maximum``; ``attached``:
    the feedback page goes to Moodle too (the feedback zip)."""
    points = f"{format_grade(result.total)} / {format_grade(result.max_score)} points"
    head = f"<p><strong>{escape(LESSON_TITLE)}: {points}</strong>"
    if maximum != result.max_score:
        head += f" (your grade here: {format_grade(grade)} / {format_grade(maximum)})"
    items = "".join(
        f"<li>{exercise.number}. {for_html(exercise.module, MODULE_CHARS, one_line=True)}: "
        f"{format_grade(exercise.score)} / {format_grade(exercise.max_score)}</li>"
        for exercise in result.exercises[:EXERCISES_SHOWN]
    )
    where = f"the feedback file {FEEDBACK_FILE}, attached here" if attached else "your feedback file"
    return (
        f"{head}</p><ul>{items}</ul><p>The full feedback, check by check, with what was expected and what "
        f"your code gave, is in {where}.</p>"
    )
