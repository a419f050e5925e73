"""The course's networks, as functions returning (uncompiled) Keras models.

Each names the layers a notebook reads codes from (``extract_codes(model, images, ["fc6"])``).
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["neural_codes_net", "FashionNet", "fashion_net", "car_baseline_cnn"]


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
    _check_positive_int(num_classes, "num_classes")
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


@keras.saving.register_keras_serializable(package="helpers")
class FashionNet(keras.Model):
    """The FashionMNIST network of notebook 03: a 256-d embedding and a linear classifier.

    ``model(images)`` gives class *logits* (train with ``from_logits=True``);
    ``model.features(images)`` the L2-normalised embedding for retrieval and the triplet /
    Smooth-AP losses. Both share ``model.backbone``; to train on features only, differentiate
    with respect to ``model.backbone.trainable_variables``. Saved and loaded like any model
    once ``helpers.models`` is imported.

    Parameters
    ----------
    padding : {'valid', 'same'}
        Of the 3x3 convolutions: 'valid' (the original PyTorch assignment) gives maps
        26 -> 13 -> 11 -> 5 -> 3, 'same' 28 -> 14 -> 14 -> 7 -> 7.

    Examples
    --------
    >>> import numpy as np
    >>> model = FashionNet()
    >>> images = np.zeros((2, 28, 28, 1), dtype="float32")
    >>> tuple(model(images).shape), tuple(model.features(images).shape)
    ((2, 10), (2, 256))
    """

    def __init__(self, num_classes: int = 10, padding: str = "valid", **kwargs):
        super().__init__(**kwargs)
        _check_positive_int(num_classes, "num_classes")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")
        self.num_classes = num_classes
        self.padding = padding
        self.backbone = _fashion_backbone(padding)
        self.classifier = layers.Dense(num_classes, name="logits")
        self.build((None, 28, 28, 1))  # built at once, so it saves and loads like any model

    def build(self, input_shape):
        """Create the classifier's weights (the functional backbone is built already)."""
        self.classifier.build((None, self.backbone.output.shape[-1]))

    def call(self, images, training=False):
        """Class logits, shape (n, num_classes)."""
        return self.classifier(self.backbone(images, training=training))

    def embed(self, images, training=False):
        """The 256-d embedding before normalisation, shape (n, 256)."""
        return self.backbone(images, training=training)

    def features(self, images, training=False):
        """The L2-normalised 256-d embedding, shape (n, 256); an all-zero row stays zero."""
        embedding = self.backbone(images, training=training)
        return keras.ops.normalize(embedding, axis=-1, order=2)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "padding": self.padding}


def _fashion_backbone(padding: str) -> keras.Model:
    inputs = keras.Input(shape=(28, 28, 1), name="images")
    x = inputs
    for block, filters in enumerate((32, 32), start=1):
        x = layers.Conv2D(filters, 3, padding=padding, activation="relu", name=f"conv{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.Conv2D(64, 3, padding=padding, activation="relu", name="conv3")(x)
    x = _adaptive_average_pooling(x, 2, name="adaptive_pool")
    outputs = layers.Flatten(name="embedding")(x)
    return keras.Model(inputs, outputs, name="fashion_backbone")


def _adaptive_average_pooling(x, output_size: int, name: str):
    """PyTorch's ``AdaptiveAvgPool2d(output_size)`` on a map of fixed size, as AveragePooling2D."""
    # keras.layers.AdaptiveAveragePooling2D needs Keras 3.13 (older Colab images lack it).
    # PyTorch's windows (rows floor(i*H/out) to ceil((i+1)*H/out)) are, for a known map size,
    # often of one width and one step (always for out=2): then exactly an AveragePooling2D
    # (3x3 map -> pool 2 stride 1; 7x7 -> pool 4 stride 3). 'valid' windows overlap.
    pool, strides = [], []
    for size in x.shape[1:3]:
        starts = [i * size // output_size for i in range(output_size)]
        ends = [-(-(i + 1) * size // output_size) for i in range(output_size)]
        widths = {end - start for start, end in zip(starts, ends)}
        steps = {b - a for a, b in zip(starts, starts[1:])} or {1}
        if size is None or len(widths) != 1 or len(steps) != 1:
            raise ValueError(
                f"Adaptive pooling of a {size}-wide map to {output_size} has "
                "uneven windows; it needs a fixed map size that pools evenly."
            )
        pool.append(widths.pop())
        strides.append(steps.pop())
    return layers.AveragePooling2D(tuple(pool), strides=tuple(strides), name=name)(x)


def fashion_net(num_classes: int = 10, padding: str = "valid") -> FashionNet:
    """Build the notebook-03 network, a :class:`FashionNet` (built, uncompiled).

    Examples
    --------
    >>> fashion_net().count_params()
    30634
    """
    return FashionNet(num_classes=num_classes, padding=padding)


def car_baseline_cnn(input_shape: tuple = (64, 64, 3), augment: bool = False) -> keras.Model:
    """The small car-vs-other CNN of notebook 05 (outputs P(car), shape (n, 1)).

    With ``augment``, ``RandomFlip('horizontal')`` and ``RandomRotation`` (up to 20 degrees) come
    first; they act only when training.

    Examples
    --------
    >>> car_baseline_cnn().count_params(), car_baseline_cnn(augment=True).count_params()
    (53953, 53953)
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if augment:
        x = layers.RandomFlip("horizontal", name="random_flip")(x)
        x = layers.RandomRotation(20 / 360, name="random_rotation")(x)
    l2 = keras.regularizers.L2(1e-3)
    x = layers.Conv2D(32, 5, strides=3, activation="relu", kernel_regularizer=l2, name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", kernel_regularizer=l2, name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=l2, name="fc")(x)
    outputs = layers.Dense(1, activation="sigmoid", kernel_regularizer=l2, name="car")(x)
    return keras.Model(inputs, outputs, name="car_augmented_cnn" if augment else "car_baseline_cnn")


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
