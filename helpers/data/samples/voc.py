"""Generated PASCAL VOC 2007 sample: the two official tars with XML annotations and image sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.data.registry import VOC_CLASSES
from helpers.data.samples.drawing import background, class_style, finish, paint_shape
from helpers.data.samples.writers import ArchiveWriter, jpeg_bytes

#: Images per tar in the sample (the real ones hold 5,011 and 4,952).
SAMPLE_IMAGES = {"trainval": 160, "test": 160}
_TOP = "VOCdevkit/VOC2007/"


def voc2007(folder: Path, seed: int = 2007) -> list[Path]:
    """``VOCtrainval_06-Nov-2007.tar`` and ``VOCtest_06-Nov-2007.tar`` in the official layout.

    Each image holds 1-3 objects; class ``c`` is drawn as synthetic style ``c`` (a shape of a
    colour, on the image's texture). About one object in eight is small and flagged
    ``<difficult>1</difficult>``. Image sets: ``ImageSets/Main/{train,val,trainval}.txt`` and
    ``<class>_<set>.txt`` (1 present, -1 absent, 0 present only as difficult) in the trainval
    tar; ``test.txt`` and ``<class>_test.txt`` in the test tar.
    """
    rng = np.random.default_rng(seed)
    total = SAMPLE_IMAGES["trainval"] + SAMPLE_IMAGES["test"]
    is_test = np.zeros(total, bool)
    is_test[rng.permutation(total)[: SAMPLE_IMAGES["test"]]] = True  # ids interleave, as in VOC
    paths = []
    for tar_name, test in (
        ("VOCtrainval_06-Nov-2007.tar", False),
        ("VOCtest_06-Nov-2007.tar", True),
    ):
        ids = [f"{number + 1:06d}" for number in np.flatnonzero(is_test == test)]
        path = folder / tar_name
        with ArchiveWriter(path) as archive:
            presence = {}
            for image_id in ids:
                image, objects = _scene(rng)
                archive.add(f"{_TOP}JPEGImages/{image_id}.jpg", jpeg_bytes(image))
                archive.add(
                    f"{_TOP}Annotations/{image_id}.xml",
                    annotation_xml(image_id, image.shape, objects).encode(),
                )
                presence[image_id] = _presence(objects)
            if test:
                _add_image_sets(archive, {"test": ids}, presence)
            else:
                split = len(ids) // 2
                _add_image_sets(
                    archive, {"train": ids[:split], "val": ids[split:], "trainval": ids}, presence
                )
        paths.append(path)
    return paths


def _scene(rng: np.random.Generator):
    height, width = int(rng.integers(100, 141)), int(rng.integers(120, 181))
    canvas = background(str(rng.choice(["plain", "stripes", "bars", "checks"])), rng, height, width)
    objects = []
    for _ in range(int(rng.integers(1, 4))):
        label = int(rng.integers(0, len(VOC_CLASSES)))
        difficult = rng.random() < 0.125
        radius = rng.uniform(5, 8) if difficult else rng.uniform(14, 26)
        centre_y, centre_x = (
            rng.uniform(radius, height - radius),
            rng.uniform(radius, width - radius),
        )
        paint_shape(canvas, class_style(label), rng, centre_y, centre_x, radius)
        box = tuple(
            int(round(v)) + 1
            for v in (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius)
        )
        objects.append((VOC_CLASSES[label], difficult, box))
    return finish(canvas, rng), objects


def annotation_xml(image_id: str, shape: tuple, objects: list) -> str:
    """A VOC annotation: file name, size and one ``<object>`` per (name, difficult, box).

    Examples
    --------
    >>> xml = annotation_xml("000001", (10, 20, 3), [("dog", True, (1, 2, 5, 6))])
    >>> "<difficult>1</difficult>" in xml and "<width>20</width>" in xml
    True
    """
    parts = [
        "<annotation>",
        "\t<folder>VOC2007</folder>",
        f"\t<filename>{image_id}.jpg</filename>",
        "\t<source>\n\t\t<database>The VOC2007 Database</database>\n"
        "\t\t<annotation>PASCAL VOC2007</annotation>\n\t\t<image>generated sample</image>\n"
        "\t</source>",
        f"\t<size>\n\t\t<width>{shape[1]}</width>\n\t\t<height>{shape[0]}</height>\n"
        "\t\t<depth>3</depth>\n\t</size>",
        "\t<segmented>0</segmented>",
    ]
    for name, difficult, (xmin, ymin, xmax, ymax) in objects:
        parts.append(
            f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n"
            f"\t\t<truncated>0</truncated>\n\t\t<difficult>{int(difficult)}</difficult>\n"
            f"\t\t<bndbox>\n\t\t\t<xmin>{xmin}</xmin>\n\t\t\t<ymin>{ymin}</ymin>\n"
            f"\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n\t\t</bndbox>\n\t</object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def _presence(objects: list) -> dict[str, int]:
    """VOC's per-class flag: 1 if a non-difficult object is present, 0 if only difficult ones."""
    flags = {}
    for name, difficult, _ in objects:
        flags[name] = max(flags.get(name, 0), 0 if difficult else 1)
    return flags


def _add_image_sets(archive: ArchiveWriter, sets: dict[str, list[str]], presence: dict) -> None:
    for set_name, ids in sets.items():
        archive.add(f"{_TOP}ImageSets/Main/{set_name}.txt", ("\n".join(ids) + "\n").encode())
        for name in VOC_CLASSES:
            lines = [f"{i} {presence[i].get(name, -1):2d}" for i in ids]
            archive.add(
                f"{_TOP}ImageSets/Main/{name}_{set_name}.txt", ("\n".join(lines) + "\n").encode()
            )
