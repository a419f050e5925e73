"""The course's figures: retrieval rows, PR curves, training curves, t-SNE, images and filters.

Every function returns its matplotlib Figure, made with pyplot so Jupyter shows it at the end of
the cell (even from a loop). Assign the result (``fig = plots.plot_history(history)``) or end
the line with ``;`` to avoid a second copy. Each figure has a title saying what it shows; the
``subtitle`` argument defaults to ``session.smoke_label()``, so a sample-profile figure always
says it is a smoke run (pass ``subtitle=""`` to leave it out).

The figures live in three modules, all re-exported here so that ``plots.X`` is the one name
to use: :mod:`helpers.plots.retrieval` (queries and their nearest images),
:mod:`helpers.plots.charts` (PR curves, training curves, 2-D embeddings, bar charts) and
:mod:`helpers.plots.images` (image grids, feature maps, conv filters).
"""

from helpers.plots.layout import HIT_COLOR, MISS_COLOR, QUERY_COLOR
from helpers.plots.charts import bar_chart, plot_history, plot_pr_curves, plot_tsne
from helpers.plots.images import show_feature_maps, show_filters, show_images
from helpers.plots.retrieval import show_retrieval, show_retrieval_rows

__all__ = ["HIT_COLOR", "MISS_COLOR", "QUERY_COLOR", "bar_chart", "plot_history",
           "plot_pr_curves", "plot_tsne", "show_feature_maps", "show_filters", "show_images",
           "show_retrieval", "show_retrieval_rows"]
