"""Seeded splits shared by the loaders, and the object every loader returns its data in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from helpers.data.sources import FetchedData, FromSource


def fraction_split(count: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Shuffle ``range(count)`` with ``seed`` and cut it into leading parts plus the rest.

    Part ``i`` has ``int(count * fractions[i])`` indices; the last part holds what remains.
    Notebook 01's split: ``fraction_split(95_000, [0.1, 0.1], 42)`` gives
    validation (9,500), test (9,500) and train (76,000) indices.

    Parameters
    ----------
    count : int
        Number of items.
    fractions : sequence of float
        Fractions of the leading parts, summing to at most 1.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    list of int arrays
        ``len(fractions) + 1`` disjoint index arrays covering ``range(count)``.

    Examples
    --------
    >>> [len(part) for part in fraction_split(95_000, [0.1, 0.1], seed=42)]
    [9500, 9500, 76000]
    """
    if count < 0 or any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise ValueError(
            f"need count >= 0 and fractions >= 0 summing to <= 1; got {count}, {fractions}."
        )
    order = np.random.default_rng(seed).permutation(count)
    cuts = np.cumsum([int(count * fraction) for fraction in fractions])
    return np.split(order, cuts)


def per_class_split(
    labels: np.ndarray, counts: Sequence[int], seed: int, *, short_last: bool = False
) -> list[np.ndarray]:
    """For every class, shuffle its items with ``seed`` and take ``counts`` of them in turn.

    The parts are taken in the order given, so with ``counts=(n_val, n_test, n_train)`` the
    validation and test parts are the same for every ``n_train``: a sweep over ``n_train``
    is measured on one fixed test set.

    Parameters
    ----------
    labels : (n,) int array
        Class of every item.
    counts : sequence of int
        Items per class in each part.
    seed : int
        Seed of ``numpy.random.default_rng``; classes are visited in increasing label order.
    short_last : bool
        False: a class with fewer items than ``sum(counts)`` is an error. True: such a class
        fills the leading parts and gives the last part what remains (at least one item);
        :func:`short_classes` lists these classes. The shuffles do not depend on ``counts``,
        so the leading parts stay the same for every size of the last.

    Returns
    -------
    list of int arrays
        One index array per part, sorted by class then by shuffled position.

    Raises
    ------
    ValueError
        If a class has fewer items than ``sum(counts)`` (with ``short_last``: fewer than
        ``sum(counts[:-1]) + 1``); the message names it.

    Examples
    --------
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> [part.tolist() for part in per_class_split(labels, [1, 2], seed=0)]
    [[2, 5], [0, 1, 4, 3]]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in counts]
    needed = int(sum(counts[:-1])) + 1 if short_last and len(counts) else int(sum(counts))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < needed:
            raise ValueError(
                f"class {label} has {len(members)} items but the split needs "
                f"{'at least ' if short_last else ''}{needed} "
                f"({' + '.join(map(str, counts))}); ask for fewer per class."
            )
        shuffled = members[rng.permutation(len(members))]
        start = 0
        for part, count in zip(parts, counts):
            part.append(shuffled[start : start + count])
            start += count
    return [np.concatenate(part) if part else np.zeros(0, int) for part in parts]


def short_classes(labels: np.ndarray, counts: Sequence[int]) -> dict[int, int]:
    """Classes too small for ``counts``: class -> items left for the last part.

    The report that goes with ``per_class_split(..., short_last=True)``.

    Examples
    --------
    >>> short_classes(np.array([0, 0, 0, 1, 1, 1, 1, 1]), [1, 4])
    {0: 2}
    """
    classes, sizes = np.unique(np.asarray(labels), return_counts=True)
    leading, wanted = int(sum(counts[:-1])), int(counts[-1])
    return {
        int(label): int(size) - leading
        for label, size in zip(classes, sizes)
        if size - leading < wanted
    }


class Split(tuple):
    """One split: the pair ``(images, labels)``, also as ``.images`` and ``.labels``.

    Per-item extras of a data set ride along as attributes (VOC's ``.difficult`` and
    ``.image_ids``). A tuple, so ``x, y = data.train`` works.

    Examples
    --------
    >>> part = Split(np.zeros((2, 4, 4, 3)), np.array([0, 1]), image_ids=np.array(["a", "b"]))
    >>> x, y = part
    >>> (x is part.images, y.tolist(), part.image_ids.tolist(), len(part))
    (True, [0, 1], ['a', 'b'], 2)
    """

    def __new__(cls, images, labels, **extras):
        split = super().__new__(cls, (images, labels))
        split.__dict__.update(extras)
        return split

    @property
    def images(self):
        return self[0]

    @property
    def labels(self):
        return self[1]


#: The names every loader gives its splits (its archive's own folder names stay on disk).
SPLIT_NAMES = ("train", "val", "trainval", "test", "ood", "all")


@dataclass
class ImageSplits(FromSource):
    """What every loader returns: its splits by name, class names and where the data came from.

    Each split is an attribute (``data.train``, ``data.val``, ``data.test``, ...) holding a
    :class:`Split` ``(images uint8 (n, h, w, 3) or file paths, labels (n,))``.
    """

    splits: dict[str, tuple]
    class_names: list[str]
    fetched: FetchedData
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        unknown = [name for name in self.splits if name not in SPLIT_NAMES]
        if unknown:
            raise ValueError(f"split names {unknown} are not among {SPLIT_NAMES}.")
        self.splits = {
            name: part if isinstance(part, Split) else Split(*part)
            for name, part in self.splits.items()
        }
        self.class_names = list(self.class_names)

    def __getattr__(self, name: str):
        splits = self.__dict__.get("splits", {})
        if name in splits:
            return splits[name]
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"no split or attribute {name!r}; splits are {list(splits)}.")

    def describe(self) -> str:
        """Source and split sizes in one line, for the notebook's first output."""
        sizes = ", ".join(f"{name} {len(pair[1]):,}" for name, pair in self.splits.items())
        return f"{self.fetched.describe()}; {len(self.class_names)} classes; {sizes}"


def check_count(name: str, value, minimum: int = 1, *, allow_none: bool = False) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an int >= ``minimum`` (or None).

    Examples
    --------
    >>> check_count("n_train", 0)
    Traceback (most recent call last):
    ...
    ValueError: n_train must be an int >= 1; got 0.
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an int >= {minimum}{none}; got {value!r}.")


def split_image_files(
    fetched: FetchedData,
    paths: Sequence,
    labels: np.ndarray,
    class_names: list[str],
    parts: dict[str, int],
    seed: int,
    *,
    image_size: int | None,
    decode: bool,
    progress: bool,
) -> ImageSplits:
    """Per-class seeded split of image files, decoded to uint8 arrays or kept as paths.

    ``parts`` maps split name to images per class, taken in the order given (see
    :func:`per_class_split`); the returned splits are in the usual train / val / test order.
    """
    from helpers.data.decode import cached_decode

    indices = dict(zip(parts, per_class_split(labels, list(parts.values()), seed)))
    paths = np.array([str(path) for path in paths])
    splits = {}
    for name in sorted(
        parts,
        key=lambda part: (
            ("train", "val", "test").index(part) if part in ("train", "val", "test") else 3
        ),
    ):
        chosen = indices[name]
        files = paths[chosen]
        images = (
            cached_decode(list(files), fetched.path, image_size, progress=progress)
            if decode and len(files)
            else files
        )
        splits[name] = (images, labels[chosen].astype(np.int64))
    return ImageSplits(splits, class_names, fetched)
