"""Tests of helpers.data.samples: official layouts, determinism and learnable classes."""

import gzip
import hashlib
import tarfile
import xml.etree.ElementTree as ElementTree
import zipfile

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from helpers.data.samples import BUILDERS, write_sample_archives
from helpers.data.samples.drawing import NUM_STYLES, class_style, draw_image
from helpers.data.samples.layouts import draw_car


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return {name: write_sample_archives(name, tmp_path_factory.mktemp(name)) for name in BUILDERS}


def test_tiny_imagenet_sample_has_the_official_layout_and_real_ood_classes_last(built):
    (path,) = built["tiny_imagenet"]
    assert path.name == "tiny-imagenet-200.zip"
    names = zipfile.ZipFile(path).namelist()
    archive = zipfile.ZipFile(path)
    wnids = archive.read("tiny-imagenet-200/wnids.txt").decode().split()
    # SPEC 01's ten OOD classes (meat loaf ... acorn), as the real archive's words.txt names them
    assert len(wnids) == 200 and sorted(wnids)[-10:] == [
        "n07871810",
        "n07873807",
        "n07875152",
        "n07920052",
        "n09193705",
        "n09246464",
        "n09256479",
        "n09332890",
        "n09428293",
        "n12267677",
    ]
    words = dict(
        line.split("\t")
        for line in archive.read("tiny-imagenet-200/words.txt").decode().splitlines()
    )
    assert words["n07873807"] == "pizza, pizza pie" and set(words) == set(wnids)
    for wnid in (wnids[0], "n12267677"):
        assert f"tiny-imagenet-200/train/{wnid}/images/{wnid}_0.JPEG" in names
        assert f"tiny-imagenet-200/train/{wnid}/{wnid}_boxes.txt" in names
    assert "tiny-imagenet-200/val/val_annotations.txt" in names


def test_voc_sample_tars_hold_annotations_with_difficult_flags_for_every_image(built):
    trainval, test = built["voc2007"]
    assert (trainval.name, test.name) == ("VOCtrainval_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar")
    difficult_flags = []
    for path, image_set in ((trainval, "trainval"), (test, "test")):
        with tarfile.open(path) as archive:
            ids = (
                archive.extractfile(f"VOCdevkit/VOC2007/ImageSets/Main/{image_set}.txt")
                .read()
                .split()
            )
            names = set(archive.getnames())
            for image_id in ids:
                image_id = image_id.decode()
                assert f"VOCdevkit/VOC2007/JPEGImages/{image_id}.jpg" in names
                root = ElementTree.parse(
                    archive.extractfile(f"VOCdevkit/VOC2007/Annotations/{image_id}.xml")
                ).getroot()
                difficult_flags += [int(o.findtext("difficult")) for o in root.iter("object")]
    assert 0 < np.mean(difficult_flags) < 0.3


def test_urban_tribes_and_caltech_samples_name_classes_as_the_real_archives_do(built):
    names = zipfile.ZipFile(built["urban_tribes"][0]).namelist()
    assert {n.split("/")[1].split("_")[0] for n in names} == {
        "biker",
        "clubber",
        "country",
        "formal",
        "goth",
        "heavy",
        "hiphop",
        "hipster",
        "others",
        "ravers",
        "surfer",
    }
    with tarfile.open(built["caltech256"][0]) as archive:
        folders = {n.split("/")[1] for n in archive.getnames()}
    assert "257.clutter" in folders and "001.red-disc-plain" in folders


def test_fashion_and_car_samples_have_the_official_file_names(built):
    assert sorted(p.name for p in built["fashion_mnist"]) == sorted(
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )
    with gzip.open(built["fashion_mnist"][0]) as handle:
        assert handle.read(8) == bytes.fromhex("00000803") + (6000).to_bytes(4, "big")
    names = zipfile.ZipFile(built["car_vs_other"][0]).namelist()
    assert (
        "a5_images/train/car/0000.jpg" in names and "a5_images/validation/other/0071.jpg" in names
    )


def test_building_a_sample_twice_gives_identical_bytes(built, tmp_path):
    for name in ("voc2007", "car_vs_other"):
        again = write_sample_archives(name, tmp_path / name)
        assert len(again) == len(built[name]) > 0
        for first, second in zip(built[name], again):
            assert (
                hashlib.sha256(first.read_bytes()).digest()
                == hashlib.sha256(second.read_bytes()).digest()
            )


def test_all_styles_are_distinct():
    styles = {(s.shape, s.colour, s.texture) for s in map(class_style, range(NUM_STYLES))}
    assert len(styles) == NUM_STYLES


def _learnability(images, labels):
    features = images.reshape(len(images), -1).astype(np.float32) / 255
    half = len(images) // 2
    # 1-nearest-neighbour on raw pixels: if even this beats chance clearly, a CNN will learn
    model = KNeighborsClassifier(1).fit(features[:half], labels[:half])
    return model.score(features[half:], labels[half:])


def test_ten_sample_classes_are_learnable_from_raw_pixels():
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 30)
    images = np.stack([draw_image(class_style(int(c)), rng, 16, 16) for c in labels])
    assert _learnability(images, labels) > 0.4  # chance is 0.1


def test_cars_are_separable_from_other_sample_images():
    rng = np.random.default_rng(1)
    cars = [draw_car(rng, 24, 24) for _ in range(60)]
    others = [draw_image(class_style(int(rng.integers(0, 48))), rng, 24, 24) for _ in range(60)]
    images = np.stack([im for pair in zip(cars, others) for im in pair])
    labels = np.tile([1, 0], 60)
    assert _learnability(images, labels) > 0.7  # chance is 0.5
