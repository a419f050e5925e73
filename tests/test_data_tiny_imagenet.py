"""Tests of helpers.data.tiny_imagenet on a small archive in the official layout, and the mirror."""

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from helpers.data import sources
from helpers.data.archives import Archive
from helpers.data.sources import DataSource
from helpers.data.tiny_imagenet import load_tiny_imagenet

WNIDS = ["n01000001", "n01000002", "n01000003", "n01000004", "n09000001", "n09000002"]
PER_CLASS = 12


def _jpeg(colour, grey=False):
    buffer = io.BytesIO()
    image = Image.new("L", (64, 64), colour[0]) if grey else Image.new("RGB", (64, 64), colour)
    image.save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


def _colour(class_index, number):
    # a flat colour that encodes class and image number, so pixels identify the file;
    # (1, 1) is grey (30, 30, 30), so it is the one stored as a greyscale JPEG
    return (20 * class_index + 10, 20 * number + 10, 100)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    entry = sources.REGISTRY["tiny_imagenet"]
    monkeypatch.setitem(
        sources.REGISTRY,
        "tiny_imagenet",
        DataSource(**{**entry.__dict__, "archives": (Archive("tiny-imagenet-200.zip", None),)}),
    )
    path = tmp_path / "cache" / "tiny_imagenet" / "tiny-imagenet-200.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tiny-imagenet-200/wnids.txt", "\n".join(reversed(WNIDS)) + "\n")
        words = [f"{w}\tthing {i}, other name" for i, w in enumerate(WNIDS)] + ["n00000000\tentity"]
        archive.writestr("tiny-imagenet-200/words.txt", "\n".join(words) + "\n")
        for c, wnid in enumerate(WNIDS):
            for number in range(PER_CLASS):
                archive.writestr(
                    f"tiny-imagenet-200/train/{wnid}/images/{wnid}_{number}.JPEG",
                    _jpeg(_colour(c, number), grey=(c == 1 and number == 1)),
                )
            archive.writestr(f"tiny-imagenet-200/train/{wnid}/{wnid}_boxes.txt", "")
    return tmp_path


def _identify(images):
    """(class, number) of each flat-coloured image, read back from its centre pixel."""
    centre = images[:, 32, 32].astype(int)
    return [(int(round((r - 10) / 20)), int(round((g - 10) / 20))) for r, g, _ in centre]


def test_splits_follow_spec_01_computed_independently(tiny):
    data = load_tiny_imagenet(num_train_classes=4, seed=42, num_ood_classes=2, progress=False)
    # independent computation: files in class then natural order, one permutation, 10/10/80
    in_domain = [(c, n) for c in range(4) for n in range(PER_CLASS)]
    order = np.random.default_rng(42).permutation(len(in_domain))
    n_val = int(len(in_domain) * 0.1)
    expected = {"val": order[:n_val], "test": order[n_val : 2 * n_val], "train": order[2 * n_val :]}
    for name, indices in expected.items():
        images, labels = getattr(data, name)
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        wanted = [in_domain[i] for i in indices]
        assert labels.tolist() == [c for c, _ in wanted]
        assert _identify(images) == wanted
    ood = [(c, n) for c in (4, 5) for n in range(PER_CLASS)]
    ood_order = np.random.default_rng(42).permutation(len(ood))
    assert data.ood[1].tolist() == [ood[i][0] for i in ood_order]
    assert data.class_names == [f"thing {i}" for i in range(6)]
    assert data.words[0] == "thing 0, other name"
    assert data.source == "cache" and not data.is_subset


def test_greyscale_images_become_three_equal_channels(tiny):
    data = load_tiny_imagenet(num_train_classes=4, num_ood_classes=2, progress=False)
    images = np.concatenate([data.train[0], data.val[0], data.test[0]])
    labels = np.concatenate([data.train[1], data.val[1], data.test[1]])
    grey = [
        img
        for img, label in zip(images, labels)
        if label == 1 and abs(int(img[32, 32, 1]) - 30) < 3
    ]
    assert len(grey) == 1
    assert (grey[0][..., 0] == grey[0][..., 1]).all() and (grey[0][..., 1] == grey[0][..., 2]).all()


def test_max_per_class_keeps_the_first_files_in_natural_order(tiny):
    data = load_tiny_imagenet(
        num_train_classes=4, num_ood_classes=2, max_per_class=3, progress=False
    )
    numbers = sorted(
        n for _, n in _identify(np.concatenate([data.train[0], data.val[0], data.test[0]]))
    )
    assert numbers == sorted([0, 1, 2] * 4)
    assert len(data.ood[1]) == 6


def test_too_many_classes_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="the data has 6 classes"):
        load_tiny_imagenet(num_train_classes=5, num_ood_classes=2, progress=False)


@pytest.mark.skipif(
    not os.environ.get("COURSE_DATA_MIRROR"),
    reason="COURSE_DATA_MIRROR is unset: no local mirror to check against",
)
def test_the_mirror_subset_loads_with_the_spec_ood_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    data = load_tiny_imagenet(max_per_class=10, progress=False)
    assert data.source == "mirror" and data.is_subset
    assert data.class_names[190:] == [
        "meat loaf",
        "pizza",
        "potpie",
        "espresso",
        "alp",
        "cliff",
        "coral reef",
        "lakeside",
        "seashore",
        "acorn",
    ]
    assert [len(getattr(data, s)[1]) for s in ("train", "val", "test", "ood")] == [
        1520,
        190,
        190,
        100,
    ]
    assert set(data.ood[1].tolist()) == set(range(190, 200))
    with zipfile.ZipFile(
        os.path.join(os.environ["COURSE_DATA_MIRROR"], "tiny-imagenet-200.zip")
    ) as z:
        first = sorted(n for n in z.namelist() if "/n01443537/images/" in n)
        expected = np.asarray(
            Image.open(z.open(min(first, key=lambda n: int(n.split("_")[-1][:-5])))).convert("RGB")
        )
    train_images, train_labels = data.train
    candidates = np.concatenate(
        [
            train_images[train_labels == 0],
            data.val[0][data.val[1] == 0],
            data.test[0][data.test[1] == 0],
        ]
    )
    assert min(np.abs(c.astype(int) - expected).mean() for c in candidates) < 2.0
