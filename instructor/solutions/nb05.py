"""Notebook 05's small CNN (its Questions 2.1 and 3.1), for the instructor's tests."""

from __future__ import annotations

import keras
from keras import layers


def car_baseline_cnn(input_shape: tuple = (64, 64, 3), augment: bool = False) -> keras.Model:
    """The small car-vs-other CNN of notebook 05 (outputs P(car), shape (n, 1)).

    With ``augment``, ``RandomFlip('horizontal')`` and ``RandomRotation`` (up to 20 degrees,
    corners filled by reflection) come first; they act only when training.

    Examples
    --------
    >>> car_baseline_cnn().count_params(), car_baseline_cnn(augment=True).count_params()
    (53953, 53953)
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if augment:
        x = layers.RandomFlip("horizontal", name="random_flip")(x)
        x = layers.RandomRotation(20 / 360, fill_mode="reflect", name="random_rotation")(x)
    l2 = keras.regularizers.L2(1e-3)
    x = layers.Conv2D(32, 5, strides=3, activation="relu", kernel_regularizer=l2, name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", kernel_regularizer=l2, name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=l2, name="fc")(x)
    outputs = layers.Dense(1, activation="sigmoid", kernel_regularizer=l2, name="car")(x)
    return keras.Model(inputs, outputs, name="car_augmented_cnn" if augment else "car_baseline_cnn")
