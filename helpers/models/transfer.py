"""Transfer learning with a frozen VGG16 (notebook 04), and what a layer sees.

Heads on cached codes (:func:`code_head`, :func:`train_head`, :func:`transfer_model`,
:func:`extract_codes_in_chunks`), filter visualisation by gradient ascent
(:func:`visualise_filters`) and :func:`temperature_softmax`: the course's reference
implementations of the steps the notebook asks students to write.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.models import features

#: Name of the new N-way softmax layer (VGG16's own 1000-way layer is ``predictions``).
HEAD_LAYER = "new_predictions"


def code_head(n_classes: int, code_size: int = 4096, name: str = "softmax_head") -> keras.Model:
    """An N-way softmax on a code: ``Input(code_size) -> Dense(n_classes, softmax)``.

    ``code_size`` is 4096 for VGG16's ``fc2``; the Dense layer is named :data:`HEAD_LAYER`, as in
    :func:`transfer_model`.
    """
    if n_classes < 2 or code_size < 1:
        raise ValueError(f"need n_classes >= 2 and code_size >= 1; got {n_classes}, {code_size}.")
    inputs = keras.Input((code_size,), name="codes")
    outputs = keras.layers.Dense(n_classes, activation="softmax", name=HEAD_LAYER)(inputs)
    return keras.Model(inputs, outputs, name=name)


def transfer_model(vgg: keras.Model, n_classes: int, layer: str = "fc2") -> keras.Model:
    """VGG16 up to ``layer``, frozen, with a new N-way softmax on top: the end-to-end model.

    Parameters
    ----------
    vgg : keras.Model
        ``keras.applications.VGG16(include_top=True)``; its layers are shared, so they are frozen
        too.
    layer : str
        The layer the softmax reads.

    Returns
    -------
    keras.Model
        Preprocessed 224x224x3 image -> class probabilities; only :data:`HEAD_LAYER` trains.
    """
    codes = vgg.get_layer(layer).output
    outputs = keras.layers.Dense(n_classes, activation="softmax", name=HEAD_LAYER)(codes)
    model = keras.Model(vgg.input, outputs, name=f"vgg16_{layer}_transfer")
    for model_layer in model.layers:
        model_layer.trainable = model_layer.name == HEAD_LAYER
    return model


def train_head(
    head: keras.Model,
    train: tuple,
    validation: tuple | None = None,
    *,
    epochs: int = 20,
    patience: int | None = 6,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    verbose: int = 0,
) -> dict[str, list]:
    """Compile ``head`` (RMSprop, sparse cross-entropy) and fit it, with early stopping.

    Parameters
    ----------
    train, validation : (inputs, labels)
        Codes (n, d) or images, and int labels (n,); ``validation`` is optional.
    patience : int or None
        Stop when ``val_loss`` has not improved for this many epochs and restore the best
        weights; None: no early stopping.

    Returns
    -------
    dict of str -> list
        The Keras history, one entry per epoch run.
    """
    head.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = []
    if validation is not None and patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    history = head.fit(
        *train,
        validation_data=validation,
        epochs=epochs,
        batch_size=batch_size,
        callbacks=callbacks,
        verbose=verbose,
    )
    return history.history


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


@tf.function
def gradient_ascent_step(
    feature_model: keras.Model, images: tf.Tensor, filter_indices: tf.Tensor, step_size: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """One normalised gradient-ascent step on the input: image ``i`` towards filter ``i``.

    Parameters
    ----------
    feature_model : keras.Model
        Image batch -> a conv layer's output (k, h, w, channels).
    images : (k, H, W, 3) float32 tensor
        Preprocessed input space.
    filter_indices : (k,) int32 tensor
    step_size : float32 scalar tensor

    Returns
    -------
    images : (k, H, W, 3) tensor
        ``images + step_size * g / ||g||``, ``g`` the gradient of image ``i``'s objective.
    objectives : (k,) tensor
        Mean activation of filter ``filter_indices[i]`` on image ``i``, before the step.
    """
    with tf.GradientTape() as tape:
        tape.watch(images)
        activations = feature_model(images, training=False)
        # One channel per image, by a one-hot mask (tf.gather with batch_dims has no gradient).
        mask = tf.one_hot(filter_indices, tf.shape(activations)[-1], dtype=activations.dtype)
        chosen = tf.reduce_sum(activations * mask[:, None, None, :], axis=-1)  # (k, h, w)
        objectives = tf.reduce_mean(chosen, axis=[1, 2])
        total = tf.reduce_sum(objectives)
    # Each objective depends on its own image only, so the gradient of the sum is per image.
    gradients = tape.gradient(total, images)
    # each gradient divided by its own norm: the step does not depend on the response's size
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3], keepdims=True))
    return images + step_size * gradients / (norms + 1e-12), objectives


def visualise_filters(
    feature_model: keras.Model,
    start_images: np.ndarray,
    filter_indices: Sequence[int],
    steps: int = 30,
    step_size: float = 10.0,
    step: Callable = gradient_ascent_step,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``steps`` gradient-ascent steps from ``start_images`` (one per filter).

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


def temperature_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` along the last axis, without overflow; rows sum to 1 (float32).

    Examples
    --------
    >>> temperature_softmax(np.array([0.0, np.log(3.0)]), 1.0).round(3)
    array([0.25, 0.75], dtype=float32)
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}.")
    scaled = np.asarray(logits, np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)  # exp of at most 0: no overflow
    weights = np.exp(scaled)
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def imagenet_logits(vgg: keras.Model, fc2_codes: np.ndarray) -> np.ndarray:
    """VGG16's 1000 pre-softmax scores from its ``fc2`` codes (``codes @ W + b``)."""
    # predictions is a Dense layer on fc2: exactly VGG16's logits, no pass over the images
    kernel, bias = vgg.get_layer("predictions").get_weights()
    return (np.asarray(fc2_codes, np.float32) @ kernel + bias).astype(np.float32)
