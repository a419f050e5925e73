"""Transfer learning with a frozen VGG16 (notebook 04): the steps the notebook uses as given.

Codes of several layers in one pass (:func:`pooled_probe`, :func:`extract_codes_in_chunks`),
:func:`accuracy_of` a head, filter visualisation that repeats a gradient-ascent step passed in
(:func:`visualise_filters`, :func:`strongest_filters`, :func:`deprocess_vgg16`, :func:`stretch`)
and VGG16's ImageNet logits from its ``fc2`` codes (:func:`imagenet_logits`).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.models import features


def accuracy_of(head: keras.Model, codes: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``codes`` whose most probable class is their label."""
    # direct calls in blocks: predict() would trace a new function for every head of a sweep
    # (and TensorFlow warns about frequent retracing)
    predicted = [
        np.asarray(head(codes[start : start + 1024], training=False)).argmax(axis=1)
        for start in range(0, len(codes), 1024)
    ]
    return float(np.mean(np.concatenate(predicted) == np.asarray(labels)))


def pooled_probe(
    vgg: keras.Model,
    pooled: Sequence[str] = ("block5_conv1", "block5_conv2"),
    codes: Sequence[str] = ("fc2",),
) -> tuple[keras.Model, list[str]]:
    """A model whose outputs are ``codes`` and 2x2 max-pooled copies of the ``pooled`` layers.

    Returns
    -------
    model : keras.Model
    names : list of str
        Output names for :func:`~helpers.models.features.extract_codes`: ``codes``, then
        ``<layer>_pooled`` for each of ``pooled``.
    """
    # block5_conv3 pooled 2x2 is VGG16's own block5_pool: ask for that one in codes
    outputs, names = [], []
    for name in codes:
        outputs.append(vgg.get_layer(name).output)
        names.append(name)
    for name in pooled:
        layer = keras.layers.MaxPooling2D(2, name=f"{name}_pooled")
        outputs.append(layer(vgg.get_layer(name).output))
        names.append(layer.name)
    return keras.Model(vgg.input, outputs, name="vgg16_probe"), names


def extract_codes_in_chunks(
    model: keras.Model,
    images: np.ndarray,
    layer_names: Sequence[str],
    *,
    dtypes: dict[str, str] | None = None,
    chunk_size: int = 2048,
    batch_size: int = 64,
    preprocess: Callable | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache_key: str = "codes",
    verbose: bool = True,
) -> dict[str, np.ndarray]:
    """:func:`~helpers.models.features.extract_codes` over consecutive chunks of ``images``.

    Each chunk is cached on its own and cast at once to its layer's dtype in ``dtypes`` (default
    float32).

    Raises
    ------
    ValueError
        If a code does not fit its dtype (a float16 overflow), naming the layer.
    """
    # Chunks: an interrupted extraction resumes at the first missing one, and no float32
    # copy of everything is held (pooled block5 codes of 20,480 images: 3 GB in float16,
    # twice that in float32, too much for Colab).
    dtypes = dtypes or {}
    result: dict[str, np.ndarray] = {}
    starts = range(0, len(images), chunk_size)
    for start in tqdm(starts, desc="codes, chunk by chunk", unit="chunk", disable=not verbose):
        stop = min(start + chunk_size, len(images))
        codes = features.extract_codes(
            model,
            images[start:stop],
            list(layer_names),
            batch_size=batch_size,
            preprocess=preprocess,
            cache_dir=cache_dir,
            verbose=False,
            cache_key=f"{cache_key}-rows{start}-{stop}",
        )
        for name, chunk in codes.items():
            if name not in result:
                result[name] = np.empty((len(images), chunk.shape[1]), dtypes.get(name, "float32"))
            with np.errstate(over="ignore"):  # an overflow is reported just below
                result[name][start:stop] = chunk
            if not np.all(np.isfinite(result[name][start:stop])):
                raise ValueError(
                    f"codes of {name} overflow {result[name].dtype} (largest "
                    f"{np.abs(chunk).max():.3g}); keep that layer in float32."
                )
    return result


def visualise_filters(
    feature_model: keras.Model,
    start_images: np.ndarray,
    filter_indices: Sequence[int],
    steps: int = 30,
    step_size: float = 10.0,
    *,
    step: Callable,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``steps`` gradient-ascent steps from ``start_images`` (one per filter).

    ``step(feature_model, images, filter_indices, step_size) -> (images, objectives)`` is one
    normalised step (notebook 04 passes the one its students write); this function repeats it
    and records each filter's objective.

    Returns
    -------
    images : (k, H, W, 3) float32 array
        The final inputs, in the preprocessed space.
    objectives : (steps, k) array
        Each filter's mean activation before every step.
    """
    images = tf.convert_to_tensor(np.asarray(start_images, np.float32))
    indices = tf.constant(np.asarray(filter_indices), tf.int32)
    size = tf.constant(step_size, tf.float32)
    trace = []
    for _ in range(steps):
        images, objectives = step(feature_model, images, indices, size)
        trace.append(np.asarray(objectives))
    return images.numpy(), np.array(trace)


def strongest_filters(feature_model: keras.Model, image: np.ndarray, count: int = 16) -> np.ndarray:
    """The ``count`` filters most active on ``image`` (1, H, W, 3), strongest first."""
    activations = np.asarray(feature_model(np.asarray(image, np.float32), training=False))
    return np.argsort(-activations[0].mean(axis=(0, 1)), kind="stable")[:count]


def deprocess_vgg16(images: np.ndarray) -> np.ndarray:
    """Undo ``vgg16.preprocess_input`` (BGR, ImageNet mean removed) for display: RGB in [0, 1]."""
    bgr = np.asarray(images, np.float64) + np.array([103.939, 116.779, 123.68])
    return np.clip(bgr[..., ::-1] / 255.0, 0.0, 1.0)


def stretch(images: np.ndarray) -> np.ndarray:
    """Each image rescaled to fill [0, 1] (for drawing what gradient ascent produced)."""
    images = np.asarray(images, np.float64)
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return (images - low) / np.maximum(high - low, 1e-12)


def imagenet_logits(vgg: keras.Model, fc2_codes: np.ndarray) -> np.ndarray:
    """VGG16's 1000 pre-softmax scores from its ``fc2`` codes (``codes @ W + b``)."""
    # predictions is a Dense layer on fc2: exactly VGG16's logits, no pass over the images
    kernel, bias = vgg.get_layer("predictions").get_weights()
    return (np.asarray(fc2_codes, np.float32) @ kernel + bias).astype(np.float32)
