"""Retrieval figures: each query next to its nearest images, framed by whether they match.

The functions are re-exported by :mod:`helpers.plots`; call them as ``plots.show_retrieval``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from helpers.plots.layout import (HIT_COLOR, MISS_COLOR, QUERY_BORDER_WIDTH, QUERY_COLOR,
                                  border, finish, image, image_grid, line_count, wrap)

#: Retrieved images per grid row when ``ncols`` is not given: one row up to this many.
DEFAULT_RETRIEVED_PER_ROW = 10


def show_retrieval(query_image: np.ndarray, retrieved_images: np.ndarray, hits: Sequence[bool],
                   query_label: str | None = None, retrieved_labels: Sequence[str] | None = None,
                   ap: float | None = None, title: str | None = None,
                   subtitle: str | None = None, ncols: int | None = None) -> Figure:
    """One query followed by its retrieved images, framed green (same class) or red (other).

    Parameters
    ----------
    query_image : (h, w) or (h, w, c) array
        uint8 in 0-255 or float in [0, 1]; one channel is drawn in grey.
    retrieved_images : (k, h, w[, c]) array
        The retrieved images, nearest first.
    hits : (k,) bool array
        True where a retrieved image has the query's class.
    query_label, retrieved_labels : str and (k,) str, optional
        Class names written under the images.
    ap : float, optional
        The query's average precision, written under the query.
    title, subtitle : str, optional
        Figure title (a default says what is shown) and a second line.
    ncols : int, optional
        Retrieved images per grid row (default: all of them up to 10, else 10 per row).

    Returns
    -------
    matplotlib.figure.Figure
        ``k + 1`` axes: the query, then the retrieved images in rank order.

    Notes
    -----
    The query sits alone in the first column, framed blue; ranks ``1..ncols`` fill the first
    row to its right, the next ``ncols`` the row below, and so on (k = 50 gives 5 rows of 10).

    Examples
    --------
    >>> images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    >>> fig = show_retrieval(images[0], images[1:], [True, False], ap=0.5)
    >>> len(fig.axes)
    3
    """
    retrieved_images = np.asarray(retrieved_images)
    return show_retrieval_rows(np.asarray(query_image)[None], retrieved_images[None],
                               np.asarray(hits)[None],
                               None if query_label is None else [query_label],
                               None if retrieved_labels is None else [retrieved_labels],
                               None if ap is None else [ap], title, subtitle, ncols=ncols)


def show_retrieval_rows(query_images: np.ndarray, retrieved_images: np.ndarray,
                        hits: np.ndarray, query_labels: Sequence[str] | None = None,
                        retrieved_labels: Sequence[Sequence[str]] | None = None,
                        aps: Sequence[float] | None = None, title: str | None = None,
                        subtitle: str | None = None, ncols: int | None = None) -> Figure:
    """Several queries, one block each: the query, then its retrieved images with coloured borders.

    Parameters
    ----------
    query_images : (q, h, w[, c]) array
    retrieved_images : (q, k, h, w[, c]) array
        Row ``i`` holds the images retrieved for query ``i``, nearest first.
    hits : (q, k) bool array
        True where the retrieved image has the query's class (green border), else red.
    query_labels : (q,) str, optional
    retrieved_labels : (q, k) str, optional
    aps : (q,) float, optional
        Average precision of each query, written under it.
    title, subtitle : str, optional
        Figure title and a second line (default: the sample-profile tag).
    ncols : int, optional
        Retrieved images per grid row; a query with more takes several rows
        (default: ``k`` up to 10, else 10).

    Returns
    -------
    matplotlib.figure.Figure
        ``q * (k + 1)`` axes, query by query: the query, then its k images in rank order.

    Notes
    -----
    With ``k <= ncols`` each query is one row of ``k + 1`` cells, as in the paper's figures.
    Otherwise the query's block spans ``ceil(k / ncols)`` rows, the query alone in the first
    column (framed blue), so that every row of ranks starts at the same place. Class names
    longer than 16 characters are wrapped.

    Examples
    --------
    >>> fig = show_retrieval_rows(np.zeros((2, 8, 8)), np.zeros((2, 4, 8, 8)),
    ...                           np.ones((2, 4), bool))
    >>> len(fig.axes)
    10
    """
    query_images, retrieved_images = np.asarray(query_images), np.asarray(retrieved_images)
    hits = np.asarray(hits, dtype=bool)
    if retrieved_images.ndim < 3 or hits.shape != retrieved_images.shape[:2] or \
            len(query_images) != len(hits):
        raise ValueError(f"Expected q queries, (q, k, h, w[, c]) retrieved images and (q, k) hits; "
                         f"got {query_images.shape}, {retrieved_images.shape} and {hits.shape}.")
    n_queries, k = hits.shape
    if ncols is None:
        ncols = min(k, DEFAULT_RETRIEVED_PER_ROW)
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer (retrieved images per row), got "
                         f"{ncols!r}.")
    ncols = min(int(ncols), k)
    rows_per_query = -(-k // ncols)
    query_captions, retrieved_captions = _captions(n_queries, k, query_labels,
                                                   retrieved_labels, aps)
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
            ax = image(axes[top + block_row, column + 1], retrieved_images[row, rank],
                       retrieved_captions[row][rank])
            border(ax, HIT_COLOR if hits[row, rank] else MISS_COLOR)
        for column in range(k - (rows_per_query - 1) * ncols, ncols):
            fig.delaxes(axes[top + rows_per_query - 1, column + 1])
    default = (f"Retrieval: each query (blue) and its {k} nearest images "
               "(green = same class, red = other)")
    return finish(fig, title or default, subtitle)


def _captions(n_queries: int, k: int, query_labels, retrieved_labels, aps):
    """The query captions ('query', class, AP) and the retrieved ones ('#rank', class)."""
    for name, given, shape in (("query_labels", query_labels, (n_queries,)),
                               ("retrieved_labels", retrieved_labels, (n_queries, k)),
                               ("aps", aps, (n_queries,))):
        if given is not None and np.shape(np.asarray(given, dtype=object)) != shape:
            raise ValueError(f"{name} must have shape {shape} (one per query"
                             f"{', k per row' if len(shape) == 2 else ''}), got "
                             f"{np.shape(np.asarray(given, dtype=object))}.")
    query_captions = []
    for row in range(n_queries):
        caption = "query" + (f"\n{wrap(str(query_labels[row]))}" if query_labels is not None
                             else "")
        if aps is not None:
            caption += f"\nAP {aps[row]:.3f}"
        query_captions.append(caption)
    retrieved_captions = [[f"#{rank + 1}" + (f"\n{wrap(str(retrieved_labels[row][rank]))}"
                                             if retrieved_labels is not None else "")
                           for rank in range(k)] for row in range(n_queries)]
    return query_captions, retrieved_captions
