"""Tests of helpers.data.fashion_mnist on IDX files written in the test, and the system copy."""

import gzip
import os
import struct

import numpy as np
import pytest

from helpers.data import sources
from helpers.data.archives import Archive
from helpers.data.fashion_mnist import load_fashion_mnist, read_idx
from helpers.data.sources import DataSource

SYSTEM = "/usr/share/datasets/fashion-mnist"


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    entry = sources.REGISTRY["fashion_mnist"]
    monkeypatch.setitem(
        sources.REGISTRY,
        "fashion_mnist",
        DataSource(
            **{
                **entry.__dict__,
                "system_dirs": (),
                "archives": tuple(Archive(a.filename, None) for a in entry.archives),
            }
        ),
    )
    folder = tmp_path / "cache" / "fashion_mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    arrays = {
        "train": (rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)),
        "t10k": (rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)),
    }
    for prefix, (images, labels) in arrays.items():
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return arrays


def test_idx_files_load_like_keras_load_data(fake_files):
    data = load_fashion_mnist()
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    assert x_train.dtype == np.uint8 and x_train.shape == (12, 28, 28)
    assert np.array_equal(x_train, fake_files["train"][0]) and np.array_equal(
        y_test, fake_files["t10k"][1]
    )
    assert np.array_equal(x_test, fake_files["t10k"][0]) and np.array_equal(
        y_train, fake_files["train"][1]
    )


def test_the_result_says_where_it_came_from_and_can_be_shrunk(fake_files):
    data = load_fashion_mnist(max_train=4)
    assert data.source == "cache" and len(data.train.images) == 4 and len(data.test.images) == 5
    assert data.class_names[9] == "Ankle boot"


def test_a_truncated_idx_file_is_refused(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(struct.pack(">HBBI", 0, 8, 1, 10) + bytes(4))
    with pytest.raises(ValueError, match="header promises"):
        read_idx(path)


@pytest.mark.skipif(
    not os.path.isdir(SYSTEM), reason="Debian package dataset-fashion-mnist not installed"
)
def test_the_system_copy_gives_the_official_sizes_and_balanced_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    data = load_fashion_mnist()
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    assert data.source == "system" or data.source == "cache"
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert (
        np.bincount(y_train).tolist() == [6_000] * 10
        and np.bincount(y_test).tolist() == [1_000] * 10
    )
    with gzip.open(os.path.join(SYSTEM, "t10k-images-idx3-ubyte.gz")) as handle:
        raw = np.frombuffer(handle.read(), np.uint8, offset=16)
    assert np.array_equal(x_test.ravel(), raw)
