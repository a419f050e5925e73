"""PASCAL VOC 2007 for notebook 02: images with multi-hot labels and 'difficult' flags."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from helpers.data import sources
from helpers.data.decode import cached_decode
from helpers.data.registry import VOC_CLASSES
from helpers.data.splits import ImageSplits, Split, check_count

CLASS_NAMES = VOC_CLASSES  # the standard (alphabetical) order of the VOC devkit
SPLITS = ("train", "val", "trainval", "test")


def load_voc2007(
    splits: str | Sequence[str] = ("trainval", "test"),
    image_size: int = 224,
    *,
    max_images: int | Mapping[str, int | None] | None = None,
    progress: bool = True,
    allow_sample: bool = False,
) -> ImageSplits:
    """Images and multi-label targets of VOC 2007 image sets.

    Parameters
    ----------
    splits : str or sequence of {'train', 'val', 'trainval', 'test'}
        The image sets (``ImageSets/Main/<split>.txt``).
    image_size : int
        Images are resized to ``image_size`` x ``image_size`` (no aspect kept, as Keras'
        ``load_img(target_size=...)`` does).
    max_images : int or {split: int or None}, optional
        Keep the first images of each set; None keeps all.
    progress : bool
        Progress bar while decoding (the decoded array is cached for the next call).
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    ImageSplits
        One :class:`~helpers.data.splits.Split` per set: ``images`` uint8 (n, s, s, 3);
        ``labels`` uint8 (n, 20), 1 where the class has a non-difficult object; ``difficult``
        bool (n, 20), True where the class appears only in objects flagged difficult (VOC's "0"
        entries, to be ignored when scoring); ``image_ids`` (n,) strings like ``'000005'``.
        ``class_names`` (20, the standard order).

    Examples
    --------
    >>> load_voc2007("training")
    Traceback (most recent call last):
    ...
    ValueError: split must be one of train, val, trainval, test; got 'training'.
    """
    names = (splits,) if isinstance(splits, str) else tuple(splits)
    for split in names:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    limits = max_images if isinstance(max_images, Mapping) else dict.fromkeys(names, max_images)
    check_count("image_size", image_size, 8)
    for split in names:
        check_count("max_images", limits.get(split), allow_none=True)
    fetched = sources.fetch("voc2007", allow_sample=allow_sample)
    return ImageSplits(
        {
            split: _load_set(fetched, split, image_size, limits.get(split), progress)
            for split in names
        },
        list(CLASS_NAMES),
        fetched,
    )


def _load_set(
    fetched, split: str, image_size: int, max_images: int | None, progress: bool
) -> Split:
    devkit = fetched.path / "VOC2007"
    set_file = devkit / "ImageSets" / "Main" / f"{split}.txt"
    if not set_file.is_file():
        raise FileNotFoundError(
            f"{set_file} is missing: the {split} set comes with the "
            f"{'test' if split == 'test' else 'trainval'} archive."
        )
    image_ids = set_file.read_text().split()[:max_images]
    labels = np.zeros((len(image_ids), len(CLASS_NAMES)), np.uint8)
    difficult = np.zeros((len(image_ids), len(CLASS_NAMES)), bool)
    for row, image_id in enumerate(image_ids):
        labels[row], difficult[row] = parse_annotation(devkit / "Annotations" / f"{image_id}.xml")
    paths = [devkit / "JPEGImages" / f"{image_id}.jpg" for image_id in image_ids]
    images = cached_decode(paths, fetched.path, image_size, progress=progress)
    return Split(images, labels, difficult=difficult, image_ids=np.array(image_ids))


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
