"""Tests of helpers.data.decode against PIL decoding done in the test."""

import json
import zlib

import numpy as np
import pytest
from PIL import Image

from helpers.data.decode import cached_decode, decode_images


@pytest.fixture
def jpegs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for index in range(7):
        pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        path = tmp_path / f"img_{index}.jpg"
        if index == 3:  # one greyscale JPEG, as Tiny ImageNet has
            Image.fromarray(pixels[..., 0]).save(path, quality=95)
        else:
            Image.fromarray(pixels).save(path, quality=95)
        paths.append(path)
    return paths


def _pil(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_decoded_pixels_match_pil_within_decoder_rounding(jpegs):
    images = decode_images(jpegs, progress=False)
    expected = np.stack([_pil(path) for path in jpegs])
    assert images.shape == (7, 16, 16, 3) and images.dtype == np.uint8
    # libjpeg builds may differ by a grey level or two in the chroma upsampling
    assert np.abs(images.astype(int) - expected).mean() < 2.0


def test_a_greyscale_jpeg_becomes_three_equal_channels(jpegs):
    grey = decode_images([jpegs[3]], progress=False)[0]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    assert np.abs(grey[..., 0].astype(int) - np.asarray(Image.open(jpegs[3]))).mean() < 2.0


def test_resizing_a_constant_image_keeps_its_value(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (30, 20), (12, 200, 77)).save(path)
    image = decode_images([path], image_size=(8, 10), progress=False)[0]
    assert image.shape == (8, 10, 3)
    assert (image == np.array([12, 200, 77], np.uint8)).all()


def test_images_of_different_sizes_need_an_image_size(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    Image.new("RGB", (5, 4)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="pass image_size"):
        decode_images([tmp_path / "a.png", tmp_path / "b.png"], progress=False)


def test_the_decoded_cache_is_reused_and_keyed_by_the_selection(jpegs, tmp_path):
    first = cached_decode(jpegs, tmp_path, progress=False)
    cache_files = list((tmp_path / ".decoded").glob("*.npy"))
    assert len(cache_files) == 1
    assert np.array_equal(np.load(cache_files[0]), first)
    # the second call must read the file: poison it (with a matching sidecar, so it passes its
    # checks) and see the poison come back
    poisoned = np.zeros_like(first)
    np.save(cache_files[0], poisoned)
    cache_files[0].with_suffix(".json").write_text(
        json.dumps(
            {
                "shape": list(poisoned.shape),
                "dtype": "uint8",
                "crc32": zlib.crc32(poisoned.tobytes()),
            }
        )
    )
    assert not cached_decode(jpegs, tmp_path, progress=False).any()
    reversed_order = cached_decode(jpegs[::-1], tmp_path, progress=False)
    assert np.array_equal(reversed_order, first[::-1])
    assert len(list((tmp_path / ".decoded").glob("*.npy"))) == 2


def test_no_paths_is_a_clear_error():
    with pytest.raises(ValueError, match="no paths"):
        decode_images([], progress=False)
