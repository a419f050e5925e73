"""Synthetic images whose class is learnable: a shape of a colour on a textured background.

A class is a *style* (6 shapes x 8 colours x 5 textures = 240); each image jitters position,
size, colour, brightness and noise, so a network must learn the style, not memorise pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("disc", "square", "triangle", "cross", "ring", "diamond")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "magenta": (210, 50, 200),
    "cyan": (40, 200, 210),
    "orange": (240, 130, 30),
    "white": (235, 235, 235),
}
TEXTURES = ("plain", "stripes", "bars", "checks", "dots")
NUM_STYLES = len(SHAPES) * len(COLOURS) * len(TEXTURES)


@dataclass(frozen=True)
class Style:
    """What every image of one class shares."""

    shape: str
    colour: str
    texture: str

    @property
    def name(self) -> str:
        """A readable class name, e.g. ``'red disc on stripes'``."""
        return f"{self.colour} {self.shape} on {self.texture}"


def class_style(index: int) -> Style:
    """The style of class ``index`` (0 <= index < 240).

    Examples
    --------
    >>> class_style(0).name, class_style(1).name, class_style(6).name
    ('red disc on plain', 'green square on plain', 'white disc on plain')
    """
    if not 0 <= index < NUM_STYLES:
        raise ValueError(f"class index must be in [0, {NUM_STYLES}); got {index}.")
    colours = list(COLOURS)
    # colour advances with shape (index + index // 6) so that neighbours differ in both
    return Style(
        SHAPES[index % len(SHAPES)],
        colours[(index + index // len(SHAPES)) % len(colours)],
        TEXTURES[(index // (len(SHAPES) * len(colours))) % len(TEXTURES)],
    )


def draw_image(
    style: Style, rng: np.random.Generator, height: int = 64, width: int = 64, *, grey: bool = False
) -> np.ndarray:
    """One noisy uint8 image of ``style`` (one luminance channel when ``grey``, as FashionMNIST).

    The same ``rng`` seed gives the same image.

    Examples
    --------
    >>> image = draw_image(class_style(3), np.random.default_rng(0), 32, 48)
    >>> image.shape, image.dtype
    ((32, 48, 3), dtype('uint8'))
    """
    canvas = background(style.texture, rng, height, width)
    side = min(height, width)
    radius = side * rng.uniform(0.22, 0.34)
    centre_y = rng.uniform(radius, height - radius)
    centre_x = rng.uniform(radius, width - radius)
    paint_shape(canvas, style, rng, centre_y, centre_x, radius)
    return finish(canvas, rng, grey=grey)


def background(texture: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A float (height, width, 3) background of one texture, random brightness and phase."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(5.0, 9.0) * max(height, width) / 64
    phase = rng.uniform(0, period)
    if texture == "plain":
        pattern = np.zeros_like(rows)
    elif texture == "stripes":
        pattern = ((rows + phase) % period < period / 2).astype(np.float32)
    elif texture == "bars":
        pattern = ((cols + phase) % period < period / 2).astype(np.float32)
    elif texture == "checks":
        pattern = (((rows + phase) // period + (cols + phase) // period) % 2).astype(np.float32)
    elif texture == "dots":
        pattern = (((rows + phase) % period) - period / 2) ** 2 + (
            ((cols + phase) % period) - period / 2
        ) ** 2 < (period / 4) ** 2
        pattern = pattern.astype(np.float32)
    else:
        raise ValueError(f"unknown texture {texture!r}; use one of {TEXTURES}.")
    base = rng.uniform(50, 110)
    tint = rng.uniform(-12, 12, size=3)
    return (base + tint + 60 * pattern[..., None]).astype(np.float32) * np.ones(3, np.float32)


def paint_shape(
    canvas: np.ndarray,
    style: Style,
    rng: np.random.Generator,
    centre_y: float,
    centre_x: float,
    radius: float,
) -> None:
    """Paint ``style``'s shape into ``canvas`` (float, modified in place)."""
    height, width = canvas.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    dy, dx = (rows - centre_y) / radius, (cols - centre_x) / radius
    mask = shape_mask(style.shape, dy, dx)
    colour = np.clip(np.array(COLOURS[style.colour], np.float32) + rng.normal(0, 12, 3), 0, 255)
    canvas[mask] = colour


def shape_mask(shape: str, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Boolean mask of a unit-radius shape on offsets ``dy``, ``dx`` (in radii)."""
    if shape == "disc":
        return dy**2 + dx**2 <= 1
    if shape == "square":
        return (np.abs(dy) <= 0.8) & (np.abs(dx) <= 0.8)
    if shape == "triangle":
        return (dy <= 0.8) & (dy >= -1) & (np.abs(dx) <= (dy + 1) / 1.8 * 0.95)
    if shape == "cross":
        return ((np.abs(dy) <= 0.28) & (np.abs(dx) <= 1)) | (
            (np.abs(dx) <= 0.28) & (np.abs(dy) <= 1)
        )
    if shape == "ring":
        return (dy**2 + dx**2 <= 1) & (dy**2 + dx**2 >= 0.42)
    if shape == "diamond":
        return np.abs(dy) + np.abs(dx) <= 1
    raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}.")


def finish(canvas: np.ndarray, rng: np.random.Generator, *, grey: bool = False) -> np.ndarray:
    """Add pixel noise and convert to uint8 (luminance only when ``grey``)."""
    canvas = canvas + rng.normal(0, 10, canvas.shape[:2] + (1,)).astype(np.float32)
    if grey:
        canvas = canvas @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)
