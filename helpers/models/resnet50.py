"""Keras ResNet50 with the best weights available, as a multi-label classifier (notebook 02).

:func:`pretrained_resnet50` (ImageNet, else ``$COURSE_RESNET50_WEIGHTS``, else random with a
warning), :func:`resnet50_classifier`, :class:`ImageNetPreprocess` and
:func:`unfreeze_top_stage`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import keras
import numpy as np  # noqa: F401 (doctest)
from keras import layers

from helpers.models.vgg16 import WeightsInfo, keras_weights_file, md5
from helpers.session.messages import warn

# Keras ships no ResNet18 (the torchvision network of the published solutions): ResNet50 is the
# smallest ResNet in keras.applications.
_RESNET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
#: The Keras ImageNet files (include_top -> name, md5), as keras.applications.resnet lists them.
_RESNET50_FILES = {
    True: ("resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107"),
    False: (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626",
    ),
}
WEIGHTS_VARIABLE = "COURSE_RESNET50_WEIGHTS"
#: Layer-name prefix of ResNet50's last stage (three bottleneck blocks, 7x7 at 224x224 input).
TOP_STAGE = "conv5_"


def pretrained_resnet50(
    input_shape: tuple = (224, 224, 3), weights_file: str | os.PathLike | None = None
) -> tuple[keras.Model, WeightsInfo]:
    """Keras ResNet50 without its top, global-average pooled, with the best weights available.

    Tried in order: ``weights_file``; the Keras ImageNet weights (cache or download, failing
    within seconds offline); ``$COURSE_RESNET50_WEIGHTS``; random weights, with a warning.
    The network reads ``keras.applications.resnet50.preprocess_input``-ed input.

    Returns
    -------
    model : keras.Model
        Named ``"resnet50"``; output (n, 2048), the pooled last stage.
    weights : WeightsInfo
        ``kind`` 'imagenet', 'local' or 'random'; put ``weights.label`` in dependent titles.

    Examples
    --------
    >>> model, weights = pretrained_resnet50()  # doctest: +SKIP
    >>> weights.label  # doctest: +SKIP
    'ResNet50: ImageNet weights'
    """
    if weights_file is not None and not Path(weights_file).is_file():
        raise FileNotFoundError(f"weights_file={str(weights_file)!r} is not a file.")
    model = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=tuple(input_shape)
    )
    if weights_file is not None:
        return model, _load_local(model, Path(weights_file))
    fname, md5 = _RESNET50_FILES[False]
    try:
        path = keras_weights_file(fname, _RESNET_URL + fname, md5)
        model.load_weights(path)
        return model, WeightsInfo(
            "imagenet",
            "ResNet50 with the Keras ImageNet weights.",
            "ResNet50: ImageNet weights",
            str(path),
        )
    except OSError as error:
        reason = f"ImageNet weights unavailable ({error})"
    local = os.environ.get(WEIGHTS_VARIABLE)
    if local and Path(local).expanduser().is_file():
        info = _load_local(model, Path(local).expanduser())
        warn(f"{reason}; {info.description}")
        return model, info
    warn(
        f"{reason}, and no local weights file (${WEIGHTS_VARIABLE}"
        f"{'=' + local + ' is not a file' if local else ' is unset'}): ResNet50 has "
        "RANDOM weights. Every result that depends on it is meaningless."
    )
    return model, WeightsInfo(
        "random",
        "ResNet50 with RANDOM weights (no pretrained weights found).",
        "ResNet50: RANDOM weights",
        None,
    )


def resnet50_classifier(
    num_classes: int = 20,
    input_shape: tuple = (224, 224, 3),
    weights_file: str | os.PathLike | None = None,
    dropout: float = 0.5,
) -> tuple[keras.Model, WeightsInfo]:
    """ResNet50 (see :func:`pretrained_resnet50`) with a new ``num_classes``-way sigmoid head.

    Reads 0-255 pixels (``"preprocess"`` layer inside); ``"features"`` are the pooled 2048-d
    codes. Uncompiled, ResNet frozen: train the head, then :func:`unfreeze_top_stage`.

    Examples
    --------
    >>> model, _ = resnet50_classifier(input_shape=(64, 64, 3))  # doctest: +SKIP
    >>> model.get_layer("features").output.shape  # doctest: +SKIP
    (None, 2048)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    base, info = pretrained_resnet50(input_shape, weights_file)
    base.trainable = False
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    # inference mode: batch-norm statistics stay those of pre-training even once unfrozen
    pooled = base(ImageNetPreprocess(name="preprocess")(inputs), training=False)
    codes = layers.Identity(name="features")(pooled)
    outputs = layers.Dense(num_classes, activation="sigmoid", name="predictions")(
        layers.Dropout(dropout, name="dropout")(codes)
    )
    return keras.Model(inputs, outputs, name="resnet50_multilabel"), info


@keras.saving.register_keras_serializable(package="helpers")
class ImageNetPreprocess(layers.Layer):
    """``resnet50.preprocess_input`` as a layer: 0-255 RGB -> BGR minus the ImageNet mean.

    Examples
    --------
    >>> ImageNetPreprocess()(np.full((1, 1, 1, 3), 255, np.uint8)).numpy().round(3).ravel()
    array([151.061, 138.221, 131.32 ], dtype=float32)
    """

    # Inside the model the float conversion runs where the model runs (the GPU) and the
    # pipeline can deliver uint8; a class, not a Lambda, so a saved model loads without
    # safe_mode=False.
    def call(self, images):
        return keras.applications.resnet50.preprocess_input(keras.ops.cast(images, "float32"))

    def compute_output_shape(self, input_shape):
        return input_shape


def unfreeze_top_stage(model: keras.Model, prefix: str = TOP_STAGE) -> int:
    """Make ResNet50's last stage trainable (batch norms excepted); return how many layers are.

    Recompile the model afterwards (Keras reads ``trainable`` when compiling).
    """
    base = model.get_layer("resnet50")
    base.trainable = True
    count = 0
    for layer in base.layers:
        # batch norms stay frozen: their statistics would drift on small fine-tuning batches
        layer.trainable = layer.name.startswith(prefix) and not isinstance(
            layer, layers.BatchNormalization
        )
        count += layer.trainable
    if count == 0:
        raise ValueError(f"No layer of {base.name!r} starts with {prefix!r}.")
    return count


def _load_local(model: keras.Model, path: Path) -> WeightsInfo:
    """Load a ResNet50 weights file with or without the top (copying layers by name)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except ValueError:
        donor = keras.applications.ResNet50(weights=None, include_top=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Keras warns per layer before raising
                donor.load_weights(path)
        except ValueError as error:
            raise ValueError(
                f"{path} is not a Keras ResNet50 weights file (with or without the "
                "top); pass one saved from keras.applications.ResNet50."
            ) from error
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(donor.get_layer(layer.name).get_weights())
    digest = md5(path)
    if digest in (md5 for _, md5 in _RESNET50_FILES.values()):
        return WeightsInfo(
            "imagenet",
            f"ResNet50 with the Keras ImageNet weights, from {path}.",
            "ResNet50: ImageNet weights",
            str(path),
        )
    return WeightsInfo(
        "local",
        f"ResNet50 with local weights of unverified origin, from {path}.",
        "ResNet50: local weights (unverified)",
        str(path),
    )
