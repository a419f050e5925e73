"""Notebook 04's answer key: the transfer steps its questions ask the student to write.

``code_head`` and ``transfer_model`` (Question 2.1), ``train_head`` (4.1),
``gradient_ascent_step`` (6.1) and ``temperature_softmax`` (9.1), moved out of
``helpers.models.transfer`` so the student's wheel holds no answer. The tests
(``tests/test_transfer.py``) and ``benchmarks/bench_transfer.py`` import them from here.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

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
