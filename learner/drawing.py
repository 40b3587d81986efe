"""Drawing a "show me" picture: per row, the mask, your attention weights and the expected ones.

Weights are drawn on one colour scale from 0 to 1 with their values written in; a ``nan`` is a grey
cell that says so, and every cell where yours differ from the expected ones is framed in red.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass

import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

RTOL, ATOL = 1e-4, 1e-5  # float32 weights computed in another order still match
WEIGHT_COLOURS = colormaps["viridis"].with_extremes(
    bad="#bbbbbb", over="#fde725", under="#440154"
)  # nan: grey
MASK_COLOURS = ListedColormap(["#f4f4f4", "#4c72b0"])  # masked, may attend


@dataclass
class Row:
    """One row of the picture: the mask, your weights (``None`` when they cannot be seen)
    and the expected ones."""

    title: str
    mask: torch.Tensor
    yours: torch.Tensor | None
    expected: torch.Tensor
    missing: str = ""


class AttentionFigure(Figure):
    """A matplotlib ``Figure`` that also shows itself inline in a notebook, whatever the backend."""

    verdict = ""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def draw(where: str, rows: list[Row], source: str) -> AttentionFigure:
    """The picture of ``rows``, titled with ``where`` and its verdict;
    ``source`` says where "expected" comes from."""
    height = 3.3 * len(rows) + 0.7
    figure = AttentionFigure(figsize=(11, height))
    # Fixed margins (inches turned into fractions): a constrained layout measures every label and
    # doubles the drawing time, which the grader pays for every picture of every failed check.
    figure.subplots_adjust(
        left=0.09,
        right=0.98,
        bottom=0.75 / height,
        top=1 - 0.85 / height,
        wspace=0.3,
        hspace=0.55 * 3.3 / height,
    )
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(rows), 3, squeeze=False)
    differ = total = 0
    for r, row in enumerate(rows):
        mask_ax, yours_ax, expected_ax = axes[r]
        mask_ax.imshow(row.mask.int().numpy(), cmap=MASK_COLOURS, vmin=0, vmax=1)
        mask_ax.set_xticks(range(row.mask.shape[1]))  # one tick per key and query, as the weights have
        mask_ax.set_yticks(range(row.mask.shape[0]))
        mask_ax.set_xticks([i - 0.5 for i in range(1, row.mask.shape[1])], minor=True)
        mask_ax.set_yticks([i - 0.5 for i in range(1, row.mask.shape[0])], minor=True)
        mask_ax.grid(which="minor", color="white", linewidth=1)
        mask_ax.tick_params(which="minor", length=0)
        mask_ax.set_ylabel(f"{row.title}\n\nquery")
        _weights(expected_ax, row.expected)
        for ax in (mask_ax, yours_ax, expected_ax):
            ax.set_xlabel("key")
        if row.yours is None:
            yours_ax.text(0.5, 0.5, row.missing, ha="center", va="center", transform=yours_ax.transAxes)
            yours_ax.set_xticks([])
            yours_ax.set_yticks([])
            continue
        bad = ~torch.isclose(row.yours, row.expected, rtol=RTOL, atol=ATOL)
        _weights(yours_ax, row.yours, bad)
        differ, total = differ + int(bad.sum()), total + bad.numel()
    for ax, title in zip(axes[0], ["mask (blue: may attend)", "your weights", "expected weights"]):
        ax.set_title(title)
    if total == 0:
        figure.verdict = "your weights could not be seen"
    elif differ:
        figure.verdict = f"{differ} of {total} weights differ from the expected ones (framed in red)"
    else:
        figure.verdict = f"all {total} weights match the expected ones"
    figure.suptitle(f"{where}: {figure.verdict}", fontsize=13)
    figure.supxlabel(source, fontsize=9, color="#555555")
    return figure


def _weights(ax, weights: torch.Tensor, bad: torch.Tensor | None = None) -> None:
    values = weights.numpy()
    ax.imshow(values, cmap=WEIGHT_COLOURS, vmin=0, vmax=1)
    for i, j in itertools.product(range(values.shape[0]), range(values.shape[1])):
        value = float(values[i, j])
        text = "nan" if math.isnan(value) else f"{value:.2f}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=8,
            color="black" if math.isnan(value) or value > 0.55 else "white",
        )
        if bad is not None and bool(bad[i, j]):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=2.5))
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
