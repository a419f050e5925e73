"""helpers.models.resnet50 offline: fallbacks, local weights, head and fine-tuning switch."""

import keras
import numpy as np
import pytest

from helpers.models import resnet50
from helpers.models.resnet50 import pretrained_resnet50, resnet50_classifier, unfreeze_top_stage

SHAPE = (32, 32, 3)


@pytest.fixture
def offline(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("storage.googleapis.com unreachable (test)")

    monkeypatch.setattr(resnet50, "keras_weights_file", unreachable)
    monkeypatch.delenv(resnet50.WEIGHTS_VARIABLE, raising=False)


def test_without_imagenet_weights_or_a_local_file_the_weights_are_random_and_it_says_so(offline):
    with pytest.warns(UserWarning, match="RANDOM weights"):
        model, weights = pretrained_resnet50(SHAPE)
    assert weights.kind == "random" and "RANDOM" in weights.label
    assert model.output.shape == (None, 2048)


def test_a_local_weights_file_named_by_the_variable_is_loaded(offline, monkeypatch, tmp_path):
    keras.utils.set_random_seed(1)
    donor = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=SHAPE
    )
    path = tmp_path / "resnet50_notop.weights.h5"
    donor.save_weights(path)
    monkeypatch.setenv(resnet50.WEIGHTS_VARIABLE, str(path))
    keras.utils.set_random_seed(2)  # the model's own initial weights differ from the file's
    with pytest.warns(UserWarning, match="local weights"):
        model, weights = pretrained_resnet50(SHAPE)
    assert weights.kind == "local" and weights.path == str(path)
    for ours, theirs in zip(model.get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_weights_file_that_is_not_resnet50_is_refused_clearly(tmp_path):
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match="not a Keras ResNet50 weights file"):
        pretrained_resnet50(SHAPE, weights_file=path)


def test_the_classifier_has_a_frozen_resnet_and_a_sigmoid_head_on_the_pooled_features(offline):
    with pytest.warns(UserWarning):
        model, _ = resnet50_classifier(5, SHAPE)
    assert model.get_layer("features").output.shape == (None, 2048)
    assert model.output.shape == (None, 5)
    head = model.get_layer("predictions")
    assert [w.name for w in model.trainable_weights] == [w.name for w in head.trainable_weights]
    scores = model(np.random.default_rng(0).uniform(0, 255, (2, *SHAPE)).astype("float32")).numpy()
    assert np.all((scores > 0) & (scores < 1))


def test_unfreezing_trains_only_the_last_stage_without_its_batch_norms(offline):
    with pytest.warns(UserWarning):
        model, _ = resnet50_classifier(5, SHAPE)
    count = unfreeze_top_stage(model)
    base = model.get_layer("resnet50")
    expected = [
        layer.name
        for layer in base.layers
        if layer.name.startswith("conv5_")
        and layer.weights
        and not isinstance(layer, keras.layers.BatchNormalization)
    ]
    trainable = [layer.name for layer in base.layers if layer.trainable and layer.weights]
    assert trainable == expected and len(expected) == 10  # 3 blocks x 3 convs + 1 shortcut conv
    assert count == sum(
        layer.name.startswith("conv5_") and not isinstance(layer, keras.layers.BatchNormalization)
        for layer in base.layers
    )
    # the model's trainable weights: those conv layers' kernels and biases, and the head
    assert len(model.trainable_weights) == 2 * len(expected) + 2


def test_the_preprocess_layer_is_bgr_minus_the_imagenet_mean_computed_by_hand():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3)).astype(np.uint8)
    by_hand = pixels[..., ::-1].astype(np.float64) - [103.939, 116.779, 123.68]
    out = resnet50.ImageNetPreprocess()(pixels).numpy()
    np.testing.assert_allclose(out, by_hand, atol=1e-4)


def test_the_classifier_reads_uint8_pixels_as_the_bare_resnet_reads_them_preprocessed(offline):
    with pytest.warns(UserWarning):
        model, _ = resnet50_classifier(5, SHAPE)
    pixels = np.random.default_rng(1).integers(0, 256, (2, *SHAPE)).astype(np.uint8)
    bare = model.get_layer("resnet50")
    expected = bare(
        keras.applications.resnet50.preprocess_input(pixels.astype("float32")), training=False
    ).numpy()
    features = keras.Model(model.input, model.get_layer("features").output)
    np.testing.assert_allclose(
        features(pixels, training=False).numpy(), expected, rtol=1e-4, atol=1e-4
    )
