"""Charts of numbers: precision-recall curves, training curves, 2-D embeddings and bar charts.

Re-exported by :mod:`helpers.plots`; call them as ``plots.bar_chart``.
"""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from helpers.plots.layout import finish, new_figure


def plot_pr_curves(
    curves: Mapping[str, tuple],
    references: Mapping[str, float] | None = None,
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """Precision-recall curves of several models in one figure.

    Parameters
    ----------
    curves : dict of str -> (precision, recall)
        One curve per model; the two arrays have the same length.
    references : dict of str -> float, optional
        A reference mAP per model, added to its legend entry.

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
            raise ValueError(
                f"Curve {name!r}: precision and recall must be 1-D arrays of equal "
                f"length, got shapes {precision.shape} and {recall.shape}."
            )
        label = name
        if references and name in references:
            label += f" (reference mAP {references[name]:.3f})"
        ax.plot(recall, precision, label=label)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return finish(fig, title or "Mean precision-recall curves", subtitle)


def plot_history(
    history,
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """Training curves: one panel per metric, training and validation (``val_<metric>``) per epoch.

    ``history`` is ``model.fit``'s return value or its ``.history`` dict.

    Examples
    --------
    >>> fig = plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}, metrics=["loss"])
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['training', 'validation']
    """
    logs = getattr(history, "history", history)
    missing = [metric for metric in metrics if metric not in logs]
    if missing:
        raise ValueError(
            f"The history has no {missing}; it holds {sorted(logs)}. Compile the "
            "model with those metrics or pass metrics=... from that list."
        )
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if key in logs:
                ax.plot(np.arange(1, len(logs[key]) + 1), logs[key], marker=".", label=label)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return finish(integer_epochs(fig), title or "Training curves", subtitle)


def integer_epochs(fig: Figure) -> Figure:
    """Whole-number ticks on the x axis of every panel of ``fig`` (epochs); returns ``fig``.

    Examples
    --------
    >>> fig = plt.figure()
    >>> _ = fig.add_subplot().plot([1, 2, 3], [0.5, 0.4, 0.3])
    >>> any(t % 1 for t in fig.axes[0].get_xticks())   # matplotlib's own ticks: 1.0, 1.25, ...
    True
    >>> any(t % 1 for t in integer_epochs(fig).axes[0].get_xticks())
    False
    """
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def metric_against(
    values: Mapping[float, float],
    *,
    xlabel: str,
    ylabel: str = "test accuracy",
    label: str = "this run",
    references: Mapping[float, float] | None = None,
    reference_label: str = "reference",
    chance: float | None = None,
    chance_label: str = "chance",
    log2_x: bool = True,
    ylim=(0, 1),
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """A metric against a parameter (e.g. accuracy against pictures per class), with reference
    points and a chance line when given.

    ``values`` and ``references`` map the parameter to the metric. With ``log2_x`` the x axis is
    logarithmic (base 2) with a tick at every parameter value that is drawn.

    Examples
    --------
    >>> fig = metric_against({2: 0.3, 4: 0.5}, xlabel="n", references={4: 0.6}, chance=0.1)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['this run', 'reference', 'chance']
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['2', '4']
    """
    if not values:
        raise ValueError("values is empty; pass {parameter: metric}.")
    references = dict(references or {})
    fig, axes = new_figure(6.5, 4.2)
    ax = axes[0, 0]
    xs = list(values)
    ax.plot(xs, [values[x] for x in xs], marker="o", label=label)
    if references:
        ax.plot(
            list(references),
            list(references.values()),
            marker="s",
            ls="--" if len(references) > 1 else "",
            label=reference_label,
        )
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label=chance_label)
    if log2_x:
        ticks = sorted(set(xs) | set(references))
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return finish(fig, title or f"{ylabel} against {xlabel}", subtitle)


def plot_tsne(
    points_2d: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """A 2-D embedding (e.g. t-SNE) coloured by class, with a legend of every class.

    ``labels`` are (n,) ints or (n, c) multi-hot; a multi-hot point takes the mean colour of its
    classes, one with none is grey.

    Examples
    --------
    >>> fig = plot_tsne(np.zeros((3, 2)), np.array([0, 1, 1]), ["cat", "dog"])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['cat', 'dog']
    """
    points_2d, labels = np.asarray(points_2d, float), np.asarray(labels)
    palette = _class_colors(len(class_names))
    if points_2d.ndim != 2 or points_2d.shape[1] != 2 or len(labels) != len(points_2d):
        raise ValueError(
            f"Expected (n, 2) points and n labels; got {points_2d.shape} and {labels.shape}."
        )
    if labels.ndim == 2:
        if labels.shape[1] != len(class_names):
            raise ValueError(
                f"Multi-hot labels have {labels.shape[1]} columns for "
                f"{len(class_names)} class names."
            )
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
    handles = [
        Line2D([], [], marker="o", linestyle="", color=palette[i], label=name)
        for i, name in enumerate(class_names)
    ]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])
    return finish(fig, title or "2-D embedding of the codes, coloured by class", subtitle)


def _class_colors(n_classes: int) -> np.ndarray:
    """(n_classes, 4) RGBA: tab10 / tab20 when they suffice, else evenly spaced hues."""
    if n_classes > 20:
        return plt.get_cmap("hsv")(np.linspace(0, 1, n_classes, endpoint=False))
    base = np.asarray(plt.get_cmap("tab10" if n_classes <= 10 else "tab20").colors)[:n_classes]
    return np.column_stack([base, np.ones(n_classes)])


def bar_chart(
    values: Mapping[str, float],
    references: Mapping[str, float] | None = None,
    ylabel: str = "accuracy",
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """This run's figures as labelled bars, beside grey reference bars when given.

    The legend ("this run", "reference") is a figure legend below the axes (``fig.legends[0]``).

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
    fig_width = max(5.0, 1.3 * len(names))
    fig, axes = new_figure(fig_width, 4.5)
    ax = axes[0, 0]
    bars = ax.bar(
        positions - (width / 2 if references else 0),
        [values[n] for n in names],
        width,
        label="this run",
    )
    ax.bar_label(bars, fmt="%.3f", fontsize="small")
    if references:
        heights = [references.get(name, np.nan) for name in names]
        ref_bars = ax.bar(positions + width / 2, heights, width, color="0.7", label="reference")
        ax.bar_label(ref_bars, fmt="%.3f", fontsize="small")
        fig.legend(loc="outside lower center", ncols=2, frameon=False)
    ax.margins(y=_HEADROOM)
    ax.set_xticks(
        positions,
        _tick_names(names, fig_width),
        rotation=30 if len(names) > 8 else 0,
        ha="right" if len(names) > 8 else "center",
    )
    ax.set_ylabel(ylabel)
    return finish(fig, title or f"{ylabel} by model", subtitle)


# above the tallest bar, so the value labels stay inside; a legend below the axes never
# covers a bar; long names wrap (tick texts hold "\n") and more than 8 are also rotated
_HEADROOM = 0.12
_CHARACTERS_PER_INCH = 12  # at the default 10 pt tick font


def _tick_names(names: Sequence[str], fig_width: float) -> list[str]:
    """Names wrapped to the width of one bar slot (the axes take about fig_width - 1 inch)."""
    slot = max(6, int((fig_width - 1.0) / len(names) * _CHARACTERS_PER_INCH))
    return [
        textwrap.fill(str(name), slot) if len(str(name)) > slot else str(name) for name in names
    ]
