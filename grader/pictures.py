"""Pictures for instructors and learners: attention weights side by side, and the class's score spread.

matplotlib is imported lazily with the Agg backend (no screen); without it, no picture is drawn and
the reports say so instead of failing.
"""

from __future__ import annotations

import threading
from pathlib import Path

_DRAWING = threading.Lock()  # matplotlib is not thread-safe: grading workers draw one picture at a time


def _matplotlib():
    """``(Figure, Rectangle)`` from matplotlib's object-oriented API (no pyplot, no global figures); ``None`` without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError:
        return None
    return Figure, Rectangle


def preload() -> None:
    """Import matplotlib now (about a second), e.g. in a thread while the sandbox's fork server starts."""
    _matplotlib()


def draw_weights(picture: dict, path: Path) -> Path | None:
    """mask | yours | expected, with the cells that differ outlined in red. ``None`` without matplotlib."""
    found = _matplotlib()
    if found is None or picture.get("got") is None or picture.get("expected") is None:
        return None
    Figure, Rectangle = found
    panels = [
        ("mask (may attend)", picture.get("mask")),
        ("your weights", picture["got"]),
        ("expected weights", picture["expected"]),
    ]
    panels = [(title, values) for title, values in panels if values is not None]
    got, expected = picture["got"], picture["expected"]
    with _DRAWING:
        # Fixed margins: tight_layout would measure every label, and double the drawing time.
        figure = Figure(figsize=(3.2 * len(panels), 3.4))
        figure.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.8, wspace=0.35)
        axes = figure.subplots(1, len(panels), squeeze=False)
        for axis, (title, values) in zip(axes[0], panels):
            axis.imshow(values, cmap="viridis", vmin=0, vmax=1)
            axis.set_title(title, fontsize=10)
            axis.set_xlabel("key")
            axis.set_ylabel("query")
            if title != "mask (may attend)" and _same_shape(got, expected):
                for i, row in enumerate(got):
                    for j, value in enumerate(row):
                        if not _close(value, expected[i][j]):
                            axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        figure.suptitle(picture.get("title", ""), fontsize=11)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=90)
    return path


def draw_class_summary(scores: dict[str, list[float]], maxima: dict[str, float], path: Path) -> Path | None:
    """One histogram per exercise of the fraction of its points each learner earned."""
    found = _matplotlib()
    if found is None or not scores:
        return None
    Figure, _ = found
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


def _same_shape(a, b) -> bool:
    return len(a) == len(b) and all(len(x) == len(y) for x, y in zip(a, b))


def _close(a: float, b: float) -> bool:
    if a != a or b != b:  # nan
        return a != a and b != b
    return abs(a - b) <= 1e-5 + 1e-4 * abs(b)
