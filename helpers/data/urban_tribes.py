"""UCSD Urban Tribes for notebook 04: 11 tribes, the class read from each file name's prefix."""

from __future__ import annotations

import numpy as np

from helpers.data import sources
from helpers.data.splits import ImageSplits, check_count, split_image_files


def load_urban_tribes(
    n_train: int,
    n_test: int = 32,
    seed: int = 42,
    *,
    image_size: int = 224,
    decode: bool = True,
    progress: bool = True,
    allow_sample: bool = False,
) -> ImageSplits:
    """Urban Tribes split per class: ``n_train`` training and ``n_test`` test pictures per tribe.

    The tribe is the file name's prefix before the first ``_`` (``biker_012.jpg``), lower-cased;
    tribes are numbered in sorted order. Each tribe's pictures are shuffled with ``seed`` and
    the test pictures taken first, so the test set is the same for every ``n_train``.

    Parameters
    ----------
    n_train, n_test : int
        Pictures per tribe in each split.
    seed : int
        Seed of the per-tribe shuffles.
    image_size : int
        Side pictures are resized to (224 for VGG16).
    decode : bool
        True: uint8 arrays; False: file paths for :func:`helpers.data.pipeline.make_dataset`.
    progress : bool
        Progress bar while decoding.
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    ImageSplits
        ``train``, ``test``: ``(images uint8 (n, s, s, 3) or paths, labels int64)``;
        ``class_names`` (11 tribes); ``source``, ``describe()``.

    Examples
    --------
    >>> load_urban_tribes(n_train=4, n_test=-1)
    Traceback (most recent call last):
    ...
    ValueError: n_test must be an int >= 0; got -1.
    """
    check_count("n_train", n_train)
    check_count("n_test", n_test, 0)
    files = urban_tribes_files(allow_sample=allow_sample)
    paths, labels = files.all
    return split_image_files(
        files.fetched,
        paths,
        labels,
        files.class_names,
        {"test": n_test, "train": n_train},
        seed,
        image_size=image_size,
        decode=decode,
        progress=progress,
    )


def urban_tribes_files(*, allow_sample: bool = False) -> ImageSplits:
    """Every Urban Tribes picture with its tribe, unsplit (for a notebook's own split).

    Returns
    -------
    ImageSplits
        One split, ``all``: ``(paths (n,) str array, labels (n,) int64)`` sorted by file name;
        ``class_names`` (the tribes, sorted); ``fetched.path`` is the pictures' folder.
    """
    fetched = sources.fetch("urban_tribes", allow_sample=allow_sample)
    files = sorted(
        path
        for path in fetched.path.rglob("*")
        if path.suffix.lower() in (".jpg", ".jpeg", ".png")
        and "_" in path.name
        and not path.relative_to(fetched.path).parts[0].startswith(".")
    )
    if not files:
        raise FileNotFoundError(f"No <tribe>_<n>.jpg pictures under {fetched.path}.")
    tribes = [path.name.split("_", 1)[0].lower() for path in files]
    names = sorted(set(tribes))
    labels = np.array([names.index(tribe) for tribe in tribes], dtype=np.int64)
    return ImageSplits({"all": (np.array([str(path) for path in files]), labels)}, names, fetched)
