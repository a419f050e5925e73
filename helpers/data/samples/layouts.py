"""Generated samples of the classification data sets, each in its official archive layout."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from helpers.data.samples.drawing import (
    COLOURS,
    Style,
    background,
    class_style,
    draw_image,
    finish,
    paint_shape,
)
from helpers.data.samples.writers import ArchiveWriter, jpeg_bytes

#: The ten Tiny ImageNet classes that sort last (notebook 01's out-of-domain set), as in words.txt.
TINY_OOD_WORDS = (
    ("n07871810", "meat loaf, meatloaf"),
    ("n07873807", "pizza, pizza pie"),
    ("n07875152", "potpie"),
    ("n07920052", "espresso"),
    ("n09193705", "alp"),
    ("n09246464", "cliff, drop, drop-off"),
    ("n09256479", "coral reef"),
    ("n09332890", "lakeside, lakeshore"),
    ("n09428293", "seashore, coast, seacoast, sea-coast"),
    ("n12267677", "acorn"),
)
URBAN_TRIBES = (
    "biker",
    "clubber",
    "country",
    "formal",
    "goth",
    "heavy",
    "hiphop",
    "hipster",
    "others",
    "ravers",
    "surfer",
)
SIZES = {
    "tiny_per_class": 30,
    "fashion_train": 6000,
    "fashion_test": 1000,
    "car_train": 200,
    "car_validation": 72,
    "caltech_classes": 12,
    "caltech_per_class": 80,
    "caltech_clutter": 20,
    "urban_per_class": 64,
}


def tiny_imagenet(folder: Path, seed: int = 200) -> list[Path]:
    """``tiny-imagenet-200.zip``: 190 synthetic classes then the 10 real OOD wnids, 30 images each.

    Layout as the official archive: ``wnids.txt``, ``words.txt``,
    ``train/<wnid>/images/<wnid>_<i>.JPEG``, ``train/<wnid>/<wnid>_boxes.txt``,
    ``val/images/val_<i>.JPEG`` with ``val/val_annotations.txt`` and ``test/images``.
    """
    rng = np.random.default_rng(seed)
    wnids = [f"n{index + 1:08d}" for index in range(190)] + [w for w, _ in TINY_OOD_WORDS]
    words = [f"{w}\t{class_style(i).name}" for i, w in enumerate(wnids[:190])]
    words += [f"{w}\t{name}" for w, name in TINY_OOD_WORDS]
    path = folder / "tiny-imagenet-200.zip"
    with ArchiveWriter(path) as archive:
        top = "tiny-imagenet-200/"
        archive.add(top + "wnids.txt", ("\n".join(wnids) + "\n").encode())
        archive.add(top + "words.txt", ("\n".join(words) + "\n").encode())
        val_lines = []
        for index, wnid in enumerate(wnids):
            style, boxes = class_style(index), []
            for number in range(SIZES["tiny_per_class"]):
                name = f"{wnid}_{number}.JPEG"
                archive.add(
                    f"{top}train/{wnid}/images/{name}",
                    jpeg_bytes(draw_image(style, rng, 64, 64, grey=number % 17 == 5)),
                )
                boxes.append(f"{name}\t8\t8\t56\t56")
            archive.add(f"{top}train/{wnid}/{wnid}_boxes.txt", ("\n".join(boxes) + "\n").encode())
            archive.add(f"{top}val/images/val_{index}.JPEG", jpeg_bytes(draw_image(style, rng)))
            val_lines.append(f"val_{index}.JPEG\t{wnid}\t8\t8\t56\t56")
        archive.add(top + "val/val_annotations.txt", ("\n".join(val_lines) + "\n").encode())
        for index in range(20):
            archive.add(
                f"{top}test/images/test_{index}.JPEG",
                jpeg_bytes(draw_image(class_style(index * 10), rng)),
            )
    return [path]


def fashion_mnist(folder: Path, seed: int = 10) -> list[Path]:
    """The four IDX ``.gz`` files: 28x28 grey shapes of 10 styles (6,000 train, 1,000 test)."""
    rng = np.random.default_rng(seed)
    paths = []
    for prefix, count in (("train", SIZES["fashion_train"]), ("t10k", SIZES["fashion_test"])):
        labels = np.arange(count, dtype=np.uint8) % 10
        rng.shuffle(labels)
        images = np.stack(
            [draw_image(class_style(int(label)), rng, 28, 28, grey=True) for label in labels]
        )
        for kind, payload, header in (
            ("images-idx3", images, struct.pack(">IIII", 2051, count, 28, 28)),
            ("labels-idx1", labels, struct.pack(">II", 2049, count)),
        ):
            path = folder / f"{prefix}-{kind}-ubyte.gz"
            folder.mkdir(parents=True, exist_ok=True)
            # mtime=0 keeps the gzip header, and so the checksum, the same on every build
            with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
                handle.write(header + payload.tobytes())
            paths.append(path)
    return paths


def car_vs_other(folder: Path, seed: int = 5) -> list[Path]:
    """``a5_images.zip``: ``a5_images/{train,validation}/{car,other}/NNNN.jpg`` and ``SOURCES.tsv``.

    A car is a body with a cabin and two dark wheels in a random colour; "other" is any
    synthetic class shape. 200 + 200 train, 72 + 72 validation, 64x64.
    """
    rng = np.random.default_rng(seed)
    path = folder / "a5_images.zip"
    sources = []
    with ArchiveWriter(path) as archive:
        for split, count in (
            ("train", SIZES["car_train"]),
            ("validation", SIZES["car_validation"]),
        ):
            for kind in ("car", "other"):
                for number in range(count):
                    if kind == "car":
                        image = draw_car(rng)
                    else:
                        image = draw_image(class_style(int(rng.integers(0, 48))), rng)
                    name = f"{split}/{kind}/{number:04d}.jpg"
                    archive.add("a5_images/" + name, jpeg_bytes(image))
                    sources.append(f"{name}\tgenerated\tgenerated sample")
        archive.add("a5_images/SOURCES.tsv", ("\n".join(sources) + "\n").encode())
    return [path]


def draw_car(rng: np.random.Generator, height: int = 64, width: int = 64) -> np.ndarray:
    """A side view of a car: a wide body, a narrower cabin on top, two dark wheels."""
    canvas = background(str(rng.choice(["plain", "stripes", "bars"])), rng, height, width)
    colour = np.array(list(COLOURS.values())[rng.integers(0, len(COLOURS))], np.float32)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    length = width * rng.uniform(0.55, 0.8)
    left = rng.uniform(2, width - length - 2)
    bottom = height * rng.uniform(0.6, 0.8)
    body = (
        (cols >= left)
        & (cols <= left + length)
        & (rows >= bottom - length * 0.25)
        & (rows <= bottom)
    )
    cabin = (
        (cols >= left + length * 0.25)
        & (cols <= left + length * 0.75)
        & (rows >= bottom - length * 0.45)
        & (rows < bottom - length * 0.25)
    )
    canvas[body | cabin] = np.clip(colour + rng.normal(0, 12, 3), 0, 255)
    for wheel_x in (left + length * 0.22, left + length * 0.78):
        wheel = (rows - bottom) ** 2 + (cols - wheel_x) ** 2 <= (length * 0.12) ** 2
        canvas[wheel] = rng.uniform(10, 35)
    return finish(canvas, rng)


def caltech256(folder: Path, seed: int = 256) -> list[Path]:
    """``256_ObjectCategories.tar``: ``NNN.name/NNN_MMMM.jpg``, 12 classes and ``257.clutter``."""
    rng = np.random.default_rng(seed)
    path = folder / "256_ObjectCategories.tar"
    with ArchiveWriter(path) as archive:
        classes = [(index + 1, class_style(index)) for index in range(SIZES["caltech_classes"])]
        for number, style in classes + [(257, None)]:
            label = f"{number:03d}." + (
                "clutter" if style is None else style.name.replace(" on ", "-").replace(" ", "-")
            )
            count = SIZES["caltech_clutter"] if style is None else SIZES["caltech_per_class"]
            for image_number in range(1, count + 1):
                height, width = int(rng.integers(80, 121)), int(rng.integers(90, 141))
                image = (
                    _clutter(rng, height, width)
                    if style is None
                    else draw_image(style, rng, height, width)
                )
                archive.add(
                    f"256_ObjectCategories/{label}/{number:03d}_{image_number:04d}.jpg",
                    jpeg_bytes(image),
                )
    return [path]


def _clutter(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    canvas = background(str(rng.choice(["checks", "dots", "plain"])), rng, height, width)
    for _ in range(3):
        style = Style("disc", str(rng.choice(list(COLOURS))), "plain")
        paint_shape(canvas, style, rng, rng.uniform(0, height), rng.uniform(0, width), 6.0)
    return finish(canvas, rng)


def urban_tribes(folder: Path, seed: int = 11) -> list[Path]:
    """``pictures_all.zip``: ``pictures_all/<tribe>_<nnn>.jpg``, 11 tribes x 64 pictures."""
    rng = np.random.default_rng(seed)
    path = folder / "pictures_all.zip"
    with ArchiveWriter(path) as archive:
        for index, tribe in enumerate(URBAN_TRIBES):
            style = class_style(index * 7 % 48)
            for number in range(1, SIZES["urban_per_class"] + 1):
                height, width = int(rng.integers(90, 121)), int(rng.integers(110, 161))
                archive.add(
                    f"pictures_all/{tribe}_{number:03d}.jpg",
                    jpeg_bytes(draw_image(style, rng, height, width)),
                )
    return [path]
