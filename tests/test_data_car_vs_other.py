"""Tests of helpers.data.car_vs_other: the a5_images layout, labels, building from Tiny ImageNet."""

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from helpers.data import car_vs_other, sources
from helpers.data.archives import Archive
from helpers.data.car_vs_other import load_car_vs_other
from helpers.data.sources import DataSource


def _jpeg(value):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (value, value, value)).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    for name in ("car_vs_other", "tiny_imagenet"):
        entry = sources.REGISTRY[name]
        monkeypatch.setitem(
            sources.REGISTRY,
            name,
            DataSource(
                **{**entry.__dict__, "archives": (Archive(entry.archives[0].filename, None),)}
            ),
        )
    return tmp_path


def test_labels_are_other_0_and_car_1_whatever_the_file_order(env):
    path = env / "cache" / "car_vs_other" / "a5_images.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        for split, count in (("train", 3), ("validation", 2)):
            for kind, value in (("car", 200), ("other", 40)):
                for number in range(count):
                    archive.writestr(f"a5_images/{split}/{kind}/{number:04d}.jpg", _jpeg(value))
    data = load_car_vs_other()
    images, labels = data.train
    assert images.dtype == np.uint8 and images.shape == (6, 64, 64, 3)
    # bright images are cars: label 1 exactly where the pixel is bright
    assert labels.tolist() == (images[:, 0, 0, 0] > 120).astype(int).tolist()
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert len(data.val[1]) == 4 and data.class_names == ["other", "car"]


def test_without_an_archive_it_is_built_from_tiny_imagenet_car_classes(env, monkeypatch):
    monkeypatch.setattr(car_vs_other, "SPLIT_SIZES", {"train": 4, "validation": 2})
    path = env / "cache" / "tiny_imagenet" / "tiny-imagenet-200.zip"
    path.parent.mkdir(parents=True)
    # Tiny ImageNet's five car classes (beach wagon, convertible, limousine, police van, sports
    # car), written out here rather than read from the module, then a bullet train (a vehicle,
    # never "other"), a goldfish and an espresso.
    cars = ["n02814533", "n03100240", "n03670208", "n03977966", "n04285008"]
    bullet_train = "n02917067"
    wnids = cars + [bullet_train, "n01443537", "n07920052"]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tiny-imagenet-200/wnids.txt", "\n".join(wnids))
        for wnid in wnids:
            value = 220 if wnid in cars else 120 if wnid == bullet_train else 30
            for number in range(3):
                archive.writestr(
                    f"tiny-imagenet-200/train/{wnid}/images/{wnid}_{number}.JPEG", _jpeg(value)
                )
    data = load_car_vs_other()
    assert data.source == "built from Tiny ImageNet"
    images = np.concatenate([data.train[0], data.val[0]])
    labels = np.concatenate([data.train[1], data.val[1]])
    assert np.bincount(labels).tolist() == [6, 6]
    brightness = images[:, 0, 0, 0].astype(int)
    assert (brightness[labels == 1] > 200).all() and (brightness[labels == 0] < 60).all()  # no bus
    sources_tsv = (data.fetched.path / "SOURCES.tsv").read_text().splitlines()
    assert len(sources_tsv) == 12 and all(line.split("\t")[1] in wnids for line in sources_tsv)
    assert load_car_vs_other().source == "cache"


@pytest.mark.skipif(
    not os.environ.get("COURSE_DATA_MIRROR"),
    reason="COURSE_DATA_MIRROR is unset: no local mirror to check against",
)
def test_the_mirror_archive_has_spec_05_sizes(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    data = load_car_vs_other()
    assert data.source == "mirror"
    assert np.bincount(data.train[1]).tolist() == [800, 800]
    assert np.bincount(data.val[1]).tolist() == [288, 288]
    with zipfile.ZipFile(os.path.join(os.environ["COURSE_DATA_MIRROR"], "a5_images.zip")) as z:
        first_car = np.asarray(Image.open(z.open("a5_images/train/car/0000.jpg")).convert("RGB"))
    first_car_index = int(np.flatnonzero(data.train[1] == 1)[0])
    assert np.abs(data.train[0][first_car_index].astype(int) - first_car).mean() < 2.0
