"""Retrieval figures: each query next to its nearest images, framed by whether they match.

Re-exported by :mod:`helpers.plots`; call them as ``plots.show_retrieval``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from helpers.plots.layout import (
    HIT_COLOR,
    MISS_COLOR,
    QUERY_BORDER_WIDTH,
    QUERY_COLOR,
    border,
    finish,
    image,
    image_grid,
    line_count,
    wrap,
)

#: Retrieved images per grid row when ``ncols`` is not given: one row up to this many.
DEFAULT_RETRIEVED_PER_ROW = 10


def show_retrieval(
    query_image: np.ndarray,
    retrieved_images: np.ndarray,
    hits: Sequence[bool],
    query_label: str | None = None,
    retrieved_labels: Sequence[str] | None = None,
    ap: float | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    ncols: int | None = None,
) -> Figure:
    """One query (framed blue) then its retrieved images, framed green (same class) or red (other).

    Parameters
    ----------
    query_image : (h, w) or (h, w, c) array
        uint8 in 0-255 or float in [0, 1].
    retrieved_images : (k, h, w[, c]) array
        Nearest first.
    hits : (k,) bool array
        True where a retrieved image has the query's class.
    ap : float, optional
        The query's average precision, written under it.
    ncols : int, optional
        Retrieved images per row (default: all up to 10, else 10; k = 50 gives 5 rows).

    Examples
    --------
    >>> images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    >>> fig = show_retrieval(images[0], images[1:], [True, False], ap=0.5)
    >>> len(fig.axes)
    3
    """
    retrieved_images = np.asarray(retrieved_images)
    return show_retrieval_rows(
        np.asarray(query_image)[None],
        retrieved_images[None],
        np.asarray(hits)[None],
        None if query_label is None else [query_label],
        None if retrieved_labels is None else [retrieved_labels],
        None if ap is None else [ap],
        title,
        subtitle,
        ncols=ncols,
    )


def show_retrieval_rows(
    query_images: np.ndarray,
    retrieved_images: np.ndarray,
    hits: np.ndarray,
    query_labels: Sequence[str] | None = None,
    retrieved_labels: Sequence[Sequence[str]] | None = None,
    aps: Sequence[float] | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    ncols: int | None = None,
) -> Figure:
    """Several queries, one block each: the query, then its retrieved images with coloured borders.

    Arguments as in :func:`show_retrieval`, with a leading query axis (``hits`` is (q, k)). A
    query with more than ``ncols`` images spans several rows, the query alone in the first
    column.

    Examples
    --------
    >>> fig = show_retrieval_rows(np.zeros((2, 8, 8)), np.zeros((2, 4, 8, 8)),
    ...                           np.ones((2, 4), bool))
    >>> len(fig.axes)
    10
    """
    query_images, retrieved_images = np.asarray(query_images), np.asarray(retrieved_images)
    hits = np.asarray(hits, dtype=bool)
    if (
        retrieved_images.ndim < 3
        or hits.shape != retrieved_images.shape[:2]
        or len(query_images) != len(hits)
    ):
        raise ValueError(
            f"Expected q queries, (q, k, h, w[, c]) retrieved images and (q, k) hits; "
            f"got {query_images.shape}, {retrieved_images.shape} and {hits.shape}."
        )
    n_queries, k = hits.shape
    if ncols is None:
        ncols = min(k, DEFAULT_RETRIEVED_PER_ROW)
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(
            f"ncols must be a positive integer (retrieved images per row), got {ncols!r}."
        )
    ncols = min(int(ncols), k)
    rows_per_query = -(-k // ncols)
    query_captions, retrieved_captions = _captions(
        n_queries, k, query_labels, retrieved_labels, aps
    )
    caption_lines = []
    for row in range(n_queries):
        for block_row in range(rows_per_query):
            ranks = range(block_row * ncols, min(k, (block_row + 1) * ncols))
            lines = [line_count(retrieved_captions[row][rank]) for rank in ranks]
            if block_row == 0:
                lines.append(line_count(query_captions[row]))
            caption_lines.append(max(lines))
    fig, axes = image_grid(n_queries * rows_per_query, ncols + 1, caption_lines)
    for row in range(n_queries):
        top = row * rows_per_query
        ax = image(axes[top, 0], query_images[row], query_captions[row])
        border(ax, QUERY_COLOR, QUERY_BORDER_WIDTH)
        for block_row in range(1, rows_per_query):
            fig.delaxes(axes[top + block_row, 0])
        for rank in range(k):
            block_row, column = divmod(rank, ncols)
            ax = image(
                axes[top + block_row, column + 1],
                retrieved_images[row, rank],
                retrieved_captions[row][rank],
            )
            border(ax, HIT_COLOR if hits[row, rank] else MISS_COLOR)
        for column in range(k - (rows_per_query - 1) * ncols, ncols):
            fig.delaxes(axes[top + rows_per_query - 1, column + 1])
    default = (
        f"Retrieval: each query (blue) and its {k} nearest images (green = same class, red = other)"
    )
    return finish(fig, title or default, subtitle)


def _captions(n_queries: int, k: int, query_labels, retrieved_labels, aps):
    """The query captions ('query', class, AP) and the retrieved ones ('#rank', class)."""
    for name, given, shape in (
        ("query_labels", query_labels, (n_queries,)),
        ("retrieved_labels", retrieved_labels, (n_queries, k)),
        ("aps", aps, (n_queries,)),
    ):
        if given is not None and np.shape(np.asarray(given, dtype=object)) != shape:
            raise ValueError(
                f"{name} must have shape {shape} (one per query"
                f"{', k per row' if len(shape) == 2 else ''}), got "
                f"{np.shape(np.asarray(given, dtype=object))}."
            )
    query_captions = []
    for row in range(n_queries):
        caption = "query" + (
            f"\n{wrap(str(query_labels[row]))}" if query_labels is not None else ""
        )
        if aps is not None:
            caption += f"\nAP {aps[row]:.3f}"
        query_captions.append(caption)
    retrieved_captions = [
        [
            f"#{rank + 1}"
            + (
                f"\n{wrap(str(retrieved_labels[row][rank]))}"
                if retrieved_labels is not None
                else ""
            )
            for rank in range(k)
        ]
        for row in range(n_queries)
    ]
    return query_captions, retrieved_captions
