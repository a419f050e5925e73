"""helpers.plots.charts: the drawn curves, colours, legends and bars hold what was passed."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _overlap(box, other, tolerance=0.5):
    return (
        min(box.x1, other.x1) - max(box.x0, other.x0) > tolerance
        and min(box.y1, other.y1) - max(box.y0, other.y0) > tolerance
    )


def test_pr_curves_draw_recall_against_precision_with_one_legend_entry_per_model():
    curves = {
        "classifier": ([1.0, 0.6, 0.4], [0.1, 0.5, 1.0]),
        "triplet": ([1.0, 0.9, 0.7], [0.2, 0.6, 1.0]),
    }
    fig = plots.plot_pr_curves(curves, references={"triplet": 0.79})
    ax = fig.axes[0]
    for line, (precision, recall) in zip(ax.get_lines(), curves.values()):
        np.testing.assert_array_equal(line.get_xdata(), recall)
        np.testing.assert_array_equal(line.get_ydata(), precision)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "classifier",
        "triplet (reference mAP 0.790)",
    ]
    assert ax.get_xlabel() == "recall" and ax.get_ylabel() == "precision"


def test_history_panels_hold_training_and_validation_per_epoch():
    history = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.8, 1.7], "accuracy": [0.2, 0.4, 0.5]}

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
    np.testing.assert_allclose(
        ax.collections[0].get_facecolors()[:, :3], [tab10[2], tab10[0], tab10[2]]
    )
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


def test_bar_chart_pairs_each_figure_with_its_reference():
    values = {"baseline": 0.70, "augmented": 0.66, "VGG16": 0.88}
    fig = plots.bar_chart(values, references={"baseline": 0.69, "VGG16": 0.875})
    ax = fig.axes[0]
    ours, ref = ax.containers
    np.testing.assert_allclose([bar.get_height() for bar in ours], [0.70, 0.66, 0.88])
    np.testing.assert_allclose([bar.get_height() for bar in ref], [0.69, np.nan, 0.875])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(values)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["this run", "reference"]
    assert [t.get_text() for t in ax.texts if t.get_text()] == [
        "0.700",
        "0.660",
        "0.880",
        "0.690",
        "0.875",
    ]


def test_bar_chart_legend_and_value_labels_stay_clear_of_each_other_and_the_bars():
    values = {"baseline CNN": 0.852, "augmented CNN": 0.847, "VGG16 features + dense": 0.859}
    references = {"baseline CNN": 0.69, "augmented CNN": 0.68, "VGG16 features + dense": 0.875}
    fig = plots.bar_chart(values, references, ylabel="validation accuracy")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = fig.legends[0].get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert not _overlap(legend, axes_box)
    labels = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
    assert all(axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1 + 0.5 for box in labels)
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert not any(_overlap(a, b) for i, a in enumerate(ticks) for b in ticks[i + 1 :])
    assert not any(_overlap(legend, tick) for tick in ticks)
    names = [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()]
    assert names == list(values)


def test_bar_chart_wraps_long_names_so_neighbours_never_touch():
    values = {f"a rather long model name number {i}": 0.5 + 0.01 * i for i in range(6)}
    fig = plots.bar_chart(values)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()]
    gaps = [right.x0 - left.x1 for left, right in zip(ticks, ticks[1:])]
    assert min(gaps) > 0
    assert fig.legends == []  # no references, no legend


def test_plot_history_and_integer_epochs_put_ticks_on_whole_epochs_only():
    history = {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.9, 0.8]}
    fig = plots.plot_history(history, metrics=["loss"])
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    own, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 2, 1])
    own.canvas.draw()
    assert any(not float(t).is_integer() for t in ax.get_xticks())  # matplotlib's own: 1.25, ...
    plots.integer_epochs(own).canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_metric_against_draws_the_values_the_references_and_the_chance_line():
    values, references = {2: 0.31, 4: 0.52, 8: 0.6}, {4: 0.59, 16: 0.71}
    fig = plots.metric_against(
        values,
        xlabel="n",
        references=references,
        chance=0.1,
        title="accuracy against n",
        subtitle="",
    )
    ours, theirs, chance = fig.axes[0].get_lines()
    assert list(ours.get_xdata()) == [2, 4, 8] and list(ours.get_ydata()) == [0.31, 0.52, 0.6]
    assert list(theirs.get_xdata()) == [4, 16]
    assert list(theirs.get_ydata()) == [0.59, 0.71]
    assert list(chance.get_ydata()) == [0.1, 0.1]
    assert fig.axes[0].get_xscale() == "log"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "4", "8", "16"]
    assert fig._suptitle.get_text() == "accuracy against n"
    with pytest.raises(ValueError, match="values is empty"):
        plots.metric_against({}, xlabel="n")
