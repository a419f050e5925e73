"""Tests of helpers.data.caltech256 on a small tar in the official layout."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from helpers.data import sources
from helpers.data.archives import Archive
from helpers.data.caltech256 import load_caltech256
from helpers.data.sources import DataSource

CLASSES = ["001.ak47", "002.american-flag", "003.backpack"]
PER_CLASS = 9


def _jpeg(value, size):
    buffer = io.BytesIO()
    Image.new("RGB", size, (value, value, 0)).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


@pytest.fixture
def caltech(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    entry = sources.REGISTRY["caltech256"]
    monkeypatch.setitem(
        sources.REGISTRY,
        "caltech256",
        DataSource(**{**entry.__dict__, "archives": (Archive("256_ObjectCategories.tar", None),)}),
    )
    path = tmp_path / "cache" / "caltech256" / "256_ObjectCategories.tar"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w") as archive:
        for label, folder in enumerate(CLASSES + ["257.clutter"]):
            for number in range(1, PER_CLASS + 1):
                data = _jpeg(10 * label + number, (30 + number, 20))  # sizes differ, as in Caltech
                info = tarfile.TarInfo(
                    f"256_ObjectCategories/{folder}/{folder[:3]}_{number:04d}.jpg"
                )
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def test_per_class_splits_match_an_independent_shuffle_and_drop_clutter(caltech):
    data = load_caltech256(n_train=3, n_val=2, n_test=2, seed=7, image_size=12, progress=False)
    assert data.class_names == ["ak47", "american-flag", "backpack"]
    rng = np.random.default_rng(7)
    expected = {"val": [], "test": [], "train": []}
    for label in range(3):
        numbers = [1 + i for i in rng.permutation(PER_CLASS)]
        expected["val"] += [10 * label + n for n in numbers[:2]]
        expected["test"] += [10 * label + n for n in numbers[2:4]]
        expected["train"] += [10 * label + n for n in numbers[4:7]]
    for name, values in expected.items():
        images, labels = getattr(data, name)
        assert images.shape[1:] == (12, 12, 3)
        assert images[:, 6, 6, 0].astype(int).tolist() == pytest.approx(values, abs=2)
        assert labels.tolist() == [v // 10 for v in values]


def test_the_test_set_is_the_same_for_every_n_train(caltech):
    small = load_caltech256(n_train=1, n_val=2, n_test=2, decode=False)
    large = load_caltech256(n_train=5, n_val=2, n_test=2, decode=False)
    assert small.test[0].tolist() == large.test[0].tolist()
    assert set(small.train[0]) <= set(large.train[0])
    assert not any("clutter" in path for path in large.train[0])


def test_asking_for_more_images_than_a_class_has_names_the_class(caltech):
    with pytest.raises(ValueError, match="class 0 has 9 items but the split needs 10"):
        load_caltech256(n_train=6, n_val=2, n_test=2, decode=False)


def test_caltech256_files_lists_every_picture_but_clutter_with_its_class(caltech):
    from helpers.data.caltech256 import caltech256_files

    files = caltech256_files()
    paths, labels = files.all
    expected = [
        f"{folder}/{folder[:3]}_{number:04d}.jpg"
        for folder in CLASSES
        for number in range(1, PER_CLASS + 1)
    ]
    assert [p.split("256_ObjectCategories/")[1] for p in paths] == expected
    assert labels.tolist() == [label for label in range(3) for _ in range(PER_CLASS)]
    assert files.class_names == ["ak47", "american-flag", "backpack"]
