"""Tests of helpers.models.features against Keras' own predict and hand-written references."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.preprocessing import normalize

from helpers.models import features


@pytest.fixture(scope="module")
def small_cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, name="fc")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)


def _one_layer_model(model, name):
    return keras.Model(model.input, model.get_layer(name).output)


def test_codes_match_a_sub_model_predict_across_an_uneven_last_batch(small_cnn, images):
    codes = features.extract_codes(small_cnn, images, ["pool", "fc"], batch_size=3, verbose=False)
    scaled = images.astype(np.float32) / 255
    pool = _one_layer_model(small_cnn, "pool").predict(scaled, verbose=0)
    fc = _one_layer_model(small_cnn, "fc").predict(scaled, verbose=0)
    assert codes["pool"].shape == (7, 4 * 4 * 4) and codes["pool"].dtype == np.float32
    np.testing.assert_allclose(codes["pool"], pool.reshape(7, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(codes["fc"], fc, rtol=1e-5, atol=1e-6)


def test_codes_of_the_last_layer_equal_model_predict(small_cnn, images):
    codes = features.extract_codes(small_cnn, images, "predictions", batch_size=4, verbose=False)
    expected = small_cnn.predict(images / 255.0, verbose=0)
    np.testing.assert_allclose(codes["predictions"], expected, rtol=1e-5, atol=1e-6)


def test_unflattened_codes_keep_the_feature_map_shape(small_cnn, images):
    codes = features.extract_codes(small_cnn, images, ["pool"], flatten=False, verbose=False)
    expected = _one_layer_model(small_cnn, "pool").predict(images / 255.0, verbose=0)
    assert codes["pool"].shape == (7, 4, 4, 4)
    np.testing.assert_allclose(codes["pool"], expected, rtol=1e-5, atol=1e-6)


def test_a_batched_dataset_of_image_label_pairs_gives_the_array_codes(small_cnn, images):
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(7))).batch(2)
    codes = features.extract_codes(small_cnn, dataset, ["fc"], verbose=False)
    expected = _one_layer_model(small_cnn, "fc").predict(images / 255.0, verbose=0)
    np.testing.assert_allclose(codes["fc"], expected, rtol=1e-5, atol=1e-6)


def test_a_custom_preprocess_replaces_the_division_by_255(small_cnn, images):
    codes = features.extract_codes(
        small_cnn,
        images,
        ["fc"],
        verbose=False,
        preprocess=lambda batch: batch.astype("float32") - 128.0,
    )
    expected = _one_layer_model(small_cnn, "fc").predict(images - 128.0, verbose=0)
    np.testing.assert_allclose(codes["fc"], expected, rtol=1e-5, atol=1e-5)


def test_float_images_are_passed_unscaled_by_default(small_cnn, images):
    floats = images.astype(np.float32)
    codes = features.extract_codes(small_cnn, floats, ["fc"], verbose=False)
    expected = _one_layer_model(small_cnn, "fc").predict(floats, verbose=0)
    np.testing.assert_allclose(codes["fc"], expected, rtol=1e-5, atol=1e-4)


def test_empty_input_gives_zero_rows_of_the_code_width(small_cnn):
    codes = features.extract_codes(
        small_cnn, np.zeros((0, 8, 8, 3), np.uint8), ["pool", "fc"], verbose=False
    )
    assert codes["pool"].shape == (0, 64) and codes["fc"].shape == (0, 5)


def test_a_cached_call_reads_the_file_instead_of_recomputing(
    small_cnn, images, tmp_path, monkeypatch
):
    first = features.extract_codes(small_cnn, images, ["fc"], cache_dir=tmp_path, verbose=False)
    files = sorted(tmp_path.glob("*.npy"))
    assert len(files) == 1 and files[0].name.startswith("codes-fc-")
    np.testing.assert_array_equal(np.load(files[0]), first["fc"])

    def no_recomputation(*args, **kwargs):
        raise AssertionError("codes were recomputed although cached")

    monkeypatch.setattr(features, "_run_in_batches", no_recomputation)
    again = features.extract_codes(small_cnn, images, ["fc"], cache_dir=tmp_path, verbose=False)
    np.testing.assert_array_equal(again["fc"], first["fc"])
    assert not list(tmp_path.glob("*.partial"))


def test_changed_weights_images_or_preprocess_never_read_the_old_cache(images, tmp_path):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(keras.layers.Flatten()(inputs)))
    features.extract_codes(model, images, ["fc"], cache_dir=tmp_path, verbose=False)
    kernel, bias = model.get_layer("fc").get_weights()
    model.get_layer("fc").set_weights([kernel * 2, bias])
    changed_weights = features.extract_codes(
        model, images, ["fc"], cache_dir=tmp_path, verbose=False
    )
    flat = images.reshape(7, -1) / 255.0
    np.testing.assert_allclose(
        changed_weights["fc"], flat @ (kernel * 2) + bias, rtol=1e-4, atol=1e-4
    )
    other_images = images[::-1].copy()
    changed_images = features.extract_codes(
        model, other_images, ["fc"], cache_dir=tmp_path, verbose=False
    )
    np.testing.assert_allclose(
        changed_images["fc"], flat[::-1] @ (kernel * 2) + bias, rtol=1e-4, atol=1e-4
    )
    changed_preprocess = features.extract_codes(
        model, images, ["fc"], cache_dir=tmp_path, verbose=False, preprocess=lambda b: b * 0.0
    )
    np.testing.assert_allclose(changed_preprocess["fc"], np.tile(bias, (7, 1)), atol=1e-6)
    assert len(list(tmp_path.glob("*.npy"))) == 4


def test_caching_a_dataset_without_a_cache_key_is_refused(small_cnn, images, tmp_path):
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)
    with pytest.raises(ValueError, match="cache_key"):
        features.extract_codes(small_cnn, dataset, ["fc"], cache_dir=tmp_path, verbose=False)


def test_an_unknown_layer_name_lists_the_layers_of_the_model(small_cnn, images):
    with pytest.raises(ValueError, match="No layer named \\['fc9'\\].*'pool'"):
        features.extract_codes(small_cnn, images, ["fc9"], verbose=False)


def test_images_of_the_wrong_shape_or_an_unbatched_dataset_are_refused(small_cnn, images):
    with pytest.raises(ValueError, match="model expects"):
        features.extract_codes(small_cnn, images[:, :4], ["fc"], verbose=False)
    with pytest.raises(ValueError, match="batch"):
        features.extract_codes(
            small_cnn, tf.data.Dataset.from_tensor_slices(images), ["fc"], verbose=False
        )


def test_l2_normalize_matches_scikit_learn():
    codes = np.random.default_rng(2).normal(size=(6, 5))
    np.testing.assert_allclose(features.l2_normalize(codes), normalize(codes), rtol=1e-6)


def test_l2_normalize_names_the_zero_rows_and_refuses_nan():
    with pytest.raises(ValueError, match="rows \\[1\\]"):
        features.l2_normalize(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        features.l2_normalize(np.array([[1.0, np.nan]]))


def _pool_model(pooling):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = pooling(2)(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="fc")(keras.layers.Flatten()(x)))


def test_a_max_to_average_pooling_change_with_the_same_weights_recomputes_the_codes(
    images, tmp_path
):
    keras.utils.set_random_seed(4)
    max_model = _pool_model(keras.layers.MaxPooling2D)
    average_model = _pool_model(keras.layers.AveragePooling2D)
    average_model.set_weights(max_model.get_weights())
    from_max = features.extract_codes(max_model, images, "fc", cache_dir=tmp_path, verbose=False)
    from_average = features.extract_codes(
        average_model, images, "fc", cache_dir=tmp_path, verbose=False
    )
    expected = average_model.predict(images / 255.0, verbose=0)
    np.testing.assert_allclose(from_average["fc"], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(from_average["fc"], from_max["fc"])


def test_a_changed_closure_default_or_global_constant_in_preprocess_recomputes(images, tmp_path):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(keras.layers.Flatten()(inputs)))
    kernel, bias = model.get_layer("fc").get_weights()
    flat = images.reshape(len(images), -1).astype(np.float32)

    def scaled_by(scale):
        def preprocess(batch):
            return batch.astype(np.float32) * scale

        return preprocess

    def with_default(batch, scale=3.0):
        return batch.astype(np.float32) * scale

    for scale, preprocess in [
        (1 / 255, scaled_by(1 / 255)),
        (2 / 255, scaled_by(2 / 255)),
        (3.0, with_default),
    ]:
        codes = features.extract_codes(
            model, images, "fc", cache_dir=tmp_path, preprocess=preprocess, verbose=False
        )
        np.testing.assert_allclose(
            codes["fc"], (flat * scale) @ kernel + bias, rtol=1e-4, atol=1e-4
        )

    def with_other_default(batch, scale=5.0):
        return batch.astype(np.float32) * scale

    with_other_default.__name__ = with_other_default.__qualname__ = with_default.__qualname__
    codes = features.extract_codes(
        model, images, "fc", cache_dir=tmp_path, preprocess=with_other_default, verbose=False
    )
    np.testing.assert_allclose(codes["fc"], (flat * 5.0) @ kernel + bias, rtol=1e-4, atol=1e-4)
    global _SCALE
    for _SCALE in (0.5, 0.25):
        codes = features.extract_codes(
            model, images, "fc", cache_dir=tmp_path, preprocess=_scale_by_global, verbose=False
        )
        np.testing.assert_allclose(
            codes["fc"], (flat * _SCALE) @ kernel + bias, rtol=1e-4, atol=1e-4
        )


_SCALE = 1.0


def _scale_by_global(batch):
    return batch.astype(np.float32) * _SCALE


def test_a_custom_layer_whose_code_changed_recomputes_the_codes(images, tmp_path):
    def model_with(factor):
        class Times(keras.layers.Layer):  # same name and config, other code
            def call(self, x):
                return x * factor

        inputs = keras.Input((8, 8, 3))
        return keras.Model(inputs, Times(name="times")(inputs))

    twice = features.extract_codes(
        model_with(2.0), images, "times", cache_dir=tmp_path, verbose=False
    )
    thrice = features.extract_codes(
        model_with(3.0), images, "times", cache_dir=tmp_path, verbose=False
    )
    flat = images.reshape(len(images), -1) / 255.0
    np.testing.assert_allclose(twice["times"], flat * 2.0, rtol=1e-5)
    np.testing.assert_allclose(thrice["times"], flat * 3.0, rtol=1e-5)
