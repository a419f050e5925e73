"""Tests of helpers.plots: the drawn figure holds what was passed (colours, data, legends)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from helpers import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _border_color(ax):
    colors = {to_rgba(spine.get_edgecolor()) for spine in ax.spines.values()}
    assert len(colors) == 1, "all four sides of a border share one colour"
    return colors.pop()


def test_retrieval_rows_frame_hits_green_and_misses_red_in_rank_order():
    rng = np.random.default_rng(0)
    hits = np.array([[True, False, True], [False, False, True]])
    fig = plots.show_retrieval_rows(rng.random((2, 6, 6, 3)), rng.random((2, 3, 6, 6, 3)), hits,
                                    query_labels=["cat", "dog"], aps=[0.5, 0.25], subtitle="")
    axes = np.array(fig.axes).reshape(2, 4)
    for row in range(2):
        for rank in range(3):
            expected = "green" if hits[row, rank] else "red"
            assert _border_color(axes[row, rank + 1]) == to_rgba(expected)
    assert axes[0, 0].get_title() == "query\ncat\nAP 0.500"
    assert axes[1, 2].get_title() == "#2"


def test_a_single_retrieval_row_shows_the_passed_images():
    query = np.arange(16, dtype=np.uint8).reshape(4, 4)
    retrieved = np.stack([query * 2, query * 3])
    fig = plots.show_retrieval(query, retrieved, [False, True], retrieved_labels=["a", "b"])
    assert len(fig.axes) == 3
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), query)
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), query * 3)
    assert _border_color(fig.axes[1]) == to_rgba("red")
    assert fig.axes[2].get_title() == "#2\nb"


def test_the_subtitle_defaults_to_the_sample_profile_tag(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "sample")
    fig = plots.show_images(np.zeros((2, 4, 4)), title="Two images")
    assert fig.get_suptitle() == "Two images\n[sample profile: smoke-run figure, not a result]"
    fig = plots.show_images(np.zeros((2, 4, 4)), title="Two images", subtitle="")
    assert fig.get_suptitle() == "Two images"


def test_mismatched_hits_and_images_are_refused():
    with pytest.raises(ValueError, match="hits"):
        plots.show_retrieval_rows(np.zeros((2, 4, 4)), np.zeros((2, 3, 4, 4)), np.ones((2, 2)))


def test_pr_curves_draw_recall_against_precision_with_one_legend_entry_per_model():
    curves = {"classifier": ([1.0, 0.6, 0.4], [0.1, 0.5, 1.0]),
              "triplet": ([1.0, 0.9, 0.7], [0.2, 0.6, 1.0])}
    fig = plots.plot_pr_curves(curves, references={"triplet": 0.79})
    ax = fig.axes[0]
    for line, (precision, recall) in zip(ax.get_lines(), curves.values()):
        np.testing.assert_array_equal(line.get_xdata(), recall)
        np.testing.assert_array_equal(line.get_ydata(), precision)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "classifier", "triplet (reference mAP 0.790)"]
    assert ax.get_xlabel() == "recall" and ax.get_ylabel() == "precision"


def test_history_panels_hold_training_and_validation_per_epoch():
    history = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.8, 1.7],
               "accuracy": [0.2, 0.4, 0.5]}

    class FakeHistory:  # what model.fit returns: the logs under .history
        pass

    fake = FakeHistory()
    fake.history = history
    fig = plots.plot_history(fake)
    loss_ax, accuracy_ax = fig.axes
    training, validation = loss_ax.get_lines()
    np.testing.assert_array_equal(training.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(validation.get_ydata(), history["val_loss"])
    assert [line.get_label() for line in accuracy_ax.get_lines()] == ["training"]
    with pytest.raises(ValueError, match="top5"):
        plots.plot_history(history, metrics=["top5"])


def test_tsne_colours_single_labels_by_class_and_lists_every_class():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    fig = plots.plot_tsne(points, np.array([2, 0, 2]), ["a", "b", "c"])
    ax = fig.axes[0]
    tab10 = plt.get_cmap("tab10").colors
    np.testing.assert_allclose(ax.collections[0].get_facecolors()[:, :3],
                               [tab10[2], tab10[0], tab10[2]])
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), points)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_tsne_colours_a_multi_hot_point_by_the_mean_of_its_classes():
    names = [f"class {i}" for i in range(20)]
    multi_hot = np.zeros((3, 20))
    multi_hot[0, [1, 14]] = 1
    multi_hot[1, 5] = 1
    fig = plots.plot_tsne(np.zeros((3, 2)), multi_hot, names)
    tab20 = np.asarray(plt.get_cmap("tab20").colors)
    expected = [(tab20[1] + tab20[14]) / 2, tab20[5], [0.6, 0.6, 0.6]]
    np.testing.assert_allclose(fig.axes[0].collections[0].get_facecolors()[:, :3], expected)
    assert len(fig.axes[0].get_legend().get_texts()) == 20


def test_image_grid_has_one_captioned_axes_per_image():
    images = np.random.default_rng(1).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    fig = plots.show_images(images, titles=list("vwxyz"), ncols=2)
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == list("vwxyz")
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), images[3])


def test_feature_maps_show_each_channel_up_to_the_limit():
    maps = np.random.default_rng(2).random((5, 5, 12))
    fig = plots.show_feature_maps(maps, max_maps=10, ncols=4)
    assert len(fig.axes) == 10
    np.testing.assert_allclose(fig.axes[7].images[0].get_array(), maps[..., 7])


def test_filters_split_into_positive_and_negative_parts_scaled_by_the_largest_weight():
    kernels = np.random.default_rng(3).normal(size=(3, 3, 3, 4))
    fig = plots.show_filters(kernels, split_sign=True)
    assert len(fig.axes) == 8
    largest = np.abs(kernels).max()
    for i in range(4):
        positive = np.maximum(kernels[..., i], 0) / largest
        negative = np.maximum(-kernels[..., i], 0) / largest
        np.testing.assert_allclose(fig.axes[i].images[0].get_array(), positive)
        np.testing.assert_allclose(fig.axes[4 + i].images[0].get_array(), negative)


def test_filters_without_split_are_min_max_scaled_together():
    kernels = np.arange(2 * 2 * 3 * 2, dtype=float).reshape(2, 2, 3, 2)
    fig = plots.show_filters(kernels)
    expected = kernels[..., 1] / kernels.max()  # minimum is 0
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), expected)


def test_bar_chart_pairs_each_figure_with_its_reference():
    values = {"baseline": 0.70, "augmented": 0.66, "VGG16": 0.88}
    fig = plots.bar_chart(values, references={"baseline": 0.69, "VGG16": 0.875})
    ax = fig.axes[0]
    ours, ref = ax.containers
    np.testing.assert_allclose([bar.get_height() for bar in ours], [0.70, 0.66, 0.88])
    np.testing.assert_allclose([bar.get_height() for bar in ref], [0.69, np.nan, 0.875])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(values)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["this run", "reference"]
