"""Caltech-256 for notebook 04: per-class seeded splits of the 256 object classes."""

from __future__ import annotations

import numpy as np

from helpers.data import sources
from helpers.data.splits import ImageSplits, check_count, split_image_files


def load_caltech256(
    n_train: int,
    n_val: int = 24,
    n_test: int = 24,
    seed: int = 42,
    *,
    image_size: int = 224,
    max_classes: int | None = None,
    decode: bool = True,
    progress: bool = True,
    allow_sample: bool = False,
) -> ImageSplits:
    """Caltech-256 split per class: ``n_train`` / ``n_val`` / ``n_test`` images of each class.

    ``257.clutter`` is dropped, leaving 256 classes (29,780 images in the official archive).
    Each class's images are shuffled with ``seed``; validation and test are taken first, so
    they stay the same for every ``n_train`` of a sweep.

    Parameters
    ----------
    n_train, n_val, n_test : int
        Images per class in each split (every class has at least 80).
    seed : int
        Seed of the per-class shuffles.
    image_size : int
        Side images are resized to (224 for VGG16).
    max_classes : int, optional
        Keep the first classes (sorted folder order); None keeps all 256.
    decode : bool
        True: images as uint8 arrays. False: file paths, for
        :func:`helpers.data.pipeline.make_dataset` to decode batch by batch (the full 32-per-
        class split is 20,480 images, 3 GB at 224x224).
    progress : bool
        Progress bar while decoding.
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    ImageSplits
        ``train``, ``val``, ``test``: ``(images uint8 (n, s, s, 3) or paths, labels int64)``;
        ``class_names`` without the number prefix (``'ak47'``); ``source``, ``describe()``.

    Examples
    --------
    >>> load_caltech256(n_train=0)
    Traceback (most recent call last):
    ...
    ValueError: n_train must be an int >= 1; got 0.
    """
    check_count("n_train", n_train)
    check_count("n_val", n_val, 0)
    check_count("n_test", n_test, 0)
    files = caltech256_files(max_classes, allow_sample=allow_sample)
    paths, labels = files.all
    return split_image_files(
        files.fetched,
        paths,
        labels,
        files.class_names,
        {"val": n_val, "test": n_test, "train": n_train},
        seed,
        image_size=image_size,
        decode=decode,
        progress=progress,
    )


def caltech256_files(max_classes: int | None = None, *, allow_sample: bool = False) -> ImageSplits:
    """Every Caltech-256 image file with its class, unsplit (for a notebook's own split).

    Parameters
    ----------
    max_classes : int, optional
        As in :func:`load_caltech256` (None: all 256).
    allow_sample : bool
        As in :func:`load_caltech256`.

    Returns
    -------
    ImageSplits
        One split, ``all``: ``(paths (n,) str array, labels (n,) int64)`` in folder order;
        ``class_names``; ``fetched.path`` is the folder the paths live under.
    """
    check_count("max_classes", max_classes, allow_none=True)
    fetched = sources.fetch("caltech256", allow_sample=allow_sample)
    folders = sorted(
        folder
        for folder in fetched.path.iterdir()
        if folder.is_dir()
        and not folder.name.startswith(".")  # .decoded cache
        and not folder.name.endswith("clutter")
    )[:max_classes]
    paths, labels = [], []
    for label, folder in enumerate(folders):
        files = sorted(folder.glob("*.jpg"))
        paths += [str(path) for path in files]
        labels += [label] * len(files)
    names = [folder.name.split(".", 1)[-1] for folder in folders]
    return ImageSplits({"all": (np.array(paths), np.array(labels, dtype=np.int64))}, names, fetched)
