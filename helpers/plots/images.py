"""Image figures: grids of pictures, feature maps and convolution kernels.

Re-exported by :mod:`helpers.plots`; call them as ``plots.show_images``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from helpers.plots.layout import finish, grid, image, line_count, new_figure, wrap


def show_images(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """A grid of images (uint8 in 0-255 or float in [0, 1]) with optional captions.

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
    captions = None if titles is None else [wrap(str(caption)) for caption in titles]
    lines = max((line_count(caption) for caption in captions), default=0) if captions else 0
    fig, axes = grid(len(images), ncols, lines)
    for i, ax in enumerate(axes):
        image(ax, images[i], None if captions is None else captions[i])
    return finish(fig, title or f"{len(images)} images", subtitle)


def show_feature_maps(
    maps: np.ndarray,
    max_maps: int = 32,
    ncols: int = 8,
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """The first ``max_maps`` channels of a (h, w, channels) feature map as heat maps.

    Examples
    --------
    >>> len(show_feature_maps(np.zeros((6, 6, 40)), max_maps=16).axes)
    16
    """
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3:
        raise ValueError(
            f"maps must be (h, w, channels) for one image, got {maps.shape}; "
            "take maps[0] of a batch."
        )
    count = min(maps.shape[-1], max_maps)
    fig, axes = grid(count, ncols, caption_lines=1)
    for channel, ax in enumerate(axes):
        ax.imshow(maps[..., channel], cmap="viridis")
        ax.set_title(str(channel), fontsize="small")
        ax.set_axis_off()
    return finish(
        fig, title or f"Feature maps (first {count} of {maps.shape[-1]} channels)", subtitle
    )


def show_filters(
    kernels: np.ndarray,
    max_filters: int = 64,
    ncols: int = 8,
    split_sign: bool = False,
    title: str | None = None,
    subtitle: str | None = None,
    channel_order: str = "rgb",
) -> Figure:
    """Conv kernels (kh, kw, in_channels, filters) as images: colour for 3 inputs, else grey.

    Parameters
    ----------
    kernels : (kh, kw, in_channels, filters) array
        A Conv2D kernel (``layer.get_weights()[0]``); with other than 3 input channels the mean
        over them is drawn.
    split_sign : bool
        Two mosaics: positive parts ``max(k, 0)`` and negative parts ``max(-k, 0)``, both divided
        by the largest absolute weight. Otherwise all kernels are min-max scaled together.
    channel_order : {'rgb', 'bgr'}
        Pass ``'bgr'`` for Caffe-style models (VGG16, ResNet50 in Keras) so red is drawn red.

    Examples
    --------
    >>> len(show_filters(np.ones((3, 3, 3, 4)), split_sign=True).axes)
    2
    >>> show_filters(np.ones((3, 3, 3, 64)), split_sign=True).axes[0].images[0].get_array().shape
    (33, 33, 3)
    """
    kernels = np.asarray(kernels, dtype=float)
    if kernels.ndim != 4:
        raise ValueError(f"kernels must be (kh, kw, in_channels, filters), got {kernels.shape}.")
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}.")
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}.")
    count = min(kernels.shape[-1], max_filters)
    kernels = np.moveaxis(kernels[..., :count], -1, 0)
    if kernels.shape[-1] == 3 and channel_order == "bgr":
        kernels = kernels[..., ::-1]
    elif kernels.shape[-1] != 3:
        kernels = kernels.mean(axis=-1)
    order = " (BGR kernels drawn as RGB)" if channel_order == "bgr" else ""
    if split_sign:
        return _sign_mosaics(
            kernels, ncols, title or f"{count} conv filters, split by sign{order}", subtitle
        )
    low, high = kernels.min(), kernels.max()
    scaled = (kernels - low) / ((high - low) or 1.0)
    fig, axes = grid(count, ncols, caption_lines=1)
    for i in range(count):
        image(axes[i], scaled[i], str(i))
    return finish(fig, title or f"{count} conv filters{order}", subtitle)


def _sign_mosaics(kernels: np.ndarray, ncols: int, title: str, subtitle: str | None) -> Figure:
    scale = np.abs(kernels).max() or 1.0
    parts = [
        (np.maximum(kernels, 0) / scale, "positive parts max(k, 0)"),
        (np.maximum(-kernels, 0) / scale, "negative parts max(-k, 0)"),
    ]
    mosaics = [_mosaic(tiles, ncols) for tiles, _ in parts]
    height, width = mosaics[0].shape[:2]
    panel_width = 4.5 * min(1.0, width / height) if height else 4.5
    fig, axes = new_figure(2 * panel_width + 0.4, 4.5 * min(1.0, height / width) + 1.2, 1, 2)
    for ax, mosaic, (_, name) in zip(axes[0], mosaics, parts):
        ax.imshow(
            mosaic,
            cmap="gray" if mosaic.ndim == 2 else None,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_title(name)
        ax.set_axis_off()
    return finish(fig, title, subtitle)


def _mosaic(tiles: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """(n, h, w[, c]) tiles in [0, 1] -> one image, ``ncols`` tiles per row, white padding."""
    count, tile_height, tile_width = tiles.shape[:3]
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    mosaic = np.ones(
        (nrows * (tile_height + pad) + pad, ncols * (tile_width + pad) + pad) + tiles.shape[3:]
    )
    for i in range(count):
        row, column = divmod(i, ncols)
        top, left = pad + row * (tile_height + pad), pad + column * (tile_width + pad)
        mosaic[top : top + tile_height, left : left + tile_width] = tiles[i]
    return mosaic
