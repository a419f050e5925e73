"""Shared pieces of the course figures: colours, image cells, borders, grids and titles.

Private to ``helpers.plots``; constrained layout reserves room for every caption.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from helpers import session

HIT_COLOR = "green"
MISS_COLOR = "red"
QUERY_COLOR = "blue"
BORDER_WIDTH = 4
QUERY_BORDER_WIDTH = 6
CELL_INCHES = 1.3
CAPTION_LINE_INCHES = 0.16
TITLE_INCHES = 0.6
CAPTION_WIDTH = 16  # characters; longer class names wrap so neighbouring captions do not touch


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, height_ratios=None):
    """A constrained-layout figure and its (nrows, ncols) axes array."""
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width, height),
        squeeze=False,
        layout="constrained",
        height_ratios=height_ratios,
    )
    return fig, axes


def image_grid(nrows: int, ncols: int, caption_lines) -> tuple[Figure, np.ndarray]:
    """A grid of image cells whose row heights make room for ``caption_lines[row]`` lines."""
    # the figure grows with the caption lines, so images keep their size and a caption never
    # runs over the image above it
    row_heights = [CELL_INCHES + CAPTION_LINE_INCHES * lines for lines in caption_lines]
    return new_figure(
        CELL_INCHES * ncols + 0.2,
        sum(row_heights) + TITLE_INCHES,
        nrows,
        ncols,
        height_ratios=row_heights,
    )


def grid(count: int, ncols: int, caption_lines: int = 1):
    """``count`` image cells, ``ncols`` per row; the unused cells of the last row are removed."""
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig, axes = image_grid(nrows, ncols, [caption_lines] * nrows)
    axes = axes.ravel()
    for ax in axes[count:]:
        fig.delaxes(ax)
    return fig, list(axes[:count])


def wrap(caption: str | None) -> str | None:
    """Wrap each line of a caption at ``CAPTION_WIDTH`` characters."""
    if not caption:
        return caption
    return "\n".join(
        textwrap.fill(line, CAPTION_WIDTH) if len(line) > CAPTION_WIDTH else line
        for line in caption.split("\n")
    )


def line_count(caption: str | None) -> int:
    return caption.count("\n") + 1 if caption else 0


def image(ax, picture: np.ndarray, caption: str | None, cmap: str = "gray"):
    """Draw one image without ticks; uint8 in 0-255, floats clipped to [0, 1]."""
    picture = np.asarray(picture)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    if np.issubdtype(picture.dtype, np.floating):
        picture = np.clip(picture, 0.0, 1.0)
    ax.imshow(
        picture,
        cmap=cmap if picture.ndim == 2 else None,
        vmin=0,
        vmax=255 if np.issubdtype(picture.dtype, np.integer) else 1,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if caption:
        ax.set_title(caption, fontsize="small")
    return ax


def border(ax, color: str, width: float = BORDER_WIDTH) -> None:
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(width)


def finish(fig: Figure, title: str, subtitle: str | None) -> Figure:
    """Add the title and its second line (default: the sample-profile tag)."""
    subtitle = session.smoke_label() if subtitle is None else subtitle
    fig.suptitle(title + (f"\n{subtitle.strip()}" if subtitle.strip() else ""))
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return fig
