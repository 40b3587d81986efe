"""``python -m learner``: the learner's command line.

Parsing only; each verb calls a keyword-only function.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from learner.kit import UsageError

EXIT_OK = 0
EXIT_NOTHING_TO_SHOW = 1  # `show`: your code gave no weights to draw (not implemented yet, or it raised)
EXIT_USAGE = 2  # bad arguments, or no exercises/ folder found

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_NOTHING_TO_SHOW}  show: your code gave no weights to draw yet (the message says where)
  {EXIT_USAGE}  usage error (bad arguments, or no exercises/ folder here)"""

EXERCISES_HELP = "the exercises folder (default: ./exercises, or the one beside this tool)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m learner",
        description=(
            "Tools for the Lesson 13 (Attention) exercises: a hint when you are stuck, the visible tests on "
            "every save, and a picture of your attention weights beside the expected ones. Run them from "
            "the kit's folder, the one holding exercises/."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m learner hint                # the next hint for the first failing exercise\n"
        "  python -m learner watch               # re-run the visible tests on every save\n"
        "  python -m learner show masking        # draw your masked weights into show-masking.png\n\n"
        + EXIT_CODES_HELP,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    hint = verbs.add_parser(
        "hint",
        help="show the next hint for the first exercise that fails its visible checks",
        description=(
            "Print one hint: a question that points at the idea, never the answer. Each exercise has three, "
            "weakest first; every call shows the next one and remembers it (in .pytest_cache). "
            "Without EXERCISE it picks the first exercise that failed in your last `pytest exercises` run, "
            "running the visible tests first when files changed since."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m learner hint                # hint 1 of 3 for, say, masking.py; run again for hint 2\n"
        "  python -m learner hint multi_head     # the next hint for exercise 5, whatever fails first\n"
        "  python -m learner hint 3 --again      # the last hint shown for exercise 3, once more\n"
        "  python -m learner hint --reset        # forget the hints shown; start again at hint 1\n\n"
        + EXIT_CODES_HELP,
    )
    hint.add_argument(
        "exercise", nargs="?", metavar="EXERCISE", help="an exercise name or number, e.g. masking or 3"
    )
    hint.add_argument(
        "--again", action="store_true", help="repeat the last hint shown instead of the next one"
    )
    hint.add_argument(
        "--reset", action="store_true", help="forget which hints were shown (for EXERCISE, or all)"
    )
    hint.add_argument("--exercises", type=Path, metavar="DIR", help=EXERCISES_HELP)

    watch = verbs.add_parser(
        "watch",
        help="re-run the visible tests every time you save an exercise",
        description=(
            "Run the visible tests now, then again each time a .py file in exercises/ is saved: first the "
            "tests of the exercise you changed, then all of them. Prints only the first failure (each "
            "exercise's most basic checks run first: shapes, then values, then edge cases, then argument "
            "checks), how many more fail, and the progress line. Ctrl-C stops."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m learner watch                        # then edit and save exercises/masking.py\n"
        "  python -m learner watch --exercises ~/kit/exercises\n\n" + EXIT_CODES_HELP,
    )
    watch.add_argument("--exercises", type=Path, metavar="DIR", help=EXERCISES_HELP)
    watch.add_argument(
        "--debounce-ms",
        type=int,
        default=300,
        metavar="MS",
        help="wait this long for a burst of saves to end (default: %(default)s)",
    )

    show = verbs.add_parser(
        "show",
        help="draw the mask, your attention weights and the expected ones side by side (PNG)",
        description=(
            "Run a small worked example through your own code and draw, for each mask, the mask, your "
            "attention weights and the expected weights side by side, with the cells that differ framed in "
            "red. `masking` uses your masked_attention with a padding mask, a causal mask and a query that "
            "sees no key; `multi_head` uses one head of your MultiHeadAttention. The expected weights come "
            "from PyTorch's own functions. In a notebook: `from learner.show import masking_figure`, "
            "then `masking_figure()` (or `masking_figure(masked_attention)` for a function a cell defined)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m learner show masking                    # writes show-masking.png\n"
        "  python -m learner show multi_head --head 1        # head 1 instead of head 0\n"
        "  python -m learner show masking --out pics/m.png\n\n" + EXIT_CODES_HELP,
    )
    show.add_argument("what", choices=("masking", "multi_head"), metavar="WHAT", help="masking or multi_head")
    show.add_argument(
        "--out", type=Path, metavar="FILE.png", help="where the picture goes (default: show-WHAT.png here)"
    )
    show.add_argument(
        "--head",
        type=int,
        default=0,
        help="multi_head: which of the example's 2 heads (default: %(default)s)",
    )
    show.add_argument("--exercises", type=Path, metavar="DIR", help=EXERCISES_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.verb == "hint":
            from learner.hints import hint

            return hint(exercise=args.exercise, exercises=args.exercises, again=args.again, reset=args.reset)
        if args.verb == "watch":
            from learner.watch import watch

            return watch(exercises=args.exercises, debounce_ms=args.debounce_ms)
        from learner.show import show

        return show(what=args.what, out=args.out, exercises=args.exercises, head=args.head)
    except UsageError as error:
        print(f"learner {args.verb}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return EXIT_OK
