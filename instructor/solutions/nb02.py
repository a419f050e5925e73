"""Notebook 02's answer key: what Question 2.1 asks the student to write (``caffenet``).

Moved out of ``helpers.models.networks`` so the student's wheel holds no answer; the tests
(``tests/test_models.py``) and ``benchmarks/bench_voc_pipeline.py`` import it from here.
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["caffenet"]


def check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def caffenet(num_classes: int = 20, input_shape: tuple = (227, 227, 3)) -> keras.Model:
    """CaffeNet (AlexNet variant) for multi-label classification (sigmoid outputs), notebook 02.

    Takes pixels in [0, 255] (uint8 or float). As in Caffe, ``"pool5"`` (6x6x256 for 227x227
    inputs) pools the *rectified* conv-5 map; ``"fc6"`` / ``"fc7"`` are before their ReLU
    (``"relu6"`` / ``"relu7"`` after). About 58.4 M parameters.

    Examples
    --------
    >>> model = caffenet()
    >>> model.get_layer("pool5").output.shape, model.output.shape
    ((None, 6, 6, 256), (None, 20))
    """
    check_positive_int(num_classes, "num_classes")
    inputs = keras.Input(shape=input_shape, name="images")
    # scaling inside the model: the input pipeline stays uint8 and the GPU converts
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.Conv2D(96, 11, strides=4, padding="valid", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for block, filters in ((3, 384), (4, 384), (5, 256)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    for block in (6, 7):
        x = layers.Dense(4096, name=f"fc{block}")(x)
        x = layers.ReLU(name=f"relu{block}")(x)
        x = layers.Dropout(0.5, name=f"dropout{block}")(x)
    outputs = layers.Dense(num_classes, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, outputs, name="caffenet")
