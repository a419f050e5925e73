"""Tests of helpers.plots.retrieval: borders, captions, the wrapped grid and caption spacing."""

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


def _overlapping_captions(fig):
    """(caption, axes) pairs where a caption's drawn box overlaps another image axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(ax, ax.get_window_extent(renderer)) for ax in fig.axes if ax.images]
    overlaps = []
    for ax in fig.axes:
        if not ax.get_title():
            continue
        text = ax.title.get_window_extent(renderer)
        for other, box in boxes:
            width = min(text.x1, box.x1) - max(text.x0, box.x0)
            height = min(text.y1, box.y1) - max(text.y0, box.y0)
            if other is not ax and width > 0.5 and height > 0.5:
                overlaps.append((ax.get_title(), other))
    return overlaps


def _levels(values, tolerance=0.01):
    """Index of each value's cluster (values closer than tolerance share one), in sorted order."""
    order = np.sort(values)
    starts = [order[0]] + [b for a, b in zip(order, order[1:]) if b - a > tolerance]
    return [int(np.searchsorted(starts, value + tolerance / 2)) - 1 for value in values]


def test_retrieval_rows_frame_hits_green_and_misses_red_in_rank_order():
    rng = np.random.default_rng(0)
    hits = np.array([[True, False, True], [False, False, True]])
    fig = plots.show_retrieval_rows(
        rng.random((2, 6, 6, 3)),
        rng.random((2, 3, 6, 6, 3)),
        hits,
        query_labels=["cat", "dog"],
        aps=[0.5, 0.25],
        subtitle="",
    )
    axes = np.array(fig.axes).reshape(2, 4)
    for row in range(2):
        assert _border_color(axes[row, 0]) == to_rgba(plots.QUERY_COLOR)
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


def test_five_neighbours_stay_one_row_of_six_cells():
    fig = plots.show_retrieval(np.zeros((8, 8)), np.zeros((5, 8, 8)), np.ones(5, bool))
    fig.canvas.draw()
    assert len(fig.axes) == 6 and _levels([ax.get_position().y1 for ax in fig.axes]) == [0] * 6


def test_fifty_neighbours_wrap_into_five_rows_of_ten_beside_the_query():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (51, 8, 8), dtype=np.uint8)
    hits = rng.random(50) < 0.5
    fig = plots.show_retrieval(images[0], images[1:], hits, query_label="shirt", ap=0.4)
    fig.canvas.draw()  # positions are final once the layout has run
    assert len(fig.axes) == 51
    width, height = fig.get_size_inches()
    assert width < 20 and height < 12
    query, retrieved = fig.axes[0], fig.axes[1:]
    columns = _levels([ax.get_position().x0 for ax in retrieved])
    rows = _levels([-ax.get_position().y1 for ax in retrieved])
    assert max(columns) == 9 and max(rows) == 4
    for rank, ax in enumerate(retrieved):  # rank r sits at row r // 10, column r % 10
        assert (rows[rank], columns[rank]) == divmod(rank, 10)
        np.testing.assert_array_equal(ax.images[0].get_array(), images[rank + 1])
        assert _border_color(ax) == to_rgba("green" if hits[rank] else "red")
    assert query.get_position().x1 < min(ax.get_position().x0 for ax in retrieved)
    assert _border_color(query) == to_rgba(plots.QUERY_COLOR) != to_rgba("green")
    assert query.get_title() == "query\nshirt\nAP 0.400"


def test_ncols_sets_the_retrieved_images_per_row():
    fig = plots.show_retrieval(np.zeros((8, 8)), np.zeros((7, 8, 8)), np.ones(7, bool), ncols=3)
    fig.canvas.draw()
    rows = _levels([-ax.get_position().y1 for ax in fig.axes[1:]])
    assert rows == [0, 0, 0, 1, 1, 1, 2]
    with pytest.raises(ValueError, match="ncols"):
        plots.show_retrieval(np.zeros((8, 8)), np.zeros((7, 8, 8)), np.ones(7, bool), ncols=0)


def test_three_line_query_captions_stay_clear_of_the_images_above():
    names = ["T-shirt/top", "Pullover", "a very long class name of Tiny ImageNet"]
    fig = plots.show_retrieval_rows(
        np.zeros((3, 28, 28)),
        np.zeros((3, 10, 28, 28)),
        np.ones((3, 10), bool),
        names,
        [[names[(i + j) % 3] for j in range(10)] for i in range(3)],
        aps=[0.1, 0.2, 0.3],
    )
    assert _overlapping_captions(fig) == []


def test_wrapped_rows_keep_captions_clear_of_the_images_above():
    fig = plots.show_retrieval(
        np.zeros((28, 28)),
        np.zeros((30, 28, 28)),
        np.ones(30, bool),
        "Pullover",
        ["Coat"] * 30,
        ap=0.5,
    )
    assert _overlapping_captions(fig) == []


def test_mismatched_hits_and_images_are_refused():
    with pytest.raises(ValueError, match="hits"):
        plots.show_retrieval_rows(np.zeros((2, 4, 4)), np.zeros((2, 3, 4, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="retrieved_labels"):
        plots.show_retrieval_rows(
            np.zeros((2, 4, 4)),
            np.zeros((2, 3, 4, 4)),
            np.ones((2, 3)),
            retrieved_labels=[["a"] * 2] * 2,
        )
