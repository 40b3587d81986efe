"""Pictures for instructors and learners: attention weights side by side, and the class's score spread.

matplotlib is imported lazily with the Agg backend (no screen); without it, no picture is drawn and
the reports say so instead of failing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path

_DRAWING = threading.Lock()  # matplotlib is not thread-safe: grading workers draw one picture at a time
PICTURES_DIR = ".pictures"  # under DIR: the learners' weights pictures, drawn once, named by what they show
MAX_PICTURE_BYTES = 512 << 10  # one picture a page embeds; ours are about 50 kB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _matplotlib():
    """matplotlib's ``Figure`` (object-oriented API: no pyplot, no global figures); ``None`` without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def _drawing():
    """The learner's ``drawing`` module (it imports PyTorch too); ``None`` without matplotlib."""
    if _matplotlib() is None:
        return None
    from learner import drawing

    return drawing


def preload() -> None:
    """Import matplotlib and the drawing now (about a second), e.g. while the sandbox's fork server starts."""
    _drawing()


def draw_weights(picture: dict, path: Path) -> Path | None:
    """mask | yours | expected, drawn as the learner's ``python -m learner show`` draws them (one picture
    for both, ``learner/drawing.py``): cells that differ framed in red. ``None`` without matplotlib."""
    drawing = _drawing()
    if drawing is None or picture.get("got") is None or picture.get("expected") is None:
        return None
    import torch  # with the drawing: a grading run that draws nothing (a rerun's summary) never needs it

    expected = torch.tensor(picture["expected"], dtype=torch.float64)
    got = torch.tensor(picture["got"], dtype=torch.float64)
    mask = picture.get("mask")
    mask = torch.ones_like(expected, dtype=torch.bool) if mask is None else torch.tensor(mask) != 0
    if got.shape == expected.shape:
        row = drawing.Row(title="", mask=mask, yours=got, expected=expected)
    else:
        missing = f"your weights: shape {tuple(got.shape)}"
        row = drawing.Row(title="", mask=mask, yours=None, expected=expected, missing=missing)
    with _DRAWING:
        figure = drawing.draw(
            picture.get("title", ""), [row], source="expected: the grader's weights for the same input"
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
    _write_whole(path, buffer.getvalue())
    return path


def cached_png(picture: dict, path: Path) -> bytes | None:
    """The PNG of ``picture``: read back from ``path`` where an earlier run or pass drew it, else drawn
    there now. ``None`` when it cannot be drawn (no matplotlib, or data the drawing refuses: it comes
    from a learner's result) or what ``path`` holds is no picture of ours."""
    data = _read_png(path)
    if data is None:
        try:
            drawn = draw_weights(picture, path)
        except Exception:  # noqa: BLE001 - a picture is never worth a learner's feedback; the page goes on without it
            return None
        data = _read_png(path) if drawn else None
    return data


def _read_png(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PICTURE_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_PICTURE_BYTES and data.startswith(PNG_SIGNATURE) else None


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name first: a run killed meanwhile leaves no half
    picture in the cache for later pages to embed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def draw_class_summary(scores: dict[str, list[float]], maxima: dict[str, float], path: Path) -> Path | None:
    """One histogram per exercise of the fraction of its points each learner earned."""
    Figure = _matplotlib()
    if Figure is None or not scores:
        return None
    modules = list(scores)
    with _DRAWING:
        figure = Figure(figsize=(2.4 * len(modules), 2.8))
        figure.subplots_adjust(left=0.05, right=0.99, bottom=0.18, top=0.88, wspace=0.15)
        axes = figure.subplots(1, len(modules), sharey=True, squeeze=False)
        for axis, module in zip(axes[0], modules):
            fractions = [score / maxima[module] for score in scores[module]] if maxima[module] else []
            axis.hist(fractions, bins=[i / 10 for i in range(11)], color="#4c72b0", edgecolor="white")
            axis.set_title(module, fontsize=10)
            axis.set_xlim(0, 1)
            axis.set_xticks([0, 0.5, 1], ["0", "½", "all"])
            axis.set_xlabel("share of points")
        axes[0][0].set_ylabel("learners")
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=90)
    return path


def content_digest(data) -> str:
    """A short name for what a picture shows: a rerun that changes nothing redraws nothing."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
