"""Tests of helpers.models.vgg16: VGG16's weights sources, fallbacks and their labels (offline)."""

import os
import socket
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import models
from helpers.models import vgg16


def test_models_re_exports_the_pretrained_vgg16_api():
    assert models.pretrained_vgg16 is vgg16.pretrained_vgg16
    assert models.WeightsInfo is vgg16.WeightsInfo
    assert vgg16.HED_WEIGHTS_FILE == "vgg16_notop_hed_bsds500.weights.h5"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No ImageNet download and no local weights unless a test provides them."""

    def unreachable(include_top):
        raise OSError("no network in this test")

    monkeypatch.setattr(vgg16, "_imagenet_weights_file", unreachable)
    monkeypatch.delenv("COURSE_VGG16_WEIGHTS", raising=False)
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    return tmp_path


def test_vgg16_falls_back_to_random_weights_with_a_loud_warning(offline):
    with pytest.warns(UserWarning, match="RANDOM weights"):
        model, weights = vgg16.pretrained_vgg16(include_top=False, input_shape=(32, 32, 3))
    assert weights.kind == "random" and not weights.is_imagenet and "RANDOM" in weights.label
    assert model.output.shape == (None, 1, 1, 512)


def test_vgg16_loads_the_file_named_by_the_environment(offline, monkeypatch):
    keras.utils.set_random_seed(6)
    donor = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = offline / "conv_only.weights.h5"
    donor.save_weights(path)
    monkeypatch.setenv("COURSE_VGG16_WEIGHTS", str(path))
    with pytest.warns(UserWarning, match="unverified origin"):
        model, weights = vgg16.pretrained_vgg16(include_top=False, input_shape=(48, 48, 3))
    assert weights.kind == "local" and weights.path == str(path)
    for name in ("block1_conv1", "block5_conv3"):
        np.testing.assert_array_equal(
            model.get_layer(name).get_weights()[0], donor.get_layer(name).get_weights()[0]
        )


def _mirror_weights() -> Path:
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    path = Path(mirror or ".") / vgg16.HED_WEIGHTS_FILE
    if not mirror or not path.is_file():
        pytest.skip("COURSE_DATA_MIRROR with the VGG16 stand-in weights is not set")
    return path


def test_vgg16_uses_the_mirror_stand_in_and_says_the_top_is_random(monkeypatch):
    path = _mirror_weights()
    monkeypatch.setattr(
        vgg16,
        "_imagenet_weights_file",
        lambda include_top: (_ for _ in ()).throw(OSError("offline")),
    )
    monkeypatch.delenv("COURSE_VGG16_WEIGHTS", raising=False)
    with pytest.warns(UserWarning, match="NOT ImageNet"):
        model, weights = vgg16.pretrained_vgg16(include_top=True)
    assert weights.kind == "hed_bsds500" and weights.top_is_random
    assert "decode_predictions are meaningless" in weights.description
    reference = keras.applications.VGG16(weights=None, include_top=False)
    reference.load_weights(path)
    for name in ("block1_conv1", "block3_conv2", "block5_conv3"):
        np.testing.assert_array_equal(
            model.get_layer(name).get_weights()[0], reference.get_layer(name).get_weights()[0]
        )


def test_an_unreachable_download_fails_fast_and_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(Path, "home", lambda: tmp_path)  # hide any real Keras cache

    def refused(*args, **kwargs):
        raise ConnectionRefusedError("refused by the test")

    monkeypatch.setattr(socket, "create_connection", refused)
    with pytest.raises(OSError, match="unreachable"):
        vgg16._imagenet_weights_file(include_top=False)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_failed_download_becomes_an_oserror_and_restores_the_socket_timeout(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: socket.socket())
    monkeypatch.setattr(
        keras.utils,
        "get_file",
        lambda *a, **k: (_ for _ in ()).throw(Exception("URL fetch failure")),
    )
    before = socket.getdefaulttimeout()
    with pytest.raises(OSError, match="URL fetch failure"):
        vgg16._imagenet_weights_file(include_top=True)
    assert socket.getdefaulttimeout() == before


def test_a_vgg16_input_shape_other_than_224_needs_include_top_false():
    with pytest.raises(ValueError, match="include_top=False"):
        vgg16.pretrained_vgg16(include_top=True, input_shape=(64, 64, 3))


def test_vgg16_preprocess_is_bgr_minus_the_imagenet_means():
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    expected = images[..., ::-1].astype(np.float32) - np.array(
        [103.939, 116.779, 123.68], np.float32
    )
    np.testing.assert_allclose(models.vgg16_preprocess(images), expected, rtol=0, atol=1e-4)
