"""Tests of helpers.plots.images: grids hold the passed images, filters in the right colours."""

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


def test_image_grid_has_one_captioned_axes_per_image():
    images = np.random.default_rng(1).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    fig = plots.show_images(images, titles=list("vwxyz"), ncols=2)
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == list("vwxyz")
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), images[3])


def test_captions_of_the_second_row_stay_clear_of_the_images_above():
    fig = plots.show_images(np.zeros((16, 28, 28)), ["Ankle boot\nclass 9"] * 16, ncols=8)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    first_row_bottom = min(ax.get_window_extent(renderer).y0 for ax in fig.axes[:8])
    for ax in fig.axes[8:]:
        assert ax.title.get_window_extent(renderer).y1 <= first_row_bottom + 0.5


def test_feature_maps_show_each_channel_up_to_the_limit():
    maps = np.random.default_rng(2).random((5, 5, 12))
    fig = plots.show_feature_maps(maps, max_maps=10, ncols=4)
    assert len(fig.axes) == 10
    np.testing.assert_allclose(fig.axes[7].images[0].get_array(), maps[..., 7])


def test_split_filters_are_two_mosaics_of_sign_parts_scaled_by_the_largest_weight():
    kernels = np.random.default_rng(3).normal(size=(3, 3, 3, 64))
    fig = plots.show_filters(kernels, split_sign=True)
    assert len(fig.axes) == 2
    width, height = fig.get_size_inches()
    assert height < 8 and width < 12
    positive = fig.axes[0].images[0].get_array()
    negative = fig.axes[1].images[0].get_array()
    assert positive.shape == negative.shape == (8 * 4 + 1, 8 * 4 + 1, 3)
    largest = np.abs(kernels).max()
    for i in (0, 10, 63):  # kernel i: row i // 8, column i % 8, tiles of 3 + 1 padding pixel
        top, left = 1 + 4 * (i // 8), 1 + 4 * (i % 8)
        np.testing.assert_allclose(
            positive[top : top + 3, left : left + 3], np.maximum(kernels[..., i], 0) / largest
        )
        np.testing.assert_allclose(
            negative[top : top + 3, left : left + 3], np.maximum(-kernels[..., i], 0) / largest
        )
    assert np.all(positive[0] == 1.0) and np.all(positive[:, 4] == 1.0)  # white padding


def test_bgr_kernels_are_drawn_with_red_and_blue_swapped():
    kernels = np.zeros((3, 3, 3, 2))
    kernels[..., 0, 0] = 1.0  # kernel 0 reads only input channel 0: blue in a BGR model
    kernels[..., 2, 1] = 0.5  # kernel 1 reads only channel 2: red in a BGR model
    for split_sign in (False, True):
        fig = plots.show_filters(kernels, split_sign=split_sign, channel_order="bgr")
        drawn = fig.axes[0].images[0].get_array()
        first = drawn if not split_sign else drawn[1:4, 1:4]
        second = fig.axes[1].images[0].get_array() if not split_sign else drawn[1:4, 5:8]
        assert np.all(first[..., 2] > first[..., 0])  # blue channel lit
        assert np.all(second[..., 0] > second[..., 2])  # red channel lit
    rgb = plots.show_filters(kernels, split_sign=True).axes[0].images[0].get_array()
    np.testing.assert_allclose(rgb[1:4, 1:4], kernels[..., 0])
    with pytest.raises(ValueError, match="channel_order"):
        plots.show_filters(kernels, channel_order="brg")


def test_grey_kernels_are_the_mean_over_input_channels():
    kernels = np.random.default_rng(4).normal(size=(3, 3, 5, 4))
    fig = plots.show_filters(kernels, split_sign=True, ncols=2)
    mean = kernels.mean(axis=2)
    largest = np.abs(mean).max()
    np.testing.assert_allclose(
        fig.axes[0].images[0].get_array()[5:8, 5:8], np.maximum(mean[..., 3], 0) / largest
    )


def test_filters_without_split_are_min_max_scaled_together():
    kernels = np.arange(2 * 2 * 3 * 2, dtype=float).reshape(2, 2, 3, 2)
    fig = plots.show_filters(kernels)
    expected = kernels[..., 1] / kernels.max()  # minimum is 0
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), expected)
