"""Tests of helpers.plots (the re-exporting front) and of the layout shared by every figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import plots
from helpers.plots import charts as plot_charts  # noqa: E402
from helpers.plots import images as plot_images
from helpers.plots import retrieval as plot_retrieval


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_every_figure_function_stays_importable_from_plots():
    assert plots.show_retrieval is plot_retrieval.show_retrieval
    assert plots.show_retrieval_rows is plot_retrieval.show_retrieval_rows
    assert plots.bar_chart is plot_charts.bar_chart
    for name in ("plot_pr_curves", "plot_history", "plot_tsne"):
        assert getattr(plots, name) is getattr(plot_charts, name)
    for name in ("show_images", "show_feature_maps", "show_filters"):
        assert getattr(plots, name) is getattr(plot_images, name)
    assert (plots.HIT_COLOR, plots.MISS_COLOR) == ("green", "red")


def test_the_subtitle_defaults_to_the_sample_profile_tag(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "sample")
    fig = plots.show_images(np.zeros((2, 4, 4)), title="Two images")
    assert fig.get_suptitle() == "Two images\n[sample profile: smoke-run figure, not a result]"
    fig = plots.show_images(np.zeros((2, 4, 4)), title="Two images", subtitle="")
    assert fig.get_suptitle() == "Two images"


def test_the_figure_title_sits_above_every_image():
    fig = plots.show_retrieval_rows(
        np.zeros((2, 8, 8)),
        np.zeros((2, 3, 8, 8)),
        np.ones((2, 3), bool),
        ["a", "b"],
        aps=[0.5, 0.25],
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title_bottom = fig._suptitle.get_window_extent(renderer).y0
    assert all(ax.get_window_extent(renderer).y1 <= title_bottom for ax in fig.axes)
