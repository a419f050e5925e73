"""PASCAL VOC 2007 for notebook 02: images with multi-hot labels and 'difficult' flags."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from helpers.data import sources
from helpers.data.decode import cached_decode
from helpers.data.sources import FetchedData, FromSource
from helpers.data.splits import check_count

#: The 20 classes in the standard (alphabetical) order of the VOC devkit.
CLASS_NAMES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")
SPLITS = ("train", "val", "trainval", "test")


class VOC2007(FromSource):
    """One split of VOC 2007: ``images``, ``labels``, ``difficult``, ``image_ids``, ``class_names``."""

    def __init__(self, images, labels, difficult, image_ids, fetched: FetchedData, split: str):
        self.images, self.labels, self.difficult = images, labels, difficult
        self.image_ids, self.class_names = image_ids, list(CLASS_NAMES)
        self.fetched, self.split = fetched, split

    def describe(self) -> str:
        """Source and size in one line."""
        return f"{self.fetched.describe()}; {self.split}: {len(self.image_ids):,} images"


def load_voc2007(split: str = "trainval", image_size: int = 224, *,
                 max_images: int | None = None, progress: bool = True,
                 allow_sample: bool = False) -> VOC2007:
    """Images and multi-label targets of one VOC 2007 image set.

    Parameters
    ----------
    split : {'train', 'val', 'trainval', 'test'}
        The image set (``ImageSets/Main/<split>.txt``).
    image_size : int
        Images are resized to ``image_size`` x ``image_size`` (no aspect kept, as Keras'
        ``load_img(target_size=...)`` does).
    max_images : int, optional
        Keep the first images of the set; None keeps all.
    progress : bool
        Progress bar while decoding (the decoded array is cached for the next call).
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    VOC2007
        ``images`` uint8 (n, s, s, 3); ``labels`` uint8 (n, 20), 1 where the class has a
        non-difficult object; ``difficult`` bool (n, 20), True where the class appears only in
        objects flagged difficult (VOC's "0" entries, to be ignored when scoring); ``image_ids``
        (n,) strings like ``'000005'``; ``class_names`` (20, the standard order).

    Examples
    --------
    >>> load_voc2007("training")
    Traceback (most recent call last):
    ...
    ValueError: split must be one of train, val, trainval, test; got 'training'.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    check_count("image_size", image_size, 8)
    check_count("max_images", max_images, allow_none=True)
    fetched = sources.fetch("voc2007", allow_sample=allow_sample)
    devkit = fetched.path / "VOC2007"
    set_file = devkit / "ImageSets" / "Main" / f"{split}.txt"
    if not set_file.is_file():
        raise FileNotFoundError(f"{set_file} is missing: the {split} set comes with the "
                                f"{'test' if split == 'test' else 'trainval'} archive.")
    image_ids = set_file.read_text().split()[:max_images]
    labels = np.zeros((len(image_ids), len(CLASS_NAMES)), np.uint8)
    difficult = np.zeros((len(image_ids), len(CLASS_NAMES)), bool)
    for row, image_id in enumerate(image_ids):
        labels[row], difficult[row] = parse_annotation(devkit / "Annotations" / f"{image_id}.xml")
    paths = [devkit / "JPEGImages" / f"{image_id}.jpg" for image_id in image_ids]
    images = cached_decode(paths, fetched.path, image_size, progress=progress)
    return VOC2007(images, labels, difficult, np.array(image_ids), fetched, split)


def parse_annotation(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot labels and difficult-only mask (both length 20) of one annotation file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.xml"
    >>> _ = path.write_text("<annotation><object><name>dog</name><difficult>1</difficult>"
    ...                     "</object><object><name>cat</name><difficult>0</difficult></object>"
    ...                     "</annotation>")
    >>> labels, difficult = parse_annotation(path)
    >>> int(labels[CLASS_NAMES.index("cat")]), bool(difficult[CLASS_NAMES.index("dog")])
    (1, True)
    """
    labels = np.zeros(len(CLASS_NAMES), np.uint8)
    seen = np.zeros(len(CLASS_NAMES), bool)
    for node in ElementTree.parse(path).getroot().iter("object"):
        name = (node.findtext("name") or "").strip()
        if name not in CLASS_NAMES:
            raise ValueError(f"{path}: unknown class {name!r}.")
        column = CLASS_NAMES.index(name)
        seen[column] = True
        if (node.findtext("difficult") or "0").strip() != "1":
            labels[column] = 1
    return labels, seen & (labels == 0)
