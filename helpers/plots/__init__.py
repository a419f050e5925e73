"""The course's figures: retrieval rows, PR curves, training curves, t-SNE, images and filters.

Every function returns its Figure (assign it, or end the line with ``;``, to avoid a second
copy); ``subtitle`` defaults to ``session.smoke_label()`` (``""`` leaves it out). Re-exported
from :mod:`~helpers.plots.retrieval`, :mod:`~helpers.plots.charts`, :mod:`~helpers.plots.images`.
"""

from helpers.plots.charts import (
    bar_chart,
    integer_epochs,
    metric_against,
    plot_history,
    plot_pr_curves,
    plot_tsne,
)
from helpers.plots.images import show_feature_maps, show_filters, show_images
from helpers.plots.layout import HIT_COLOR, MISS_COLOR, QUERY_COLOR
from helpers.plots.retrieval import show_retrieval, show_retrieval_rows

__all__ = [
    "HIT_COLOR",
    "MISS_COLOR",
    "QUERY_COLOR",
    "bar_chart",
    "integer_epochs",
    "metric_against",
    "plot_history",
    "plot_pr_curves",
    "plot_tsne",
    "show_feature_maps",
    "show_filters",
    "show_images",
    "show_retrieval",
    "show_retrieval_rows",
]
