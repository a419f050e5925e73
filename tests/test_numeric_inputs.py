"""Issue 15, case 9: numbers at the edges of float ranges, NaN inputs and numpy batch sizes."""

import math

import keras
import numpy as np
import pytest

from helpers import retrieval
from helpers.data import make_dataset
from helpers.models import features


@pytest.mark.parametrize(
    "rows,dtype",
    [
        (
            [[3e200, 4e200], [-1e308, 1e308]],
            np.float64,
        ),  # finite, but their squares overflow float64
        ([[3e38, 3e38, -3e38], [1e-45, 0.0, 2e-45]], np.float32),  # float32 extremes and subnormals
        ([[2**62, 2**62 - 1]], np.int64),
    ],
)
def test_l2_normalize_is_exact_for_finite_rows_at_the_edges_of_the_float_range(rows, dtype):
    codes = np.array(rows, dtype=dtype)
    # reference: math.hypot scales internally, so it neither overflows nor underflows
    expected = np.array([[float(x) / math.hypot(*map(float, row)) for x in row] for row in codes])
    result = features.l2_normalize(codes)
    assert result.dtype == np.float32 and np.all(np.isfinite(result))
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_l2_normalize_refuses_non_finite_codes(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        features.l2_normalize(np.array([[1.0, 2.0], [bad, 1.0]]))


def test_nan_labels_are_refused_rather_than_made_a_class():
    codes = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0.0, 0.0, np.nan, np.nan])
    with pytest.raises(ValueError, match="labels hold NaN at rows 2, 3"):
        retrieval.mean_average_precision(codes, labels)


@pytest.fixture(scope="module")
def model():
    inputs = keras.Input((2, 2, 3))
    hidden = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3, activation="relu", name="fc", kernel_initializer="ones")(hidden)
    return keras.Model(inputs, outputs)


def test_nan_pixels_are_a_clear_error_not_finite_codes(model):
    images = np.ones((5, 2, 2, 3), np.float32)
    images[3, 1, 0, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite pixel values \(images \[3\]\)"):
        features.extract_codes(
            model, images, ["fc"], batch_size=2, preprocess=lambda b: b, verbose=False
        )


def test_a_numpy_integer_batch_size_is_accepted_and_gives_the_same_codes(model):
    images = np.arange(5 * 12, dtype=np.float32).reshape(5, 2, 2, 3) / 60
    codes = features.extract_codes(
        model, images, ["fc"], batch_size=np.int64(2), preprocess=lambda b: b, verbose=False
    )["fc"]
    # reference by hand: every unit sums the 12 inputs (weights one, bias zero), then ReLU
    expected = np.repeat(images.reshape(5, -1).sum(axis=1, keepdims=True), 3, axis=1)
    np.testing.assert_allclose(codes, expected, rtol=1e-5)
    for bad in (2.0, True, np.int64(0)):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            features.extract_codes(model, images, ["fc"], batch_size=bad, verbose=False)


def test_make_dataset_accepts_a_numpy_integer_batch_size():
    batches = list(
        make_dataset(np.zeros((5, 2, 2, 3), np.uint8), np.arange(5), batch_size=np.int64(2))
    )
    assert [len(labels) for _, labels in batches] == [2, 2, 1]
    for bad in (2.5, True, 0):
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            make_dataset(np.zeros((5, 2, 2, 3), np.uint8), batch_size=bad)
