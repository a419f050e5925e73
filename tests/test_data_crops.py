"""Tests of helpers.data.crops: every crop checked against numpy slicing of its source image."""

import numpy as np
import pytest

from helpers.data.crops import centre_offset, crop_batch, crop_dataset

SIZE, CROP = 9, 6


def _images(count=10, seed=0):
    # random pixels: a window of one image cannot equal another window by accident
    return np.random.default_rng(seed).integers(0, 256, (count, SIZE, SIZE + 2, 3), dtype=np.uint8)


def _windows(image, crop):
    """Every (top, left, flipped) where ``crop`` equals a window of ``image``, by brute force."""
    found = []
    for top in range(image.shape[0] - CROP + 1):
        for left in range(image.shape[1] - CROP + 1):
            window = image[top : top + CROP, left : left + CROP]
            for flipped in (False, True):
                if np.array_equal(window[:, ::-1] if flipped else window, crop):
                    found.append((top, left, flipped))
    return found


def _epoch(dataset):
    crops, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(crops), np.concatenate(labels)


def test_crop_batch_equals_numpy_slicing_and_mirroring():
    images = _images(4)
    top, left, flip = (
        np.array([0, 3, 1, 2]),
        np.array([5, 0, 2, 1]),
        np.array([True, False, True, False]),
    )
    crops = crop_batch(images, top, left, flip, CROP)
    for i in range(4):
        window = images[i, top[i] : top[i] + CROP, left[i] : left[i] + CROP]
        assert np.array_equal(crops[i], window[:, ::-1] if flip[i] else window)


def test_crop_batch_takes_each_crop_from_the_image_its_index_names():
    images = _images(5)
    indices, top, left = np.array([4, 0, 4]), np.array([1, 2, 3]), np.array([0, 4, 2])
    crops = crop_batch(images, top, left, [False, True, False], CROP, indices)
    for i, (crop, index) in enumerate(zip(crops, indices)):
        assert _windows(images[index], crop) == [(top[i], left[i], i == 1)]


def test_evaluation_gives_the_exact_uint8_centre_windows_in_order():
    images = _images(7)
    crops, labels = _epoch(
        crop_dataset(images, np.arange(7), crop_size=CROP, training=False, batch_size=3)
    )
    top, left = (SIZE - CROP) // 2, (SIZE + 2 - CROP) // 2
    assert crops.dtype == np.uint8
    assert np.array_equal(crops, images[:, top : top + CROP, left : left + CROP])
    assert labels.tolist() == list(range(7))


def test_scale_gives_float_pixels_in_0_1_and_no_labels_gives_images_only():
    images = _images(5)
    crops = np.concatenate(
        [
            batch.numpy()
            for batch in crop_dataset(
                images, crop_size=CROP, training=False, batch_size=2, preprocess="scale"
            )
        ]
    )
    top, left = (SIZE - CROP) // 2, (SIZE + 2 - CROP) // 2
    assert crops.dtype == np.float32
    np.testing.assert_allclose(
        crops, images[:, top : top + CROP, left : left + CROP] / 255.0, atol=1e-7
    )


def test_a_memory_mapped_cache_gives_the_same_crops_as_the_array(tmp_path):
    images = _images(6)
    np.save(tmp_path / "cache.npy", images)
    mapped = np.load(tmp_path / "cache.npy", mmap_mode="r")
    first, second = (
        _epoch(
            crop_dataset(source, np.arange(6), crop_size=CROP, training=True, batch_size=4, seed=2)
        )
        for source in (images, mapped)
    )
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_every_training_crop_is_a_window_of_its_own_image_and_each_image_comes_once_per_epoch():
    images = _images(10)
    dataset = crop_dataset(
        images, np.arange(10), crop_size=CROP, training=True, batch_size=4, seed=1
    )
    for _ in range(2):
        crops, labels = _epoch(dataset)
        assert sorted(labels.tolist()) == list(range(10))
        for crop, label in zip(crops, labels):
            assert _windows(images[label], crop), f"crop of image {label} is no window of it"


def test_positions_and_flips_are_spread_over_all_choices_and_change_every_epoch():
    images = _images(1)
    dataset = crop_dataset(
        np.repeat(images, 64, axis=0), crop_size=CROP, training=True, batch_size=16, seed=3
    )
    epochs = [np.concatenate([batch.numpy() for batch in dataset]) for _ in range(3)]
    drawn = [_windows(images[0], crop)[0] for epoch in epochs for crop in epoch]
    positions = {(top, left) for top, left, _ in drawn}
    flips = np.mean([flipped for _, _, flipped in drawn])
    assert len(positions) == (SIZE - CROP + 1) * (SIZE + 2 - CROP + 1)  # all 24 positions seen
    assert 0.35 < flips < 0.65, flips  # 192 draws of p = 1/2
    assert not np.array_equal(epochs[0], epochs[1])


def test_the_same_seed_gives_the_same_crops_in_a_new_pipeline():
    images = _images(8)
    first, second = (
        _epoch(
            crop_dataset(images, np.arange(8), crop_size=CROP, training=True, batch_size=3, seed=5)
        )
        for _ in range(2)
    )
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_a_preprocess_function_receives_float_pixels_in_0_255():
    images = _images(3)
    crops = next(
        iter(
            crop_dataset(
                images, crop_size=CROP, training=False, preprocess=lambda batch: batch - 100.0
            )
        )
    ).numpy()
    top, left = centre_offset(SIZE, CROP), centre_offset(SIZE + 2, CROP)
    np.testing.assert_allclose(crops, images[:, top : top + CROP, left : left + CROP] - 100.0)


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (np.zeros((2, 4, 4, 3), np.uint8), {"crop_size": 5}, "exceeds the images' size"),
        (np.zeros((0, 4, 4, 3), np.uint8), {"crop_size": 2}, "no images"),
        ([[0]], {"crop_size": 1}, "numpy array"),
        (np.zeros((2, 4, 4, 3), np.float32), {"crop_size": 2}, "must be uint8"),
        (
            np.zeros((2, 4, 4, 3), np.uint8),
            {"crop_size": 2, "labels": [1]},
            "2 images but 1 labels",
        ),
        (
            np.zeros((2, 4, 4, 3), np.uint8),
            {"crop_size": 2, "preprocess": "imagenet"},
            "preprocess",
        ),
    ],
)
def test_bad_input_is_refused_with_what_to_do(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        crop_dataset(images, training=True, **kwargs)


def test_crops_of_a_non_contiguous_array_are_its_windows_too():
    images = np.asfortranarray(_images(3))  # the channel axis is not contiguous
    crops = crop_batch(images, [0, 3, 1], [5, 0, 2], [True, False, True], CROP)
    for i, (top, left, flip) in enumerate(zip([0, 3, 1], [5, 0, 2], [True, False, True])):
        window = images[i, top : top + CROP, left : left + CROP]
        assert np.array_equal(crops[i], window[:, ::-1] if flip else window)
