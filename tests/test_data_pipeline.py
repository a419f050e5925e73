"""Tests of helpers.data.pipeline.make_dataset against numpy slicing done in the test."""

import numpy as np
import pytest
from PIL import Image

from helpers.data.pipeline import make_dataset


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)


def test_unshuffled_batches_are_the_scaled_slices_in_order(images):
    labels = np.arange(10) * 3
    batches = list(make_dataset(images, labels, batch_size=4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    got = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_allclose(got, images.astype(np.float32) / 255.0, rtol=0, atol=1e-7)
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == labels.tolist()


def test_shuffling_keeps_every_image_with_its_label_once_per_epoch(images):
    labels = np.arange(10)
    dataset = make_dataset(images, labels, batch_size=3, shuffle=True, seed=7, preprocess=None)
    orders = []
    for _ in range(2):
        seen = [(x.numpy(), y.numpy()) for x, y in dataset]
        batch_images = np.concatenate([s[0] for s in seen])
        batch_labels = np.concatenate([s[1] for s in seen])
        assert sorted(batch_labels.tolist()) == list(range(10))
        assert np.array_equal(batch_images, images[batch_labels])  # pairs stay together
        orders.append(batch_labels.tolist())
    assert orders[0] != orders[1]  # reshuffled between epochs


def test_a_preprocess_function_gets_float_pixels_in_0_255(images):
    dataset = make_dataset(images, batch_size=10, preprocess=lambda x: x - 100.0)
    got = next(iter(dataset)).numpy()
    np.testing.assert_allclose(got, images.astype(np.float32) - 100.0)


def test_multi_hot_labels_keep_their_shape(images):
    labels = (np.arange(10 * 20).reshape(10, 20) % 3 == 0).astype(np.uint8)
    _, target = next(iter(make_dataset(images, labels, batch_size=5)))
    assert target.shape == (5, 20) and np.array_equal(target.numpy(), labels[:5])


def test_file_paths_are_decoded_and_resized_in_the_pipeline(tmp_path):
    colours = [(255, 0, 0), (0, 0, 255)]
    paths = []
    for index, colour in enumerate(colours):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (7 + index, 5), colour).save(path)
        paths.append(str(path))
    batch, labels = next(iter(make_dataset(np.array(paths), [0, 1], batch_size=2, image_size=3)))
    assert batch.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(batch.numpy()[:, 0, 0], np.array(colours) / 255.0)


def test_mismatched_labels_and_float_images_are_refused(images):
    with pytest.raises(ValueError, match="10 images but 3 labels"):
        make_dataset(images, [0, 1, 2])
    with pytest.raises(ValueError, match="must be uint8"):
        make_dataset(images.astype(np.float32))
