"""Does each fact the kit and the grader share have one home, so that the two can never drift apart?

The lesson's exercises, the comparison tolerances, PyTorch's modules loaded with a learner's weights and
the "mask | yours | expected" picture live in ``learner/`` (shipped with the kit, never importing the
grader); the visible tests, the learner's tools, the nbgrader notebook and the hidden grader use them.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
from pathlib import Path

import pytest
import torch

from grader import contract
from grader.checks import compare, oracles
from grader.kit.notebook import NOTEBOOK
from grader.reports import pictures
from learner import drawing, kit, lesson, torch_modules
from solutions.multi_head import MultiHeadAttention

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def visible_conftest():
    spec = importlib.util.spec_from_file_location("visible_conftest", REPO / "exercises" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_list_of_exercises(visible_conftest):
    assert contract.EXERCISES is lesson.EXERCISES and contract.TOTAL_POINTS == lesson.TOTAL_POINTS == 100
    assert kit.EXERCISES is lesson.MODULES and visible_conftest.EXERCISES is lesson.MODULES


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_the_visible_tests_and_the_grader_pass_and_fail_at_the_same_bound(dtype, visible_conftest):
    rtol, atol = lesson.tolerance(dtype)
    grader_tolerance = compare.Tolerance.for_dtype(dtype)
    assert (grader_tolerance.rtol, grader_tolerance.atol) == (rtol, atol)
    expected = torch.tensor([1.0, -2.0], dtype=torch.float64)
    allowed = atol + rtol * expected.abs()
    check_visible = visible_conftest.expect_close.__wrapped__()
    for factor, passes in ((0.5, True), (3.0, False)):
        got = expected + factor * allowed
        assert compare.is_close(got, expected, grader_tolerance) is passes
        if passes:
            check_visible(got, expected, "values", rtol=rtol, atol=atol)
        else:
            with pytest.raises(pytest.fail.Exception):
                check_visible(got, expected, "values", rtol=rtol, atol=atol)


def test_one_loader_of_pytorchs_modules_with_a_learners_weights():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    ours, _ = torch_modules.torch_multihead(mha, 2)(x, x, x, need_weights=False)
    graders, _ = oracles.multihead_attention(mha, 2)(x, x, x, need_weights=False)
    torch.testing.assert_close(graders, ours, rtol=0, atol=0)
    built = [
        node.func.attr
        for node in ast.walk(ast.parse(inspect.getsource(oracles)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]
    assert "MultiheadAttention" not in built and "TransformerEncoderLayer" not in built  # the helper builds


def test_the_notebooks_helper_cells_are_the_same_helper():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    helper = inspect.getsource(torch_modules.torch_multihead).strip()
    assert sum(helper in source for source in sources) == 2  # multi_head's helpers, and encoder's
    assert any(inspect.getsource(torch_modules.torch_encoder_layer).strip() in source for source in sources)


def test_the_feedback_picture_is_the_learners_show_picture(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    drawn = []
    real_draw = drawing.draw

    def recording_draw(*args, **kwargs):
        drawn.append(args)
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(drawing, "draw", recording_draw)
    picture = {
        "title": "masking.masked_attention, causal mask",
        "mask": [[1, 0], [1, 1]],
        "got": [[1.0, 0.0], [0.4, 0.6]],
        "expected": [[1.0, 0.0], [0.5, 0.5]],
    }
    path = pictures.draw_weights(picture, tmp_path / "picture.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ((where, rows),) = drawn
    assert where == picture["title"] and rows[0].yours.tolist() == picture["got"]
