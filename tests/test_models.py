"""Tests of helpers.models: hand-counted parameters and layer semantics of each network."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import models
from helpers.models import networks
from instructor.solutions import nb01, nb05
from instructor.solutions.nb02 import caffenet


def _conv(size, channels_in, filters):
    return size * size * channels_in * filters + filters


def _dense(units_in, units_out):
    return units_in * units_out + units_out


def _sub_model(model, *names):
    return keras.Model(model.input, [model.get_layer(name).output for name in names])


def test_neural_codes_net_has_the_hand_counted_40_5_million_parameters():
    model = nb01.neural_codes_net()
    # 'same' padding and three stride-2 pools: 64 -> 32 -> 16 -> 8, so pool5 is 8 x 8 x 256.
    expected = (
        _conv(4, 3, 96)
        + _conv(5, 96, 192)
        + _conv(3, 192, 288)
        + _conv(3, 288, 288)
        + _conv(3, 288, 256)
        + _dense(8 * 8 * 256, 2048)
        + _dense(2048, 2048)
        + _dense(2048, 190)
    )
    assert model.count_params() == expected == 40_516_382
    assert model.get_layer("pool5").output.shape == (None, 8, 8, 256)
    assert model.get_layer("fc6").units == model.get_layer("fc7").units == 2048


def test_neural_codes_pool5_and_fc7_are_taken_before_their_relu():
    keras.utils.set_random_seed(0)
    model = nb01.neural_codes_net(num_classes=5)
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    pool5, relu5, fc7, relu7 = _sub_model(model, "pool5", "relu5", "fc7", "relu7")(images)
    assert np.min(pool5) < 0 and np.min(fc7) < 0
    np.testing.assert_allclose(relu5, np.maximum(pool5, 0), atol=1e-6)
    np.testing.assert_allclose(relu7, np.maximum(fc7, 0), atol=1e-6)


def test_caffenet_has_the_hand_counted_parameters_and_a_6x6_pool5():
    model = caffenet()
    expected = (
        _conv(11, 3, 96)
        + _conv(5, 96, 256)
        + _conv(3, 256, 384)
        + _conv(3, 384, 384)
        + _conv(3, 384, 256)
        + _dense(6 * 6 * 256, 4096)
        + _dense(4096, 4096)
        + _dense(4096, 20)
    )
    assert model.count_params() == expected
    assert model.get_layer("pool5").output.shape == (None, 6, 6, 256)
    assert model.get_layer("fc7").units == 4096
    assert model.get_layer("predictions").activation is keras.activations.sigmoid


def _adaptive_average_pool_loop(maps, out=2):
    """PyTorch's AdaptiveAvgPool2d: window i spans floor(i*H/out) .. ceil((i+1)*H/out)."""
    n, height, width, channels = maps.shape
    pooled = np.zeros((n, out, out, channels))
    for i in range(out):
        for j in range(out):
            rows = slice(i * height // out, math.ceil((i + 1) * height / out))
            cols = slice(j * width // out, math.ceil((j + 1) * width / out))
            pooled[:, i, j] = maps[:, rows, cols].mean(axis=(1, 2))
    return pooled


@pytest.mark.parametrize("padding, map_size", [("valid", 3), ("same", 7)])
def test_fashion_embedding_is_the_adaptive_average_pool_of_conv3(padding, map_size):
    keras.utils.set_random_seed(1)
    model = models.fashion_net(padding=padding)
    images = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)
    conv3, embedding = _sub_model(model.backbone, "conv3", "embedding")(images)
    conv3 = np.asarray(conv3)
    assert conv3.shape == (3, map_size, map_size, 64)
    expected = _adaptive_average_pool_loop(conv3).reshape(3, 256)
    np.testing.assert_allclose(embedding, expected, rtol=1e-5, atol=1e-6)


def test_fashion_net_features_are_unit_rows_and_logits_a_linear_map_of_the_embedding():
    keras.utils.set_random_seed(2)
    model = models.fashion_net()
    images = np.random.default_rng(2).random((4, 28, 28, 1), dtype=np.float32)
    embedding = np.asarray(model.embed(images))
    np.testing.assert_allclose(
        model.features(images),
        embedding / np.linalg.norm(embedding, axis=1, keepdims=True),
        rtol=1e-5,
        atol=1e-6,
    )
    kernel, bias = model.classifier.get_weights()
    np.testing.assert_allclose(model(images), embedding @ kernel + bias, rtol=1e-5, atol=1e-5)
    assert (
        model.count_params()
        == _conv(3, 1, 32) + _conv(3, 32, 32) + _conv(3, 32, 64) + _dense(256, 10)
        == 30_634
    )


def test_fashion_net_survives_a_keras_file_round_trip(tmp_path):
    keras.utils.set_random_seed(3)
    model = models.fashion_net(padding="same")
    images = np.random.default_rng(3).random((2, 28, 28, 1), dtype=np.float32)
    model.save(tmp_path / "fashion.keras")
    reloaded = keras.models.load_model(tmp_path / "fashion.keras")
    assert isinstance(reloaded, models.FashionNet) and reloaded.padding == "same"
    np.testing.assert_allclose(reloaded(images), model(images), rtol=1e-6)
    np.testing.assert_allclose(reloaded.features(images), model.features(images), rtol=1e-6)


def test_a_gradient_tape_step_on_features_moves_the_backbone_only():
    keras.utils.set_random_seed(4)
    model = models.fashion_net()
    images = np.random.default_rng(4).random((6, 28, 28, 1), dtype=np.float32)
    classifier_before = [w.copy() for w in model.classifier.get_weights()]

    # Pull every feature towards the first one: the mean squared distance must fall.
    def spread():
        feats = model.features(images, training=True)
        return tf.reduce_mean(tf.reduce_sum((feats - feats[:1]) ** 2, axis=1))

    optimizer = keras.optimizers.SGD(0.5)
    before = float(spread())
    variables = model.backbone.trainable_variables
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = spread()
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    assert float(spread()) < before
    for old, new in zip(classifier_before, model.classifier.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_car_baseline_cnn_has_the_hand_counted_parameters_and_l2_penalties():
    model = nb05.car_baseline_cnn()
    # 64 -conv5/3-> 20 -pool-> 10 -conv3/2-> 4 -pool-> 2, so 2 x 2 x 64 = 256 inputs to dense 128.
    expected = _conv(5, 3, 32) + _conv(3, 32, 64) + _dense(256, 128) + _dense(128, 1)
    assert model.count_params() == expected
    kernels = [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]
    np.testing.assert_allclose(
        sum(model.losses), 1e-3 * sum((k**2).sum() for k in kernels), rtol=1e-5
    )


def test_augmented_car_cnn_is_the_baseline_at_inference_and_random_when_training():
    keras.utils.set_random_seed(5)
    baseline = nb05.car_baseline_cnn()
    augmented = nb05.car_baseline_cnn(augment=True)
    augmented.set_weights(baseline.get_weights())
    flip, rotation = augmented.get_layer("random_flip"), augmented.get_layer("random_rotation")
    assert flip.mode == "horizontal" and rotation.factor == (-20 / 360, 20 / 360)
    images = np.random.default_rng(5).random((4, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(augmented(images, training=False), baseline(images), rtol=1e-6)
    assert not np.allclose(augmented.get_layer("random_rotation")(images, training=True), images)


@pytest.mark.parametrize("size", [2, 3, 4, 7, 8, 9])
def test_the_average_pooling_stand_in_equals_pytorchs_adaptive_pooling_to_two(size):
    maps = np.random.default_rng(size).random((2, size, size, 3), dtype=np.float32)
    inputs = keras.Input((size, size, 3))
    pooled = keras.Model(inputs, networks._adaptive_average_pooling(inputs, 2, name="pool"))(maps)
    np.testing.assert_allclose(pooled, _adaptive_average_pool_loop(maps), rtol=1e-6)
    if hasattr(keras.layers, "AdaptiveAveragePooling2D"):  # Keras >= 3.13: the same numbers
        keras_pooled = keras.layers.AdaptiveAveragePooling2D(2)(maps)
        np.testing.assert_allclose(pooled, keras_pooled, rtol=1e-6)


def test_adaptive_pooling_with_uneven_windows_is_refused():
    inputs = keras.Input((5, 5, 3))
    with pytest.raises(ValueError, match="uneven windows"):
        networks._adaptive_average_pooling(inputs, 3, name="pool")


def test_caffenet_reads_0_255_pixels_as_its_unscaled_layers_read_them_divided_by_255():
    model = caffenet(5, (67, 67, 3))
    pixels = np.random.default_rng(0).integers(0, 256, (2, 67, 67, 3)).astype(np.uint8)
    rest = keras.Sequential([keras.Input((67, 67, 3))] + model.layers[2:])  # without "scale"
    assert model.layers[1].name == "scale"
    np.testing.assert_allclose(
        model(pixels, training=False).numpy(),
        rest(pixels.astype(np.float32) / 255, training=False).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
