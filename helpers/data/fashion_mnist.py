"""FashionMNIST for notebook 03, read from the four official IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from helpers.data import sources
from helpers.data.splits import ImageSplits, check_count

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_fashion_mnist(
    max_train: int | None = None, max_test: int | None = None, *, allow_sample: bool = False
) -> ImageSplits:
    """FashionMNIST as uint8 arrays, like ``keras.datasets.fashion_mnist.load_data()``.

    Parameters
    ----------
    max_train, max_test : int, optional
        Keep only the first images of each split (the files are already shuffled, so the
        classes stay balanced). None keeps all 60,000 / 10,000.
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    ImageSplits
        ``train`` and ``test``: ``(images uint8 (n, 28, 28), labels uint8 (n,))``, as
        ``keras.datasets.fashion_mnist.load_data()`` gives them; ``class_names``, ``source``,
        ``describe()``.

    Notes
    -----
    The files come from the cache, the mirror, the Keras cache
    (``~/.keras/datasets/fashion-mnist``), the Debian package ``dataset-fashion-mnist``
    (``/usr/share/datasets/fashion-mnist``) or the official URL, in that order. The Debian
    files are re-compressed (other md5), so they are checked by their IDX headers instead.

    Examples
    --------
    >>> load_fashion_mnist(max_train=0)
    Traceback (most recent call last):
    ...
    ValueError: max_train must be an int >= 1 or None; got 0.
    """
    check_count("max_train", max_train, allow_none=True)
    check_count("max_test", max_test, allow_none=True)
    fetched = sources.fetch("fashion_mnist", allow_sample=allow_sample)
    splits = {}
    for split, prefix, limit in (("train", "train", max_train), ("test", "t10k", max_test)):
        images = read_idx(fetched.path / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(fetched.path / f"{prefix}-labels-idx1-ubyte.gz")
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{fetched.path}: {prefix} images {images.shape} and labels "
                f"{labels.shape} do not match; the files are damaged."
            )
        splits[split] = (images[:limit], labels[:limit])
    return ImageSplits(splits, list(CLASS_NAMES), fetched)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) of unsigned bytes into an array of its shape.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
    >>> _ = path.write_bytes(struct.pack(">II", 2049, 3) + bytes([7, 8, 9]))
    >>> read_idx(path).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path.name} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"{path.name} holds {len(data):,} bytes but its header promises "
            f"{expected:,} (truncated?)."
        )
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)
