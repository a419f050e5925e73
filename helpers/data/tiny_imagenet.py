"""Tiny ImageNet-200 for notebook 01: 190 classes to train on, the last 10 kept out (OOD)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.data import sources
from helpers.data.decode import cached_decode
from helpers.data.splits import ImageSplits, check_count, fraction_split


def load_tiny_imagenet(
    num_train_classes: int = 190,
    seed: int = 42,
    max_per_class: int | None = None,
    *,
    num_ood_classes: int = 10,
    progress: bool = True,
    allow_sample: bool = False,
) -> ImageSplits:
    """Tiny ImageNet's ``train/`` images, split as notebook 01 needs, uint8 and in memory.

    Classes are numbered by sorted wnid. The first ``num_train_classes`` make the
    classification data: their images are shuffled with ``seed`` and cut into 10% validation,
    10% test and 80% train. The last ``num_ood_classes`` are the out-of-domain retrieval set,
    shuffled with the same generator. With the full archive that is 76,000 / 9,500 / 9,500
    and 5,000 OOD images.

    Parameters
    ----------
    num_train_classes : int
        How many of the first classes (sorted wnids) to classify.
    seed : int
        Seed of the split (``numpy.random.default_rng``).
    max_per_class : int, optional
        Keep only the first images of each class (natural file order); None keeps all.
    num_ood_classes : int
        How many of the last classes form the OOD set.
    progress : bool
        Show a progress bar while decoding (only on the first load; later loads read the
        decoded ``.npy`` cache).
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    ImageSplits
        ``train``, ``val``, ``test``, ``ood``: pairs ``(images uint8 (n, 64, 64, 3), labels
        int64 (n,))``; in-domain labels are ``0 .. num_train_classes - 1``, OOD labels their
        class index (e.g. 190 .. 199), so ``class_names[label]`` always names the class.
        ``class_names``: all classes' first names from ``words.txt`` (``'meat loaf'``);
        ``wnids``; ``words``: the full ``words.txt`` entries; ``source`` / ``is_subset`` /
        ``describe()`` say where the data came from.

    Notes
    -----
    Greyscale JPEGs are expanded to 3 channels. The four splits are views into one array
    decoded in split order, so no image is held twice (the full set is 1.2 GB).
    The mirror's archive is a subset (150 images for most classes): ``is_subset`` is then True.

    Examples
    --------
    >>> load_tiny_imagenet(num_train_classes=0)
    Traceback (most recent call last):
    ...
    ValueError: num_train_classes must be an int >= 1; got 0.
    """
    check_count("num_train_classes", num_train_classes)
    check_count("num_ood_classes", num_ood_classes, 0)
    check_count("max_per_class", max_per_class, allow_none=True)

    fetched = sources.fetch("tiny_imagenet", allow_sample=allow_sample)
    root = fetched.path
    wnids = sorted((root / "wnids.txt").read_text().split())
    if num_train_classes + num_ood_classes > len(wnids):
        raise ValueError(
            f"num_train_classes + num_ood_classes = {num_train_classes + num_ood_classes} "
            f"but the data has {len(wnids)} classes."
        )
    words = read_words(root / "words.txt", wnids)
    classes = list(range(num_train_classes)) + list(range(len(wnids) - num_ood_classes, len(wnids)))
    files = {c: _class_files(root, wnids[c], max_per_class) for c in classes}

    def gather(class_ids):
        paths = [path for c in class_ids for path in files[c]]
        labels = np.concatenate([np.full(len(files[c]), c, np.int64) for c in class_ids] or [[]])
        return paths, labels.astype(np.int64)

    in_paths, in_labels = gather(classes[:num_train_classes])
    ood_paths, ood_labels = gather(classes[num_train_classes:])
    val, test, train = fraction_split(len(in_paths), [0.1, 0.1], seed)
    ood = np.random.default_rng(seed).permutation(len(ood_paths))
    order = [(in_paths, in_labels, part) for part in (train, val, test)] + [
        (ood_paths, ood_labels, ood)
    ]
    paths = [p[i] for p, _, part in order for i in part]
    images = cached_decode(paths, root, progress=progress)
    splits, start = {}, 0
    for name, (_, labels, part) in zip(("train", "val", "test", "ood"), order):
        splits[name] = (images[start : start + len(part)], labels[part])
        start += len(part)
    names = [entry.split(",")[0].strip() for entry in words]
    return ImageSplits(splits, names, fetched, extra={"wnids": wnids, "words": words})


def read_words(path: Path, wnids: list[str]) -> list[str]:
    """The ``words.txt`` entry of every wnid (the wnid itself when it has none)."""
    wanted = set(wnids)
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            wnid, _, entry = line.rstrip("\n").partition("\t")
            if wnid in wanted:
                found[wnid] = entry.strip()
    return [found.get(wnid, wnid) for wnid in wnids]


def class_images(root: Path, wnid: str, max_count: int | None = None) -> list[Path]:
    """A class's training JPEGs in natural order (``_2`` before ``_10``), at most ``max_count``."""
    return [Path(path) for path in _class_files(root, wnid, max_count)]


def _class_files(root: Path, wnid: str, max_count: int | None) -> list[str]:
    # strings and os.scandir, not pathlib: 100,000 Path objects cost about a second
    folder = os.path.join(root, "train", wnid, "images")
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{folder} is missing: the unpacked Tiny ImageNet is incomplete; "
            f"delete {root.parent} and load again."
        )
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries if entry.name.endswith(".JPEG")]
    names.sort(key=_natural_key)
    if max_count is not None:
        names = names[:max_count]
    return [os.path.join(folder, name) for name in names]


def _natural_key(name: str):
    number = name.rsplit("_", 1)[-1].split(".", 1)[0]
    return (int(number) if number.isdigit() else -1, name)
