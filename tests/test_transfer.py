"""Tests of helpers.models.transfer and of notebook 04's answer key (instructor.solutions.nb04)
against values worked out by hand or with numpy in the test."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.models import transfer
from instructor.solutions import nb04


def one_by_one_conv(kernel, bias, size=4):
    """A model that is a single 1x1 convolution with the given (3, filters) kernel."""
    inputs = keras.Input((size, size, 3))
    conv = keras.layers.Conv2D(kernel.shape[1], 1)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([kernel.reshape(1, 1, 3, -1).astype("float32"), bias.astype("float32")])
    return model


def test_gradient_ascent_step_matches_the_gradient_worked_out_by_hand():
    # Filter f's mean activation over a 4x4 map is sum_c w[c, f] * mean(x_c) + b[f]: its gradient
    # is w[c, f] / 16 at every pixel, of length 4 * |w_f| / 16, so the unit step is w / (4 |w_f|).
    kernel = np.array([[1.0, 0.0], [2.0, 3.0], [2.0, -4.0]])
    model = one_by_one_conv(kernel, np.array([0.5, -1.0]))
    start = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    stepped, objectives = nb04.gradient_ascent_step(
        model, tf.constant(start), tf.constant([0, 1]), tf.constant(2.0)
    )
    unit = kernel / np.linalg.norm(kernel, axis=0)
    np.testing.assert_allclose(
        stepped.numpy()[0] - start[0], np.broadcast_to(2.0 * unit[:, 0] / 4, (4, 4, 3)), atol=1e-6
    )
    np.testing.assert_allclose(
        stepped.numpy()[1] - start[1], np.broadcast_to(2.0 * unit[:, 1] / 4, (4, 4, 3)), atol=1e-6
    )
    expected = [
        start[0].mean(axis=(0, 1)) @ kernel[:, 0] + 0.5,
        start[1].mean(axis=(0, 1)) @ kernel[:, 1] - 1.0,
    ]
    np.testing.assert_allclose(objectives.numpy(), expected, rtol=1e-5)


def test_gradient_ascent_step_leaves_an_image_alone_when_its_filter_is_flat():
    model = one_by_one_conv(np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), np.zeros(2))
    start = tf.ones((1, 4, 4, 3))
    stepped, _ = nb04.gradient_ascent_step(model, start, tf.constant([1]), tf.constant(5.0))
    assert np.all(np.isfinite(stepped.numpy())) and np.array_equal(stepped.numpy(), start.numpy())


def test_visualise_filters_raises_the_objective_of_a_nonlinear_filter():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3)(hidden))
    start = np.random.default_rng(1).normal(size=(3, 8, 8, 3))
    _, trace = transfer.visualise_filters(
        model, start, [0, 1, 2], steps=4, step_size=0.5, step=nb04.gradient_ascent_step
    )
    assert trace.shape == (4, 3) and np.all(trace[-1] >= trace[0])


def test_temperature_softmax_equals_the_numpy_formula():
    logits = np.random.default_rng(4).normal(0, 5, (6, 10))
    for temperature in (1, 2, 4, 8, 16, 0.5):
        expected = np.exp(logits / temperature)
        expected /= expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(
            nb04.temperature_softmax(logits, temperature), expected, rtol=1e-5, atol=1e-8
        )


def test_temperature_softmax_does_not_overflow_and_flattens_with_temperature():
    probabilities = nb04.temperature_softmax(np.array([[1000.0, 999.0, -1000.0]]), 1.0)
    np.testing.assert_allclose(
        probabilities[0], [np.e / (np.e + 1), 1 / (np.e + 1), 0.0], atol=1e-6
    )
    logits = np.array([[3.0, 1.0, 0.0]])
    tops = [nb04.temperature_softmax(logits, t)[0, 0] for t in (1, 2, 4, 8, 16)]
    assert all(a > b for a, b in zip(tops, tops[1:])) and tops[-1] > 1 / 3
    with pytest.raises(ValueError, match="temperature must be > 0"):
        nb04.temperature_softmax(logits, 0)


def test_imagenet_logits_are_the_inputs_of_vgg16s_softmax():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="fc2_input")
    fc2 = keras.layers.Dense(5, activation="relu", name="fc2")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(4, activation="softmax", name="predictions")(fc2)
    )
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    codes = keras.Model(inputs, fc2)(x).numpy()
    logits = transfer.imagenet_logits(model, codes)
    np.testing.assert_allclose(nb04.temperature_softmax(logits, 1.0), model(x).numpy(), atol=1e-6)


def test_transfer_model_freezes_everything_but_the_new_softmax_and_reads_fc2():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    fc1 = keras.layers.Dense(5, activation="relu", name="fc1")(inputs)
    fc2 = keras.layers.Dense(4, activation="relu", name="fc2")(fc1)
    vgg_like = keras.Model(
        inputs, keras.layers.Dense(7, activation="softmax", name="predictions")(fc2)
    )
    model = nb04.transfer_model(vgg_like, 3)
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]
    assert model.trainable_weights[0].shape == (4, 3)
    head = nb04.code_head(3, code_size=4)
    head.get_layer(nb04.HEAD_LAYER).set_weights(model.get_layer(nb04.HEAD_LAYER).get_weights())
    x = np.random.default_rng(1).normal(size=(2, 6)).astype("float32")
    codes = keras.Model(inputs, fc2)(x).numpy()
    np.testing.assert_allclose(model(x).numpy(), head(codes).numpy(), atol=1e-6)
    assert not any(layer.trainable for layer in vgg_like.layers[:-1] if layer.weights), (
        "the layers shared with the VGG16 passed in are frozen"
    )


def test_train_head_stops_early_and_keeps_the_best_epoch():
    points = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    classes = (points[:, 0] > 0).astype(int)
    keras.utils.set_random_seed(0)
    head = nb04.code_head(2, code_size=4)
    history = nb04.train_head(
        head, (points, classes), (points, 1 - classes), epochs=30, patience=3, learning_rate=0.05
    )
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) == best + 1 + 3
    loss = keras.losses.sparse_categorical_crossentropy(1 - classes, head(points, training=False))
    np.testing.assert_allclose(float(np.mean(loss)), history["val_loss"][best], rtol=1e-4)


def test_chunked_extraction_equals_one_pass_and_casts_each_layer(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Flatten(name="flat")(conv))
    images = np.random.default_rng(0).integers(0, 256, (7, 4, 4, 3)).astype(np.uint8)
    chunked = transfer.extract_codes_in_chunks(
        model,
        images,
        ["conv", "flat"],
        chunk_size=3,
        dtypes={"conv": "float16"},
        cache_dir=tmp_path,
        verbose=False,
    )
    direct = model(images.astype("float32") / 255).numpy()
    assert chunked["conv"].dtype == np.float16 and chunked["flat"].dtype == np.float32
    np.testing.assert_allclose(chunked["flat"], direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chunked["conv"], direct, rtol=2e-3, atol=1e-3)
    assert len(list(tmp_path.glob("*.npy"))) == 3 * 2  # three chunks, two layers each


def test_chunked_extraction_refuses_a_float16_overflow(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(
        inputs, keras.layers.Dense(1, name="big", kernel_initializer="ones")(inputs)
    )
    with pytest.raises(ValueError, match="overflow float16"):
        transfer.extract_codes_in_chunks(
            model,
            np.full((2, 2), 1e5, np.float32),
            ["big"],
            dtypes={"big": "float16"},
            verbose=False,
        )


def test_pooled_probe_pools_two_by_two():
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(1, 1, name="conv", kernel_initializer="ones", use_bias=False)(inputs)
    model = keras.Model(inputs, keras.layers.Flatten(name="flat")(conv))
    probe, names = transfer.pooled_probe(model, pooled=["conv"], codes=["flat"])
    assert names == ["flat", "conv_pooled"]
    image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    _, pooled = probe(image)
    np.testing.assert_array_equal(np.asarray(pooled)[0, ..., 0], [[5, 7], [13, 15]])
