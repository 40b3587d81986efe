"""Do the learner's tools make the edit → test → read loop better: hints, watch mode and pictures?"""

import ast
import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from grader.contract import EXERCISES
from grader.kit import stubs
from learner import cli, hints, kit, lesson, mistakes, show, watch

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS, SUBMISSIONS = REPO / "solutions", REPO / "tests" / "submissions"
MODULES = [exercise.module for exercise in EXERCISES]


def make_kit(root: Path, implemented: tuple[str, ...] = (), fixtures: tuple[str, ...] = ()) -> Path:
    """A learner's kit in ``root``: the tools, and the stubs with the reference for ``implemented``.

    Fixtures are laid over them.
    """
    exercises = root / "exercises"
    shutil.copytree(REPO / "exercises", exercises, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        REPO / "learner", root / "learner", ignore=shutil.ignore_patterns("__pycache__", "assets")
    )
    for module in implemented:
        shutil.copy(SOLUTIONS / f"{module}.py", exercises)
    for fixture in fixtures:
        for source in (SUBMISSIONS / fixture).glob("*.py"):
            shutil.copy(source, exercises)
    return exercises


def learner(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "learner", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def record_progress(exercises: Path, first_failing: str | None, passing: tuple[str, ...] = ()) -> None:
    """What the conftest records after a run, written directly (and dated after every file in the kit)."""
    statuses = {m: {"passed": 3, "failed": 0 if m in passing else 1, "todo": None} for m in MODULES}
    record = {
        "finished_at": time.time() + 60,
        "first_failing": first_failing,
        "not_run": [],
        "exercises": statuses,
    }
    kit.Kit(exercises).write(kit.PROGRESS_KEY, record)


class TestHintsLiveWithTheExercises:
    @pytest.mark.parametrize("module", MODULES)
    def test_every_exercise_has_three_questions(self, module):
        found = hints.read_hints(SOLUTIONS / f"{module}.py")
        assert len(found) == 3
        assert all(text.rstrip().endswith("?") for text in found)

    def test_the_help_and_both_readmes_count_the_hints_the_exercises_have(self, capsys):
        counts = {len(hints.read_hints(SOLUTIONS / f"{module}.py")) for module in MODULES}
        assert counts == {3}
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["hint", "--help"])
        help_text = " ".join(capsys.readouterr().out.split())
        assert "Each exercise has three, weakest first" in help_text and "two or" not in help_text
        readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
        assert "(three per exercise, weakest first)" in readme
        kit_readme = " ".join((REPO / "learner" / "KIT_README.md").read_text(encoding="utf-8").split())
        assert "Each exercise has three, weakest first" in kit_readme

    @pytest.mark.parametrize("module", MODULES)
    def test_the_stub_carries_the_same_hints_as_the_solution(self, module):
        assert hints.read_hints(REPO / "exercises" / f"{module}.py") == hints.read_hints(
            SOLUTIONS / f"{module}.py"
        )

    @pytest.mark.parametrize("module", MODULES)
    def test_hints_lie_outside_the_solution_regions_and_quote_no_solution_code(self, module):
        source = (SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
        hints_line = next(n for n, line in enumerate(source.splitlines(), 1) if line.startswith("HINTS = ("))
        assert all(
            not (region.begin <= hints_line <= region.end) for region in stubs.find_regions(source, module)
        )
        lines = source.splitlines()
        code = {
            lines[n].strip()
            for region in stubs.find_regions(source, module)
            for n in range(region.begin, region.end - 1)
            if len(lines[n].strip()) > 12
        }
        assert not [
            line for line in code for text in hints.read_hints(SOLUTIONS / f"{module}.py") if line in text
        ]

    def test_hints_are_read_from_a_file_that_does_not_parse(self, tmp_path):
        broken = tmp_path / "masking.py"
        broken.write_text(
            "def masked_attention(q, k, v, mask=None:\n    pass\n\n\nHINTS = (\n    'Which axis?',\n)\n"
        )
        assert hints.read_hints(broken) == ("Which axis?",)


class TestHintCommand:
    def test_next_hint_for_the_first_failing_exercise_after_running_the_tests(self, tmp_path):
        """With no run recorded, the command runs the visible tests itself; each call shows the next hint."""
        make_kit(tmp_path, implemented=("softmax", "attention"))
        first = learner("hint", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "running the visible tests" in first.stderr
        masking_hints = hints.read_hints(SOLUTIONS / "masking.py")
        assert first.stdout.startswith(
            "Exercise 3, masking.py — hint 1 of 3 (the first exercise that fails its visible checks):"
        )
        assert masking_hints[0][:60] in " ".join(first.stdout.split())
        second = learner("hint", cwd=tmp_path)
        assert "masking.py — hint 2 of 3" in second.stdout and "running" not in second.stderr

    def test_the_progress_line_says_which_hint_comes_next(self, tmp_path):
        make_kit(tmp_path, implemented=("softmax", "attention"))
        learner("hint", "masking", cwd=tmp_path)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "exercises"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "Next: exercise 3 — masking.py: causal_mask() is not implemented yet" in run.stdout
        assert "Stuck? `python -m learner hint` shows hint 2 of 3 for masking.py." in run.stdout
        record = json.loads((tmp_path / ".pytest_cache" / "v" / "lesson13" / "progress").read_text())
        assert record["first_failing"] == "masking" and record["exercises"]["softmax"]["failed"] == 0

    def test_again_repeats_reset_forgets_and_the_last_hint_stays(self, tmp_path, capsys):
        exercises = make_kit(tmp_path)
        record_progress(
            exercises, "multi_head", passing=("softmax", "attention", "masking", "self_attention")
        )
        shown = []
        for options in [{}, {}, {"again": True}, {}, {}, {"reset": True}, {}]:
            assert hints.hint(exercises=exercises, **options) == 0
            first_line = capsys.readouterr().out.splitlines()[0]
            found = re.search(r"^Exercise 5, multi_head.py — (hint \d of 3)", first_line)
            shown.append(found.group(1) if found else first_line)
        assert shown == [
            "hint 1 of 3",
            "hint 2 of 3",
            "hint 2 of 3",
            "hint 3 of 3",
            "hint 3 of 3",
            "Forgot the hints shown for every exercise; `python -m learner hint` starts again at hint 1.",
            "hint 1 of 3",
        ]

    def test_the_last_hint_points_at_the_picture(self, tmp_path, capsys):
        exercises = make_kit(tmp_path)
        record_progress(exercises, "masking")
        for _ in range(3):
            hints.hint(exercises=exercises)
        assert "python -m learner show masking" in capsys.readouterr().out

    def test_a_named_exercise_and_a_number_work_whatever_fails_first(self, tmp_path, capsys):
        exercises = make_kit(tmp_path)
        record_progress(exercises, "softmax")
        hints.hint(exercise="5", exercises=exercises)
        hints.hint(exercise="multi_head.py", exercises=exercises)
        out = capsys.readouterr().out
        assert (
            "Exercise 5, multi_head.py — hint 1 of 3:" in out
            and "Exercise 5, multi_head.py — hint 2 of 3:" in out
        )

    def test_all_passing_needs_no_hint(self, tmp_path, capsys):
        exercises = make_kit(tmp_path)
        record_progress(exercises, None, passing=tuple(MODULES))
        assert hints.hint(exercises=exercises) == 0
        assert "All 7 exercises pass their visible checks: no hint needed" in capsys.readouterr().out

    def test_a_file_saved_after_the_last_run_makes_the_command_run_the_tests(self, tmp_path, monkeypatch):
        exercises = make_kit(tmp_path)
        record = {"finished_at": 0.0, "first_failing": "softmax", "not_run": [], "exercises": {}}
        kit.Kit(exercises).write(kit.PROGRESS_KEY, record)
        ran = []

        def fake_run(k, modules=(), *, extra=()):
            ran.append(modules)
            record_progress(exercises, "attention", passing=("softmax",))
            return subprocess.CompletedProcess([], 1, "", "")

        monkeypatch.setattr(hints, "run_tests", fake_run)
        hints.hint(exercises=exercises)
        assert ran == [()]

    def test_usage_errors_are_one_line_without_a_traceback(self, tmp_path):
        make_kit(tmp_path)
        for args, expected in [
            (("hint", "nonsense"), "'nonsense' is not an exercise: expected a number 1-7 or one of softmax,"),
            (("hint", "--exercises", str(tmp_path / "nowhere")), "is not the kit's exercises folder"),
        ]:
            result = learner(*args, cwd=tmp_path)
            assert result.returncode == 2 and "Traceback" not in result.stderr
            assert result.stderr.count("\n") == 1 and expected in result.stderr

    def test_conftest_and_tools_read_the_exercises_and_the_cache_keys_from_one_home(self):
        spec = importlib.util.spec_from_file_location("visible_conftest", REPO / "exercises" / "conftest.py")
        conftest = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conftest)
        assert conftest.EXERCISES is kit.EXERCISES is lesson.MODULES
        assert (conftest.PROGRESS_KEY, conftest.HINTS_SHOWN_KEY) == (kit.PROGRESS_KEY, kit.HINTS_SHOWN_KEY)


NEXT_AFTER_STUBS = (
    "Next: exercise 1 — softmax.py: softmax() is not implemented yet — "
    "TODO: subtract each slice's maximum before exp."
)
STUB_RUN = f"""\
exercises/test_softmax.py Fsssss                                         [ 15%]

=================================== FAILURES ===================================
__________________________ test_keeps_shape_and_dtype __________________________
softmax.py: softmax() is not implemented yet — TODO: subtract each slice's maximum before exp.
__________________ test_shapes_with_any_batch_dims[no batch] ___________________
attention.py: scaled_dot_product_attention() is not implemented yet — TODO: scores.
============================== Lesson 13 progress ==============================
0 of 7 exercises pass their visible checks
{NEXT_AFTER_STUBS}
Stuck? `python -m learner hint` shows hint 1 of 3 for softmax.py.
=========================== short test summary info ============================
FAILED exercises/test_softmax.py::test_keeps_shape_and_dtype - softmax.py: so...
======================== 7 failed, 33 skipped in 3.29s =========================
"""

SYNTAX_ERROR_RUN = """\
==================================== ERRORS ====================================
_________________ ERROR collecting exercises/test_masking.py __________________
.venv/lib/python3.11/site-packages/_pytest/python.py:498: in importtestmodule
    mod = import_path(
exercises/test_masking.py:6: in <module>
    from .masking import causal_mask, masked_attention, padding_mask
E     File "/home/me/kit/exercises/masking.py", line 97
E       scores = (q @ k.transpose(-2, -1)
E                ^
E   SyntaxError: '(' was never closed
=========================== short test summary info ============================
ERROR exercises/test_masking.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
=============================== 1 error in 2.71s ===============================
"""


class TestWatchOutput:
    def test_only_the_first_failure_the_progress_and_the_summary_are_kept(self):
        assert watch.first_failure(STUB_RUN) == (
            "test_keeps_shape_and_dtype\nsoftmax.py: softmax() is not implemented yet — "
            "TODO: subtract each slice's maximum before exp."
        )
        assert watch.progress(STUB_RUN).splitlines()[1:] == [
            "0 of 7 exercises pass their visible checks",
            "Next: exercise 1 — softmax.py: softmax() is not implemented yet — "
            "TODO: subtract each slice's maximum before exp.",
            "Stuck? `python -m learner hint` shows hint 1 of 3 for softmax.py.",
        ]
        assert watch.summary(STUB_RUN) == "7 failed, 33 skipped in 3.29s"

    def test_a_traceback_shrinks_to_where_it_happened_and_what(self):
        assert watch.first_failure(SYNTAX_ERROR_RUN).splitlines() == [
            "ERROR collecting exercises/test_masking.py",
            "at exercises/test_masking.py:6:",
            '  File "/home/me/kit/exercises/masking.py", line 97',
            "    scores = (q @ k.transpose(-2, -1)",
            "             ^",
            "SyntaxError: '(' was never closed",
        ]

    def test_the_failures_are_counted_errors_included(self):
        assert watch.failure_count(STUB_RUN) == 2 and watch.failure_count(SYNTAX_ERROR_RUN) == 1
        assert watch._more(SYNTAX_ERROR_RUN, "pytest exercises") == ""

    def test_saved_files_map_to_exercises_in_lesson_order(self):
        saved = [
            "/k/exercises/test_multi_head.py",
            "/k/exercises/masking.py",
            "/k/exercises/conftest.py",
            "/k/exercises/masking.py",
        ]
        assert watch.changed_exercises(saved) == ["masking", "multi_head"]

    def test_the_watching_is_watchfiles_not_a_polling_loop_of_our_own(self):
        source = (REPO / "learner" / "watch.py").read_text(encoding="utf-8")
        assert "from watchfiles import" in source and "sleep(" not in source


class TestWatchMode:
    def test_a_save_reruns_that_exercise_first_then_all(self, tmp_path, monkeypatch):
        """watchfiles reports the save; the changed exercise runs before the whole suite."""
        exercises = make_kit(tmp_path)
        runs, lines = [], []
        done = threading.Event()

        def fake_run(k, modules=(), *, extra=()):
            runs.append(tuple(modules))
            if len(runs) >= 3:
                done.set()
            return subprocess.CompletedProcess([], 1, STUB_RUN, "")

        monkeypatch.setattr(watch, "run_visible_tests", fake_run)
        thread = threading.Thread(
            target=watch.watch, kwargs={"exercises": exercises, "stop_event": done, "write": lines.append}
        )
        thread.start()
        deadline = time.monotonic() + 30
        while len(runs) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the watcher settle before the save
        (exercises / "masking.py").write_text((exercises / "masking.py").read_text() + "\n# saved\n")
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert runs[:3] == [(), ("masking",), ()]
        text = "\n".join(lines)
        assert "masking.py ─" in text and "masking: 7 failed, 33 skipped in 3.29s" in text
        assert text.count("test_keeps_shape_and_dtype") == 2 and "test_shapes_with_any_batch_dims" not in text
        assert "… and 1 more failing test: `pytest exercises/test_masking.py` shows them all." in text
        assert "… and 1 more failing test: `pytest exercises` shows them all." in text  # the first run

    @pytest.mark.slow
    def test_the_command_watches_a_real_kit_and_stops_on_ctrl_c(self, tmp_path):
        exercises = make_kit(tmp_path)
        process = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-c", AS_IN_A_TERMINAL, "watch"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(iter(process.stdout.readline, "")), daemon=True)
        reader.start()
        try:
            wait_for(seen, "Stuck? `python -m learner hint`")
            time.sleep(0.5)
            shutil.copy(SOLUTIONS / "softmax.py", exercises / "softmax.py")
            wait_for(seen, "1 of 7 exercises pass their visible checks: softmax")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # say where it was stuck: faulthandler prints every thread
                process.send_signal(signal.SIGABRT)
                process.wait(timeout=10)
                reader.join(timeout=5)
                raise AssertionError(
                    "watch did not stop on Ctrl-C; it printed:\n" + "".join(seen)[-6000:]
                ) from None
            reader.join(timeout=5)
        text = "".join(seen)
        assert re.search(r"softmax: \d+ passed in", text)
        assert "Next: exercise 2 — attention.py" in text and "Traceback" not in text
        assert process.returncode == 0 and "Stopped." in text


# ``python -m learner`` with Ctrl-C as in a terminal. A process that a non-interactive shell starts in the
# background (a CI script's ``cmd &``) ignores SIGINT, and so would every process it starts, this one too.
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('learner', run_name='__main__', alter_sys=True)"
)


def wait_for(seen: list[str], text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in "".join(seen):
            return
        time.sleep(0.1)
    raise AssertionError(f"watch never printed {text!r}; it printed:\n{''.join(seen)[-3000:]}")


class TestShowMe:
    def test_the_reference_matches_everywhere(self, tmp_path):
        exercises = make_kit(tmp_path, implemented=("attention", "masking", "multi_head"))
        assert show.masking_figure(exercises=exercises).verdict == "all 75 weights match the expected ones"
        assert show.multi_head_figure(exercises=exercises).verdict == "all 50 weights match the expected ones"
        assert (
            show.multi_head_figure(exercises=exercises, head=1).verdict
            == "all 50 weights match the expected ones"
        )

    @pytest.mark.parametrize(
        "fixture, verdict",
        [
            (
                "mutants/nan_on_fully_masked_rows",
                "5 of 75 weights differ",
            ),  # the lesson's own masked_attention
            ("mutants/fills_masked_scores_with_minus_1e9", "5 of 75 weights differ"),
            ("mutants/masks_weights_after_softmax", "38 of 75 weights differ"),
        ],
    )
    def test_masking_mistakes_are_marked(self, tmp_path, fixture, verdict):
        exercises = make_kit(tmp_path, fixtures=(fixture,))
        assert show.masking_figure(exercises=exercises).verdict.startswith(verdict)

    @pytest.mark.parametrize(
        "fixture, verdict",
        [
            ("mutants/splits_heads_with_view_not_transpose", "differ"),
            ("mutants/mask_not_broadcast_over_heads", "differ"),
            (
                "unusual/multi_head_loops_over_heads",
                "all 50 weights match",
            ),  # one masked_attention call per head
        ],
    )
    def test_one_head_of_multi_head_attention(self, tmp_path, fixture, verdict):
        exercises = make_kit(tmp_path, implemented=("masking",), fixtures=(fixture,))
        assert verdict in show.multi_head_figure(exercises=exercises).verdict

    def test_the_command_writes_a_png_and_the_figure_shows_inline_in_a_notebook(self, tmp_path):
        exercises = make_kit(tmp_path, implemented=("masking",))
        result = learner("show", "masking", "--out", "pictures/m.png", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "Wrote pictures/m.png: all 75 weights match the expected ones.\n"
        assert (tmp_path / "pictures" / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        figure = show.masking_figure(exercises=exercises)
        assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # what Jupyter calls to show it inline

    def test_a_notebook_passes_the_code_its_cells_define(self, tmp_path, monkeypatch):
        """No exercises/ folder needed: the function and the class come from the notebook's namespace."""
        monkeypatch.chdir(tmp_path)
        cells = (SOLUTIONS / "masking.py").read_text() + (SOLUTIONS / "multi_head.py").read_text()
        notebook = {"__name__": "__main__"}
        exec(
            compile(cells.replace("from .masking import masked_attention\n", ""), "<cell>", "exec"), notebook
        )
        assert (
            show.masking_figure(notebook["masked_attention"]).verdict
            == "all 75 weights match the expected ones"
        )
        figure = show.multi_head_figure(notebook["MultiHeadAttention"], head=1)
        assert figure.verdict == "all 50 weights match the expected ones"
        assert notebook["masked_attention"].__name__ == "masked_attention"  # put back after recording

    def test_a_stub_says_one_line_instead_of_a_traceback(self, tmp_path):
        make_kit(tmp_path)
        result = learner("show", "masking", cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("masking.py: masked_attention() is not implemented yet — TODO:")
        assert result.stderr.rstrip().endswith("Nothing to draw yet.") and result.stderr.count("\n") == 1

    def test_code_that_raises_is_named_by_file_and_line(self, tmp_path):
        exercises = make_kit(tmp_path, implemented=("masking",))
        source = (exercises / "masking.py").read_text()
        (exercises / "masking.py").write_text(
            source.replace("    scores = q @ k", "    raise RuntimeError('boom')\n    scores = q @ k", 1)
        )
        line = 1 + next(
            n for n, text in enumerate((exercises / "masking.py").read_text().splitlines()) if "boom" in text
        )
        with pytest.raises(show.LearnerCodeError, match=rf"^masking.py line {line}: RuntimeError: boom$"):
            show.masking_figure(exercises=exercises)

    def test_multi_head_on_an_unfinished_masking_names_masking(self, tmp_path):
        exercises = make_kit(tmp_path, implemented=("multi_head",))
        with pytest.raises(
            show.LearnerCodeError, match=r"^masking.py: masked_attention\(\) is not implemented yet"
        ):
            show.multi_head_figure(exercises=exercises)


def fully_masked_case():
    """q, k (2, 4, 8) and a mask whose query 1 of batch 0 sees no key."""
    g = torch.Generator().manual_seed(0)
    q, k = (
        torch.randn(2, 4, 8, generator=g, dtype=torch.float64),
        torch.randn(2, 4, 8, generator=g, dtype=torch.float64),
    )
    mask = torch.rand(2, 4, 4, generator=g) > 0.4
    mask[..., 0] = True
    mask[0, 1] = False
    return q, k, mask


def weights_of(fixture: str, q, k, mask):
    spec = importlib.util.spec_from_file_location(
        fixture.replace("/", "_"), SUBMISSIONS / fixture / "masking.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.masked_attention(q, k, k, mask)[1]


class TestHintsFollowTheOutputsSignature:
    """A hint names a masking mistake only when the weights are what that mistake gives (learner/mistakes.py,
    shared by the visible tests and the grader)."""

    @pytest.mark.parametrize(
        "fixture, hint",
        [
            ("mutants/fills_masked_scores_with_minus_1e9", mistakes.FINITE_FILL_HINT),
            ("mutants/fills_with_finfo_min_without_zeroing_rows", mistakes.FINITE_FILL_HINT),
            ("mutants/nan_on_fully_masked_rows", mistakes.ZERO_ROWS_HINT),
            ("mutants/mask_inverted", mistakes.MASK_VARIANTS[0][0]),
            ("mutants/masks_weights_after_softmax", mistakes.MASK_VARIANTS[1][0]),
            ("mutants/fills_masked_scores_with_zero", mistakes.MASK_VARIANTS[2][0]),
        ],
    )
    def test_a_mistake_is_named_when_the_weights_are_its_own(self, fixture, hint):
        q, k, mask = fully_masked_case()
        assert mistakes.mask_hint(q, k, mask, weights_of(fixture, q, k, mask)) == hint

    def test_other_weights_get_a_question_that_names_no_mistake(self):
        q, k, mask = fully_masked_case()
        weights = weights_of("mutants/nan_on_fully_masked_rows", q, k, mask)
        half = weights.nan_to_num(
            0.5
        )  # the query that sees no key gets 0.5 per key: no known fill gives that
        assert mistakes.mask_hint(q, k, mask, half) == mistakes.FULLY_MASKED_QUESTION
        zeros = weights.nan_to_num(0.0)
        zeros[1, 2] = zeros[1, 2].flip(-1)  # a query that sees keys, wrong in no known way
        assert mistakes.mask_hint(q, k, mask, zeros) == mistakes.MASK_QUESTION
        assert mistakes.mask_hint(q, k, mask, torch.zeros(3)) == mistakes.MASK_QUESTION  # a wrong shape
        assert (
            mistakes.fully_masked_hint(torch.tensor([[0.7, 0.1, 0.1, 0.1]])) == mistakes.FULLY_MASKED_QUESTION
        )
        assert mistakes.fully_masked_hint(torch.full((1, 4), 0.25)) == mistakes.FINITE_FILL_HINT
        assert mistakes.fully_masked_hint(torch.full((1, 4), float("nan"))) == mistakes.ZERO_ROWS_HINT


class TestTheToolsStandAlone:
    def test_no_learner_module_imports_the_grader_or_the_solutions(self):
        for path in (REPO / "learner").glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not [n for n in names if n.split(".")[0] in ("grader", "solutions", "tests")], (
                    path.name
                )

    def test_importing_every_tool_loads_neither_grader_nor_solutions(self):
        code = (
            "import sys, learner.cli, learner.hints, learner.watch, learner.show, learner.drawing\n"
            "import learner.kit, learner.lesson, learner.mistakes, learner.torch_modules\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('grader', 'solutions')])"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert result.stdout.strip() == "[]", result.stderr

    @pytest.mark.parametrize("verb", ["hint", "watch", "show"])
    def test_every_command_has_help_with_real_examples(self, verb):
        result = learner(verb, "--help", cwd=REPO)
        assert result.returncode == 0
        assert (
            "examples:" in result.stdout
            and f"python -m learner {verb}" in result.stdout.split("examples:")[1]
        )
        assert "exit codes:" in result.stdout

    def test_no_verb_lists_the_verbs(self):
        result = learner(cwd=REPO)
        assert result.returncode == 2 and all(verb in result.stdout for verb in ("hint", "watch", "show"))
