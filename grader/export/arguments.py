"""The command line of ``python -m grader export canvas|moodle``: its arguments, help and examples.

``grader/cli.py`` adds them to its verbs and hands the parsed ``export`` to ``export_command``, which
imports the command it runs only then (``canvas.canvas_command`` or ``moodle.moodle_command``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.exits import EXIT_OK, EXIT_USAGE, exit_codes_help
from grader.export.graded import LESSON_TITLE


def add_export_parser(verbs) -> None:
    """``export canvas|moodle``: a grading output back into the LMS's gradebook."""
    export_parser = verbs.add_parser(
        "export",
        help="turn a graded folder into an LMS's gradebook import (canvas, moodle)",
        description=(
            "Turn DIR, the --out folder of a grading run of an LMS's submissions download, into the file "
            "that LMS imports. Learners are matched on the id the LMS gave their submission (Canvas's user "
            "id, Moodle's participant id) and nothing else: learners of the LMS without a submission keep "
            "their cells as they were, and submissions no row claims are listed, never guessed by name."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m grader export canvas grades --roster gradebook.csv --out canvas-import.csv\n"
        "  python -m grader export moodle grades --worksheet worksheet.csv --out moodle-import.csv\n\n"
        + exit_codes_help(EXIT_OK, EXIT_USAGE),
    )
    export_parser.set_defaults(print_export_help=export_parser.print_help)
    lms = export_parser.add_subparsers(dest="lms", metavar="LMS")
    canvas = lms.add_parser(
        "canvas",
        help="a Canvas gradebook import: one assignment column, each learner's total",
        description=(
            "Write a Canvas gradebook import from DIR (a grading run of Canvas's submissions download) and "
            "GRADEBOOK.csv (Canvas: Grades > Export > Export Entire Gradebook). It keeps the gradebook's "
            "learner columns (Student, ID, SIS User ID, SIS Login ID, Section), its Points Possible row and "
            "every row, and adds one assignment column with each learner's total, matched on ID = the "
            "Canvas user id in the submission's file name. Import it with Grades > Import."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m grader export canvas grades --roster gradebook.csv --out canvas-import.csv\n"
        "      # a new assignment 'Lesson 13 — Attention', worth 100 points\n"
        "  python -m grader export canvas grades --roster gradebook.csv --out canvas-import.csv "
        '--column "Lesson 13 (4521)"\n'
        "      # the gradebook's existing assignment 4521, totals scaled to its points\n\n"
        + exit_codes_help(EXIT_OK, EXIT_USAGE),
    )
    canvas.add_argument("dir", type=Path, metavar="DIR", help="the --out folder of the grading run")
    canvas.add_argument(
        "--roster", type=Path, required=True, metavar="GRADEBOOK.csv", help="the gradebook Canvas exported"
    )
    canvas.add_argument("--out", type=Path, required=True, metavar="IMPORT.csv", help="the import to write")
    canvas.add_argument(
        "--column",
        metavar="NAME",
        default=LESSON_TITLE,
        help="the assignment column: an assignment of the gradebook (its title, or 'Title (id)' as the "
        "export names it) or a new one (default: the lesson's title, '%(default)s')",
    )
    moodle = lms.add_parser(
        "moodle",
        help="Moodle's offline grading worksheet, with Grade and Feedback comments filled",
        description=(
            "Fill Grade and Feedback comments of Moodle's offline grading worksheet (Assignment > "
            "Submissions > Download grading worksheet) for each learner of DIR (a grading run of Moodle's "
            "Download all submissions), matched on the worksheet's Identifier, 'Participant <id>'. Every "
            "other cell and row stays as it was; grades are scaled to the worksheet's Maximum Grade. "
            "Upload it with 'Upload grading worksheet', and the --feedback-zip with 'Upload multiple "
            "feedback files in a zip'."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m grader export moodle grades --worksheet worksheet.csv --out moodle-import.csv\n"
        "  python -m grader export moodle grades --worksheet worksheet.csv --out moodle-import.csv "
        "--feedback-zip feedback.zip\n      # and every learner's HTML feedback page, for Moodle's "
        "feedback files\n\n" + exit_codes_help(EXIT_OK, EXIT_USAGE),
    )
    moodle.add_argument("dir", type=Path, metavar="DIR", help="the --out folder of the grading run")
    moodle.add_argument(
        "--worksheet", type=Path, required=True, metavar="WORKSHEET.csv", help="the worksheet Moodle gave"
    )
    moodle.add_argument(
        "--out", type=Path, required=True, metavar="IMPORT.csv", help="the filled worksheet to write"
    )
    moodle.add_argument(
        "--feedback-zip",
        type=Path,
        metavar="FILE.zip",
        help="also write each matched learner's HTML feedback page into FILE.zip, named as Moodle's feedback "
        "zip upload expects (default: no zip)",
    )


def export_command(args: argparse.Namespace) -> int:
    """Run the ``export`` the arguments name; without an LMS, its help and a usage error."""
    if args.lms is None:
        args.print_export_help()
        return EXIT_USAGE
    if args.lms == "canvas":
        from grader.export.canvas import canvas_command

        return canvas_command(results_dir=args.dir, roster=args.roster, out=args.out, column=args.column)
    from grader.export.moodle import moodle_command

    return moodle_command(
        results_dir=args.dir, worksheet=args.worksheet, out=args.out, feedback_zip=args.feedback_zip
    )
