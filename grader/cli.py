"""``python -m grader``: the instructor's command line. Parsing only; each verb calls a keyword-only function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import stubs

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # a --check found something to fix (stale stubs)
EXIT_USAGE = 2  # bad arguments or unreadable input

REPO = Path(__file__).resolve().parent.parent

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_FAILED_CHECK}  a --check found something to fix
  {EXIT_USAGE}  usage error (bad arguments or unreadable input)"""


def make_stubs(*, solutions: Path, exercises: Path, check: bool) -> int:
    """Regenerate ``exercises`` from ``solutions`` (or with ``check``, only report stale stubs)."""
    try:
        stale = stubs.stale_files(solutions, exercises)
        if check:
            if stale:
                print(
                    f"{exercises} is out of date with {solutions}: {', '.join(stale)}; "
                    f"run `python -m grader stubs` to regenerate",
                    file=sys.stderr,
                )
                return EXIT_FAILED_CHECK
            print(f"{exercises} is in sync with {solutions}")
            return EXIT_OK
        stubs.write_stubs(solutions, exercises)
    except stubs.StubError as error:
        print(f"grader stubs: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"regenerated {len(stale)} stub(s) in {exercises}: {', '.join(stale) or 'none changed'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Instructor tools for the Lesson 13 (Attention) kit.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
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
        "  python -m grader stubs --check   # exit 1 if exercises/ is stale\n\n" + EXIT_CODES_HELP,
    )
    stub_parser.add_argument(
        "--solutions", type=Path, default=REPO / "solutions", help="reference modules (default: %(default)s)"
    )
    stub_parser.add_argument(
        "--exercises", type=Path, default=REPO / "exercises", help="where the stubs go (default: %(default)s)"
    )
    stub_parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any stub is stale")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    if args.verb == "stubs":
        return make_stubs(solutions=args.solutions, exercises=args.exercises, check=args.check)
    parser.error(f"unknown verb {args.verb}")
    return EXIT_USAGE
