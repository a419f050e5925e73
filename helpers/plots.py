"""The course's figures: retrieval rows, PR curves, training curves, t-SNE, images and filters.

Every function returns its matplotlib Figure, made with pyplot so Jupyter shows it at the end of
the cell (even from a loop). Assign the result (``fig = plots.plot_history(history)``) or end
the line with ``;`` to avoid a second copy. Each figure has a title saying what it shows; the
``subtitle`` argument defaults to ``config.smoke_label()``, so a sample-profile figure always
says it is a smoke run (pass ``subtitle=""`` to leave it out).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from helpers import config

HIT_COLOR = "green"
MISS_COLOR = "red"
_BORDER_WIDTH = 4


def show_retrieval(query_image: np.ndarray, retrieved_images: np.ndarray, hits: Sequence[bool],
                   query_label: str | None = None, retrieved_labels: Sequence[str] | None = None,
                   ap: float | None = None, title: str | None = None,
                   subtitle: str | None = None) -> Figure:
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

    Returns
    -------
    matplotlib.figure.Figure

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
                               None if ap is None else [ap], title, subtitle)


def show_retrieval_rows(query_images: np.ndarray, retrieved_images: np.ndarray,
                        hits: np.ndarray, query_labels: Sequence[str] | None = None,
                        retrieved_labels: Sequence[Sequence[str]] | None = None,
                        aps: Sequence[float] | None = None, title: str | None = None,
                        subtitle: str | None = None) -> Figure:
    """Several queries, one row each: the query, then its retrieved images with coloured borders.

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

    Returns
    -------
    matplotlib.figure.Figure
        ``q * (k + 1)`` axes, row by row.

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
    fig, axes = plt.subplots(n_queries, k + 1, figsize=(1.4 * (k + 1), 1.7 * n_queries),
                             squeeze=False)
    for row in range(n_queries):
        caption = "query" + (f"\n{query_labels[row]}" if query_labels is not None else "")
        if aps is not None:
            caption += f"\nAP {aps[row]:.3f}"
        _image(axes[row, 0], query_images[row], caption)
        for rank in range(k):
            caption = f"#{rank + 1}" + (f"\n{retrieved_labels[row][rank]}"
                                        if retrieved_labels is not None else "")
            ax = _image(axes[row, rank + 1], retrieved_images[row, rank], caption)
            _border(ax, HIT_COLOR if hits[row, rank] else MISS_COLOR)
    default = f"Retrieval: each query and its {k} nearest images (green = same class, red = other)"
    return _finish(fig, title or default, subtitle)


def plot_pr_curves(curves: Mapping[str, tuple], references: Mapping[str, float] | None = None,
                   title: str | None = None, subtitle: str | None = None) -> Figure:
    """Precision-recall curves of several models in one figure.

    Parameters
    ----------
    curves : dict of str -> (precision, recall)
        One curve per model; the two arrays have the same length.
    references : dict of str -> float, optional
        A reference mAP per model, added to its legend entry.
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes, recall on x, precision on y, one line and legend entry per model.

    Examples
    --------
    >>> fig = plot_pr_curves({"classifier": ([1.0, 0.5], [0.5, 1.0])}, {"classifier": 0.58})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['classifier (reference mAP 0.580)']
    """
    if not curves:
        raise ValueError("curves is empty; pass {model name: (precision, recall)}.")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (precision, recall) in curves.items():
        precision, recall = np.asarray(precision, float), np.asarray(recall, float)
        if precision.shape != recall.shape or precision.ndim != 1:
            raise ValueError(f"Curve {name!r}: precision and recall must be 1-D arrays of equal "
                             f"length, got shapes {precision.shape} and {recall.shape}.")
        label = name
        if references and name in references:
            label += f" (reference mAP {references[name]:.3f})"
        ax.plot(recall, precision, label=label)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, title or "Mean precision-recall curves", subtitle)


def plot_history(history, metrics: Sequence[str] = ("loss", "accuracy"),
                 title: str | None = None, subtitle: str | None = None) -> Figure:
    """Training curves: one panel per metric, training and validation per epoch.

    Parameters
    ----------
    history : keras.callbacks.History or dict of str -> list
        ``model.fit``'s return value, or its ``.history`` dict (e.g. reloaded from JSON).
    metrics : sequence of str
        Metrics to draw; ``val_<metric>`` is drawn next to each when present.
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}, metrics=["loss"])
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['training', 'validation']
    """
    logs = getattr(history, "history", history)
    missing = [metric for metric in metrics if metric not in logs]
    if missing:
        raise ValueError(f"The history has no {missing}; it holds {sorted(logs)}. Compile the "
                         "model with those metrics or pass metrics=... from that list.")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if key in logs:
                ax.plot(np.arange(1, len(logs[key]) + 1), logs[key], marker=".", label=label)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _finish(fig, title or "Training curves", subtitle)


def plot_tsne(points_2d: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
              title: str | None = None, subtitle: str | None = None) -> Figure:
    """A 2-D embedding (e.g. t-SNE) coloured by class, with a legend of every class.

    Parameters
    ----------
    points_2d : (n, 2) float array
    labels : (n,) int array or (n, c) multi-hot array
        A multi-hot point takes the mean colour of its active classes; one with none is grey.
    class_names : (c,) str
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One scatter; the legend lists ``class_names`` in order.

    Examples
    --------
    >>> fig = plot_tsne(np.zeros((3, 2)), np.array([0, 1, 1]), ["cat", "dog"])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['cat', 'dog']
    """
    points_2d, labels = np.asarray(points_2d, float), np.asarray(labels)
    palette = _class_colors(len(class_names))
    if points_2d.ndim != 2 or points_2d.shape[1] != 2 or len(labels) != len(points_2d):
        raise ValueError(f"Expected (n, 2) points and n labels; got {points_2d.shape} and "
                         f"{labels.shape}.")
    if labels.ndim == 2:
        if labels.shape[1] != len(class_names):
            raise ValueError(f"Multi-hot labels have {labels.shape[1]} columns for "
                             f"{len(class_names)} class names.")
        active = labels.astype(float)
        counts = active.sum(axis=1, keepdims=True)
        colors = np.where(counts > 0, active @ palette / np.maximum(counts, 1), 0.6)
        colors[:, 3] = 1.0
    else:
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(f"labels must lie in 0..{len(class_names) - 1} to index class_names.")
        colors = palette[labels.astype(int)]
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.scatter(points_2d[:, 0], points_2d[:, 1], c=colors, s=12)
    handles = [Line2D([], [], marker="o", linestyle="", color=palette[i], label=name)
               for i, name in enumerate(class_names)]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])
    return _finish(fig, title or "2-D embedding of the codes, coloured by class", subtitle)


def _class_colors(n_classes: int) -> np.ndarray:
    """(n_classes, 4) RGBA: tab10 / tab20 when they suffice, else evenly spaced hues."""
    if n_classes > 20:
        return plt.get_cmap("hsv")(np.linspace(0, 1, n_classes, endpoint=False))
    base = np.asarray(plt.get_cmap("tab10" if n_classes <= 10 else "tab20").colors)[:n_classes]
    return np.column_stack([base, np.ones(n_classes)])


def show_images(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
                title: str | None = None, subtitle: str | None = None) -> Figure:
    """A grid of images with optional captions.

    Parameters
    ----------
    images : (n, h, w[, c]) array
        uint8 in 0-255 or float in [0, 1].
    titles : (n,) str, optional
    ncols : int
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``n`` axes with images; the unused cells of the last row are removed.

    Examples
    --------
    >>> len(show_images(np.zeros((5, 4, 4)), ncols=3).axes)
    5
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must be a non-empty (n, h, w[, c]) array, got {images.shape}.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images.")
    fig, axes = _grid(len(images), ncols)
    for i, ax in enumerate(axes):
        _image(ax, images[i], None if titles is None else titles[i])
    return _finish(fig, title or f"{len(images)} images", subtitle)


def show_feature_maps(maps: np.ndarray, max_maps: int = 32, ncols: int = 8,
                      title: str | None = None, subtitle: str | None = None) -> Figure:
    """The channels of one image's feature map, each as a small heat map.

    Parameters
    ----------
    maps : (h, w, channels) array
        A conv layer's output for one image (drop the batch axis first).
    max_maps : int
        Show the first ``min(channels, max_maps)`` channels.
    ncols : int
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> len(show_feature_maps(np.zeros((6, 6, 40)), max_maps=16).axes)
    16
    """
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (h, w, channels) for one image, got {maps.shape}; "
                         "take maps[0] of a batch.")
    count = min(maps.shape[-1], max_maps)
    fig, axes = _grid(count, ncols)
    for channel, ax in enumerate(axes):
        ax.imshow(maps[..., channel], cmap="viridis")
        ax.set_title(str(channel), fontsize="small")
        ax.set_axis_off()
    return _finish(fig, title or f"Feature maps (first {count} of {maps.shape[-1]} channels)",
                   subtitle)


def show_filters(kernels: np.ndarray, max_filters: int = 64, ncols: int = 8,
                 split_sign: bool = False, title: str | None = None,
                 subtitle: str | None = None) -> Figure:
    """Conv kernels as images; RGB for first-layer kernels, optionally split by sign.

    Parameters
    ----------
    kernels : (kh, kw, in_channels, filters) array
        A Conv2D kernel (``layer.get_weights()[0]``).
    max_filters : int
    ncols : int
    split_sign : bool
        Two grids: the positive parts ``max(k, 0)`` and the negative parts ``max(-k, 0)``, each
        divided by the largest absolute weight of the layer.
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``n`` axes, or ``2 n`` (positives first) with ``split_sign``.

    Notes
    -----
    With 3 input channels a kernel is drawn in colour; otherwise the mean over input channels
    is drawn in grey. Without ``split_sign`` the layer's weights are min-max scaled to [0, 1]
    together, so filters keep their relative strength.

    Examples
    --------
    >>> len(show_filters(np.ones((3, 3, 3, 4)), split_sign=True).axes)
    8
    """
    kernels = np.asarray(kernels, dtype=float)
    if kernels.ndim != 4:
        raise ValueError(f"kernels must be (kh, kw, in_channels, filters), got {kernels.shape}.")
    count = min(kernels.shape[-1], max_filters)
    kernels = np.moveaxis(kernels[..., :count], -1, 0)
    if kernels.shape[-1] != 3:
        kernels = kernels.mean(axis=-1)
    scale = np.abs(kernels).max() or 1.0
    if split_sign:
        panels = [(np.maximum(kernels, 0) / scale, "+"), (np.maximum(-kernels, 0) / scale, "-")]
    else:
        low, high = kernels.min(), kernels.max()
        panels = [((kernels - low) / ((high - low) or 1.0), "")]
    fig, axes = _grid(count * len(panels), ncols)
    for panel, (images, sign) in enumerate(panels):
        for i in range(count):
            _image(axes[panel * count + i], images[i], f"{sign}{i}")
    default = f"{count} conv filters" + (" (positive parts, then negative parts)"
                                         if split_sign else "")
    return _finish(fig, title or default, subtitle)


def bar_chart(values: Mapping[str, float], references: Mapping[str, float] | None = None,
              ylabel: str = "accuracy", title: str | None = None,
              subtitle: str | None = None) -> Figure:
    """This run's figures as bars, next to reference figures when given.

    Parameters
    ----------
    values : dict of str -> float
        One bar per name (e.g. model -> validation accuracy).
    references : dict of str -> float, optional
        Reference figures, drawn as grey bars beside the names that have one.
    ylabel : str
    title, subtitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes; bars labelled ``"this run"`` and ``"reference"``.

    Examples
    --------
    >>> fig = bar_chart({"baseline": 0.7, "VGG16": 0.88}, {"baseline": 0.69})
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['baseline', 'VGG16']
    """
    if not values:
        raise ValueError("values is empty; pass {name: figure}.")
    names = list(values)
    positions = np.arange(len(names))
    width = 0.4 if references else 0.7
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(names)), 4))
    bars = ax.bar(positions - (width / 2 if references else 0), [values[n] for n in names],
                  width, label="this run")
    ax.bar_label(bars, fmt="%.3f", fontsize="small")
    if references:
        heights = [references.get(name, np.nan) for name in names]
        ref_bars = ax.bar(positions + width / 2, heights, width, color="0.7", label="reference")
        ax.bar_label(ref_bars, fmt="%.3f", fontsize="small")
        ax.legend()
    ax.set_xticks(positions, names, rotation=20 if len(names) > 4 else 0)
    ax.set_ylabel(ylabel)
    return _finish(fig, title or f"{ylabel} by model", subtitle)


def _grid(count: int, ncols: int):
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.6 * nrows + 0.5),
                             squeeze=False)
    axes = axes.ravel()
    for ax in axes[count:]:
        fig.delaxes(ax)
    return fig, list(axes[:count])


def _image(ax, image: np.ndarray, caption: str | None):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if np.issubdtype(image.dtype, np.floating):
        image = np.clip(image, 0.0, 1.0)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0,
              vmax=255 if np.issubdtype(image.dtype, np.integer) else 1)
    ax.set_xticks([])
    ax.set_yticks([])
    if caption:
        ax.set_title(caption, fontsize="small")
    return ax


def _border(ax, color: str) -> None:
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(_BORDER_WIDTH)


def _finish(fig: Figure, title: str, subtitle: str | None) -> Figure:
    subtitle = config.smoke_label() if subtitle is None else subtitle
    fig.suptitle(title + (f"\n{subtitle.strip()}" if subtitle.strip() else ""))
    fig.tight_layout()
    return fig
