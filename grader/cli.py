"""``python -m grader``: the instructor's command line. Parsing only; each verb calls a keyword-only
function."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader.cluster.arguments import add_dask_argument
from grader.exits import (
    EXIT_CODES_HELP,
    EXIT_FAILED_CHECK,
    EXIT_OK,
    EXIT_UNSAFE,
    EXIT_USAGE,
    exit_codes_help,
)
from grader.export.arguments import add_export_parser, export_command
from grader.intake.layout import CHOICES as LAYOUT_CHOICES
from grader.sandbox.accelerator import CHOICES as CUDA_CHOICES
from grader.sandbox.protections import RISKS
from grader.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = Settings()


def add_accept_risk(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accept-risk",
        action="append",
        default=[],
        choices=RISKS,
        metavar="PROTECTION",
        help="grade even though the sandbox lacks PROTECTION on this machine (repeatable; one of: "
        f"{', '.join(RISKS)}). The run prints every protection first and refuses to grade when one is "
        "missing and not named here (see README, Trust).",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Instructor tools for the Lesson 13 (Attention) kit.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    grade_parser = verbs.add_parser(
        "grade",
        help="grade one submission or a whole class",
        description=(
            "Grade PATH: one submission (a folder holding softmax.py ... classifier.py directly or under "
            "exercises/, or a .zip of one) or a folder of submissions (each entry, folder or .zip, is one "
            "learner, named by the entry), an LMS's whole-class export as a folder or the one .zip the LMS "
            "hands out (Moodle, Canvas, GitHub Classroom, Gradescope: each learner graded once, under their "
            "LMS identity), or nbgrader's collected work (a course folder, its submitted/ "
            "folder, or one .ipynb). Every exercise runs in its own sandboxed process; the hidden "
            "checks compare its results here. Writes OUT/grades.csv, OUT/results.json and "
            "OUT/feedback/<name>.md."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m grader grade solutions --out /tmp/ref        # 100/100\n"
        "  python -m grader grade exercises --out /tmp/stubs      # 0/100\n"
        "  python -m grader grade submissions/ --out grades --jobs 2\n"
        "  python -m grader grade submissions/ --out grades --regrade alice   # redo one learner\n"
        "  python -m grader grade submissions/ --out grades --dask tcp://10.0.0.5:8786  # a Dask cluster\n\n"
        "A rerun with the same --out grades only what is new or changed: results are kept per submission\n"
        "under DIR/submissions/ as each one finishes, so an interrupted run resumes where it stopped.\n\n"
        + exit_codes_help(EXIT_OK, EXIT_USAGE, EXIT_UNSAFE),
    )
    grade_parser.add_argument(
        "path", type=Path, metavar="PATH", help="a submission folder or .zip, or a folder of them"
    )
    grade_parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="where the gradebook and feedback go"
    )
    grade_parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help=(
            "grading workers, each on one exercise of one submission at a time "
            "(default: %(default)s, the CPU count)"
        ),
    )
    grade_parser.add_argument(
        "--call-timeout",
        type=float,
        default=DEFAULTS.call_timeout_s,
        metavar="S",
        help="seconds one call of the learner's code may take (default: %(default)s)",
    )
    grade_parser.add_argument(
        "--exercise-timeout",
        type=float,
        default=DEFAULTS.exercise_timeout_s,
        metavar="S",
        help="seconds all checks of one exercise may take (default: %(default)s)",
    )
    grade_parser.add_argument(
        "--memory-mb",
        type=int,
        default=DEFAULTS.memory_mb,
        metavar="MB",
        help="memory a sandboxed exercise may add (default: %(default)s)",
    )
    grade_parser.add_argument(
        "--layout",
        choices=["auto", *LAYOUT_CHOICES],
        default="auto",
        help=(
            "what PATH is: 'auto' decides from the whole of PATH and says why (default); or force one of "
            "one (one submission), class (each folder or .zip a learner), moodle, canvas, github-classroom, "
            "gradescope, nbgrader"
        ),
    )
    grade_parser.add_argument(
        "--regrade",
        action="append",
        default=[],
        metavar="NAME",
        help="grade submission NAME again even if DIR already holds its result (repeatable)",
    )
    grade_parser.add_argument(
        "--cuda",
        choices=CUDA_CHOICES,
        default=DEFAULTS.cuda,
        help=(
            "the device checks (no points): 'auto' runs them on a GPU when the machine has one the sandbox "
            "can use, 'off' skips them (default: %(default)s)"
        ),
    )
    add_accept_risk(grade_parser)
    add_dask_argument(grade_parser)

    gradescope_parser = verbs.add_parser(
        "gradescope",
        help="grade one submission into Gradescope's results.json",
        description=(
            "Grade one submission and write Gradescope's results.json: one test per check, with its points "
            "and message."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example (what gradescope/run_autograder runs):\n"
        "  python -m grader gradescope --submission /autograder/submission "
        "--results /autograder/results/results.json\n\n" + exit_codes_help(EXIT_OK, EXIT_USAGE, EXIT_UNSAFE),
    )
    gradescope_parser.add_argument(
        "--submission", type=Path, required=True, help="the submission folder or .zip"
    )
    gradescope_parser.add_argument(
        "--results", type=Path, required=True, help="where Gradescope's results.json goes"
    )
    gradescope_parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="exercises graded at once (default: %(default)s, the CPU count)",
    )
    add_accept_risk(gradescope_parser)

    feedback_parser = verbs.add_parser(
        "feedback",
        help="print one learner's feedback from a graded folder",
        description=(
            "Print learner NAME's feedback, as DIR/feedback/<name>.md holds it, from DIR/results.json. "
            "Nothing is graded or written; the learner's text is made safe for a terminal (escape sequences "
            "and control characters are shown as \\x1b and the like)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m grader feedback grades alice          # alice's feedback\n"
        "  python -m grader feedback grades alice | less   # page through it\n\n"
        + exit_codes_help(EXIT_OK, EXIT_USAGE),
    )
    feedback_parser.add_argument(
        "dir", type=Path, metavar="DIR", help="the --out folder of a grading run (it holds results.json)"
    )
    feedback_parser.add_argument(
        "name",
        metavar="NAME",
        help="the learner, as in grades.csv's submission column (or their LMS id); a misspelt one "
        "gets the closest names",
    )

    stub_parser = verbs.add_parser(
        "stubs",
        help="regenerate the learner stubs in exercises/ from solutions/",
        description=(
            "Replace every '### BEGIN SOLUTION' ... '### END SOLUTION' region of the reference modules "
            "with a NotImplementedError that names the function and its TODO, and write the result to "
            "the exercises folder. Visible tests and conftest.py in that folder are left alone."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m grader stubs           # rewrite exercises/*.py\n"
        "  python -m grader stubs --check   # exit 1 if exercises/ is stale\n\n"
        + exit_codes_help(EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE, failed_check="--check found a stale stub"),
    )
    stub_parser.add_argument(
        "--solutions", type=Path, default=REPO / "solutions", help="reference modules (default: %(default)s)"
    )
    stub_parser.add_argument(
        "--exercises", type=Path, default=REPO / "exercises", help="where the stubs go (default: %(default)s)"
    )
    stub_parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any stub is stale"
    )
    notebook_parser = verbs.add_parser(
        "notebook",
        help="regenerate the nbgrader source notebook from solutions/",
        description=(
            "Write the lesson as an nbgrader assignment: the modules' docstrings as markdown, one answer "
            "cell per exercise (grade_id = module), one test cell per hidden check with a visible assert "
            "and a hidden region."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m grader notebook           # rewrite nbgrader/source/lesson13/lesson13.ipynb\n"
        "  python -m grader notebook --check   # exit 1 if the notebook is stale\n\n"
        + exit_codes_help(
            EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE, failed_check="--check found the notebook stale"
        ),
    )
    notebook_parser.add_argument(
        "--solutions", type=Path, default=REPO / "solutions", help="reference modules (default: %(default)s)"
    )
    notebook_parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "nbgrader" / "source" / "lesson13" / "lesson13.ipynb",
        help="the notebook (default: %(default)s)",
    )
    notebook_parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the notebook is stale"
    )

    release_parser = verbs.add_parser(
        "release",
        help="build the learner kit (a folder and a .zip) from exercises/, solutions/ and learner/",
        description=(
            "Build the kit learners get: the stubs (generated afresh from solutions/), the visible tests "
            "and their conftest.py, the learner tools (learner/: hints, watch mode, pictures), a learner "
            "README, a pyproject.toml and constraints.txt. Writes the folder OUT and OUT.zip beside it, and "
            "nothing of solutions/, grader/ or tests/: the build stops if its output holds a solution "
            "region or a line of solution code."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m grader release dist/lesson13-kit           # dist/lesson13-kit/ and "
        "dist/lesson13-kit.zip\n"
        "  python -m grader release dist/lesson13-kit --force   # replace an earlier build\n\n"
        + exit_codes_help(
            EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE, failed_check="the build found solution code in the kit"
        ),
    )
    release_parser.add_argument(
        "out",
        type=Path,
        metavar="OUT",
        help="the kit's folder, new or empty unless --force; OUT.zip is written beside it",
    )
    release_parser.add_argument("--force", action="store_true", help="replace OUT and OUT.zip if they exist")
    autograder_parser = verbs.add_parser(
        "autograder",
        help="build Gradescope's autograder zip (setup.sh, run_autograder, the grader and the reference)",
        description=(
            "Build the zip to upload as a Gradescope programming assignment's autograder: "
            "gradescope/setup.sh and gradescope/run_autograder at its root, beside grader/, solutions/, "
            "learner/, pyproject.toml, constraints.txt and README.md; no tests/, exercises/, .git or caches. "
            "It holds the reference solution: never hand it to learners (their kit is `python -m grader "
            "release`)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m grader autograder --out dist/autograder.zip           # then upload it to Gradescope\n"
        "  python -m grader autograder --out dist/autograder.zip --force   # replace an earlier build\n\n"
        + exit_codes_help(EXIT_OK, EXIT_USAGE),
    )
    autograder_parser.add_argument(
        "--out",
        type=Path,
        default=Path("autograder.zip"),
        metavar="FILE.zip",
        help="the zip to write, new unless --force (default: %(default)s)",
    )
    autograder_parser.add_argument("--force", action="store_true", help="replace FILE.zip if it exists")
    add_export_parser(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    if args.verb in ("grade", "gradescope"):
        from grader.bulk import grade_command, gradescope_command

        if args.verb == "gradescope":
            return gradescope_command(
                submission=args.submission,
                results=args.results,
                jobs=args.jobs,
                accepted_risks=tuple(args.accept_risk),
            )
        settings = Settings(
            call_timeout_s=args.call_timeout,
            exercise_timeout_s=args.exercise_timeout,
            memory_mb=args.memory_mb,
            cuda=args.cuda,
            accepted_risks=tuple(args.accept_risk),
        )
        return grade_command(
            path=args.path,
            out=args.out,
            jobs=args.jobs,
            settings=settings,
            regrade=tuple(args.regrade),
            layout=LAYOUT_CHOICES.get(args.layout),
            dask=args.dask,
        )
    if args.verb == "feedback":
        from grader.reports.show import feedback_command

        return feedback_command(out=args.dir, name=args.name)
    if args.verb == "stubs":
        from grader.kit.stubs import stubs_command

        return stubs_command(solutions=args.solutions, exercises=args.exercises, check=args.check)
    if args.verb == "release":
        from grader.kit.release import release_command

        return release_command(out=args.out, force=args.force)
    if args.verb == "autograder":
        from grader.kit.autograder import autograder_command

        return autograder_command(out=args.out, force=args.force)
    if args.verb == "notebook":
        from grader.kit.notebook import write_notebook

        return write_notebook(solutions=args.solutions, out=args.out, check=args.check)
    if args.verb == "export":
        return export_command(args)
    parser.error(f"unknown verb {args.verb}")
    return EXIT_USAGE
