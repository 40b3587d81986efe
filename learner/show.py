"""“Show me” pictures: the mask, your attention weights and the expected weights, side by side.

A small worked example, seeded so it is the same every time, goes through your own code in
``exercises/``: ``masked_attention`` with a padding mask, a causal mask and a mask that leaves one
query no key at all, or one head of your ``MultiHeadAttention``. The expected weights come from
PyTorch's public functions (a softmax of the scaled scores with ``-inf`` at masked keys, or
``nn.MultiheadAttention`` loaded with your module's weights). Cells where yours differ are framed
in red; a ``nan`` is a grey cell that says so.

In a notebook the figure shows inline, for the code in ``exercises/`` or for what your cells define::

    from learner.show import masking_figure, multi_head_figure
    masking_figure()                      # exercises/masking.py (the last expression of a cell)
    masking_figure(masked_attention)      # the function a cell defined
    multi_head_figure(MultiHeadAttention, head=1)
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import sys
import sysconfig
import traceback
from contextlib import contextmanager
from pathlib import Path

import torch

from learner.drawing import AttentionFigure, Row, draw
from learner.kit import UsageError, find_kit
from learner.torch_modules import torch_multihead

L, D, E, H = 5, 4, 8, 2  # length, head dim for masking, embed dim and heads for multi-head
SEED = 13
_packages = itertools.count()


class LearnerCodeError(Exception):
    """The learner's code could not give the weights: one line that says where and why."""


def masking_figure(masked_attention=None, *, exercises: Path | None = None) -> AttentionFigure:
    """Your ``masked_attention`` weights beside the expected ones, for three masks.

    ``masked_attention`` is your function (a notebook cell's); by default the one in ``exercises/masking.py``.
    """
    generator = torch.Generator().manual_seed(SEED)
    q, k, v = (torch.randn(1, L, D, generator=generator) for _ in range(3))  # (1, L, D) each
    examples = [
        (
            "padding: keys 3 and 4 are padding",
            (torch.arange(L) < 3).reshape(1, 1, L),
        ),  # as padding_mask([3], 5)
        ("causal: query i sees keys ≤ i", torch.ones(L, L, dtype=torch.bool).tril()),
        (
            "query 2 sees no key at all",
            torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0] * 5, [1, 1, 1, 1, 0], [0, 1, 1, 1, 1]]) != 0,
        ),
    ]
    rows = []
    with _exercise_package(exercises) as load:
        function = masked_attention or load("masking").masked_attention
        for title, mask in examples:
            result = _call(
                "masking.masked_attention", function, q.clone(), k.clone(), v.clone(), mask.clone()
            )
            weights = _weights_of(result, "masking.masked_attention", (1, L, L))
            full_mask = mask.expand(1, L, L)[0]
            rows.append(Row(title, full_mask, weights[0], _expected_weights(q, k, mask)[0]))
    source = (
        "expected: torch.softmax of q kᵀ / √d_k with -inf at masked keys; "
        "a query with no key to see gets all-zero weights"
    )
    return draw("masking.masked_attention", rows, source)


def multi_head_figure(
    MultiHeadAttention=None, *, exercises: Path | None = None, head: int = 0
) -> AttentionFigure:  # noqa: N803
    """One head of your ``MultiHeadAttention`` beside ``nn.MultiheadAttention`` with the same weights.

    ``MultiHeadAttention`` is your class (a notebook cell's); by default the one in
    ``exercises/multi_head.py``. Its weights are seen where its ``forward`` calls ``masked_attention``.
    """
    if not 0 <= head < H:
        raise UsageError(f"--head {head}: the example has {H} heads, 0 to {H - 1}")
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(2, L, E, generator=generator)  # (B, L, E)
    causal = torch.ones(L, L, dtype=torch.bool).tril()  # (L, L)
    padding = (torch.arange(L) < torch.tensor([[L], [3]])).unsqueeze(1)  # (B, 1, L): lengths 5 and 3
    rows = []
    with _exercise_package(exercises) as load:
        module_class = MultiHeadAttention or load("multi_head").MultiHeadAttention
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            mha = _call("multi_head.MultiHeadAttention(8, 2)", module_class, E, H)
        reference = _torch_multihead(mha)
        namespace = getattr(type(mha).forward, "__globals__", {})  # where forward looks up masked_attention
        for title, mask, batch, torch_masks in [
            (f"head {head}, causal mask, sequence 0", causal, 0, {"attn_mask": ~causal}),
            (
                f"head {head}, padding: sequence 1 has length 3",
                padding,
                1,
                {"key_padding_mask": ~padding.squeeze(1)},
            ),
        ]:
            with _recording_weights(namespace) as seen, torch.no_grad():
                _call("multi_head.MultiHeadAttention.forward", mha, x.clone(), mask.clone())
                _, expected = reference(
                    x, x, x, need_weights=True, average_attn_weights=False, **torch_masks
                )  # (B, H, L, L)
            yours = _head_weights(seen, batch, head, x.shape[0])
            missing = (
                ""
                if yours is not None
                else (
                    "your forward does not pass\nits weights through masked_attention,\n"
                    "so they cannot be drawn"
                )
            )
            rows.append(
                Row(title, mask.expand(x.shape[0], L, L)[batch], yours, expected[batch, head], missing)
            )
    source = (
        f"expected: nn.MultiheadAttention({E}, {H}) with your module's weights "
        "(need_weights=True, average_attn_weights=False)"
    )
    return draw("multi_head.MultiHeadAttention", rows, source)


def show(*, what: str, out: Path | None = None, exercises: Path | None = None, head: int = 0) -> int:
    """Draw the picture for ``what`` (masking or multi_head) into ``out``;
    1 when the code gave nothing to draw."""
    try:
        figure = (
            masking_figure(exercises=exercises)
            if what == "masking"
            else multi_head_figure(exercises=exercises, head=head)
        )
    except LearnerCodeError as error:
        print(f"{str(error).rstrip('.')}. Nothing to draw yet.", file=sys.stderr)
        return 1
    out = Path(out) if out else Path(f"show-{what}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    print(f"Wrote {out}: {figure.verdict}.")
    return 0


def _expected_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    scores = q.double() @ k.double().transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., L_q, L_k)
    weights = torch.softmax(scores.masked_fill(mask == 0, float("-inf")), dim=-1)
    # SPEC: a query with no key to see gets all-zero weights (softmax alone gives nan there).
    return torch.nan_to_num(weights, nan=0.0).float()


def _torch_multihead(mha) -> torch.nn.MultiheadAttention:
    projections = {name: getattr(mha, name, None) for name in ("q_proj", "k_proj", "v_proj", "out_proj")}
    for name, layer in projections.items():
        if not isinstance(layer, torch.nn.Linear) or tuple(layer.weight.shape) != (E, E):
            raise LearnerCodeError(
                f"multi_head.MultiHeadAttention(8, 2).{name}: expected nn.Linear(8, 8), got {layer!r}"
            )
    return torch_multihead(mha, H)


@contextmanager
def _exercise_package(exercises: Path | None):
    """``load(module)`` imports the learner's module from a fresh copy of the package
    (so edits show at once)."""
    package = f"_lesson13_exercises_{next(_packages)}"

    def load(module: str):
        if package not in sys.modules:
            folder = find_kit(exercises).exercises
            spec = importlib.util.spec_from_file_location(
                package, folder / "__init__.py", submodule_search_locations=[str(folder)]
            )
            sys.modules[package] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[package])
        try:
            return importlib.import_module(f"{package}.{module}")
        except Exception as error:  # noqa: BLE001 - the learner's file may not even parse
            raise LearnerCodeError(_describe(error, f"{module}.py")) from None

    try:
        yield load
    finally:
        for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
            del sys.modules[name]


def _call(where: str, function, *args):
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - one line for the learner, not a traceback
        raise LearnerCodeError(_describe(error, where)) from None


def _describe(error: Exception, where: str) -> str:
    """ "masking.py line 97: RuntimeError: ..." — the learner's own file and line, or else ``where``."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{Path(error.filename).name} line {error.lineno}: SyntaxError: {error.msg}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _is_learners(frame.filename)]
    if isinstance(error, NotImplementedError) and "is not implemented yet" in str(error):
        return f"{Path(frames[-1].filename).name if frames else where}: {error}"
    place = f"{Path(frames[-1].filename).name} line {frames[-1].lineno}" if frames else where
    return f"{place}: {type(error).__name__}: {error}".splitlines()[0]


def _is_learners(filename: str) -> bool:
    """Not this tool, not PyTorch or another installed package, not the standard library."""
    installed = ("site-packages", "dist-packages", sysconfig.get_paths()["stdlib"])
    return (
        filename != __file__
        and not any(part in filename for part in installed)
        and not filename.startswith("<frozen")
    )


def _weights_of(result, where: str, shape: tuple[int, ...]) -> torch.Tensor:
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise LearnerCodeError(f"{where}: expected (output, weights), got {type(result).__name__}")
    weights = result[1]
    if not isinstance(weights, torch.Tensor):
        raise LearnerCodeError(f"{where}: weights: expected a tensor, got {type(weights).__name__}")
    if tuple(weights.shape) != shape:
        raise LearnerCodeError(f"{where}: weights shape: expected {shape}, got {tuple(weights.shape)}")
    return weights.detach().float()


@contextmanager
def _recording_weights(namespace: dict):
    """Record the weights of every ``masked_attention`` call made through ``namespace``
    (a module's globals)."""
    seen: list[torch.Tensor] = []
    original = namespace.get("masked_attention")

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        if isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], torch.Tensor):
            seen.append(result[1].detach().float())
        return result

    if callable(original):
        namespace["masked_attention"] = recording
    try:
        yield seen
    finally:
        if callable(original):
            namespace["masked_attention"] = original


def _head_weights(seen: list[torch.Tensor], batch: int, head: int, batches: int) -> torch.Tensor | None:
    """Head ``head`` of sequence ``batch``: from one (B, H, L, L) call, or from H calls of (B, L, L) each."""
    for weights in seen:
        if tuple(weights.shape) == (batches, H, L, L):
            return weights[batch, head]
    if len(seen) == H and all(tuple(w.shape) == (batches, L, L) for w in seen):
        return seen[head][batch]
    return None
