"""Tests of helpers.data.urban_tribes on a small zip with tribes in the file-name prefixes."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from helpers.data import sources
from helpers.data.archives import Archive
from helpers.data.sources import DataSource
from helpers.data.urban_tribes import load_urban_tribes

TRIBES = {"surfer": 6, "Biker": 7, "goth": 6}


@pytest.fixture
def tribes(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    entry = sources.REGISTRY["urban_tribes"]
    monkeypatch.setitem(
        sources.REGISTRY,
        "urban_tribes",
        DataSource(**{**entry.__dict__, "archives": (Archive("pictures_all.zip", None),)}),
    )
    path = tmp_path / "cache" / "urban_tribes" / "pictures_all.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        for tribe, count in TRIBES.items():
            for number in range(count):
                buffer = io.BytesIO()
                Image.new("RGB", (40, 30), (len(tribe) * 20, number * 20, 0)).save(
                    buffer, "JPEG", quality=100
                )
                archive.writestr(f"pictures_all/{tribe}_{number:03d}.jpg", buffer.getvalue())


def test_tribes_come_from_the_file_name_prefix_in_sorted_order(tribes):
    data = load_urban_tribes(n_train=2, n_test=3, image_size=8, progress=False)
    assert data.class_names == ["biker", "goth", "surfer"]
    images, labels = data.test
    assert np.bincount(labels).tolist() == [3, 3, 3]
    # red encodes the prefix length: biker 5, goth 4, surfer 6 letters
    assert images[:, 4, 4, 0].astype(int).tolist() == pytest.approx(
        [[100, 80, 120][label] for label in labels], abs=3
    )


def test_splits_match_an_independent_per_tribe_shuffle(tribes):
    data = load_urban_tribes(n_train=2, n_test=3, seed=3, decode=False)
    rng = np.random.default_rng(3)
    files = {
        name: sorted(
            f"{t}_{n:03d}.jpg" for t in TRIBES if t.lower() == name for n in range(TRIBES[t])
        )
        for name in ("biker", "goth", "surfer")
    }
    expected_test, expected_train = [], []
    for name in ("biker", "goth", "surfer"):
        shuffled = [files[name][i] for i in rng.permutation(len(files[name]))]
        expected_test += shuffled[:3]
        expected_train += shuffled[3:5]
    assert [p.rsplit("/", 1)[-1] for p in data.test[0]] == expected_test
    assert [p.rsplit("/", 1)[-1] for p in data.train[0]] == expected_train


def test_too_few_pictures_for_the_split_is_a_clear_error(tribes):
    with pytest.raises(ValueError, match="needs 7"):
        load_urban_tribes(n_train=1, n_test=6, decode=False)


def test_urban_tribes_files_lists_every_picture_with_its_tribe(tribes):
    from helpers.data.urban_tribes import urban_tribes_files

    files = urban_tribes_files()
    paths, labels = files.all
    names = [p.rsplit("/", 1)[1] for p in paths]
    assert names == sorted(
        f"{tribe}_{number:03d}.jpg" for tribe, count in TRIBES.items() for number in range(count)
    )
    assert [files.class_names[label] for label in labels] == [
        name.split("_")[0].lower() for name in names
    ]
