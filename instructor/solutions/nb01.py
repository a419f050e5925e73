"""Notebook 01's network (its Question 2.1), for the instructor's tests and benchmarks."""

from __future__ import annotations

import keras
from keras import layers


def neural_codes_net(num_classes: int = 190, input_shape: tuple = (64, 64, 3)) -> keras.Model:
    """The network of notebook 01: Babenko et al.'s architecture scaled to 64x64 inputs in [0, 1].

    ``"pool5"`` (8, 8, 256), ``"fc6"`` and ``"fc7"`` (2048-d) are the codes *before* their ReLU;
    the rectified ones are ``"relu5"``, ``"relu6"``, ``"relu7"``. About 40.5 M parameters.

    Examples
    --------
    >>> model = neural_codes_net()
    >>> model.get_layer("pool5").output.shape, model.get_layer("fc7").output.shape
    ((None, 8, 8, 256), (None, 2048))
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for block, (filters, size) in enumerate([(96, 4), (192, 5)], start=1):
        x = layers.Conv2D(filters, size, padding="same", name=f"conv{block}")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{block}")(x)
        x = layers.ReLU(name=f"relu{block}")(x)
    x = layers.Conv2D(288, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(288, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool5")(x)
    x = layers.ReLU(name="relu5")(x)
    x = layers.Flatten(name="flatten")(x)
    for block in (6, 7):
        x = layers.Dropout(0.5, name=f"dropout{block}")(x)
        x = layers.Dense(2048, name=f"fc{block}")(x)
        x = layers.ReLU(name=f"relu{block}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="neural_codes_net")
