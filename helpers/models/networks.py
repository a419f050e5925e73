"""The course's networks, as functions returning (uncompiled) Keras models.

Each names the layers a notebook reads codes from (``extract_codes(model, images, ["fc6"])``).
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["FashionNet", "fashion_net"]


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


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
