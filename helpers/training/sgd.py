"""The parts of :func:`helpers.training.train_metric_model`: input checks, the SGD step and the
per-epoch batches (its checkpoints are written in :mod:`helpers.training.checkpoints`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def validate_training_inputs(model, images, labels, loss_fn, epochs, batch_size):
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}.")
    if not callable(loss_fn):
        raise ValueError(
            "loss_fn must be callable as loss_fn(codes, labels), e.g. "
            "functools.partial(triplet_loss, margin=0.2) with your own triplet_loss."
        )
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must have shape (n,) matching the {len(images)} images, "
            f"got shape {labels.shape}."
        )
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    if batch_size > len(images):
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(images)} training "
            "images; use a smaller batch."
        )
    return images, labels


def make_optimizer(learning_rate, momentum):
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        # float16 gradients underflow without loss scaling.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def make_train_step(model, optimizer, embed, loss_fn):
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_step(batch_images, batch_labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(embed(batch_images), batch_labels)
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        # Weights off the embedding path (e.g. a classifier head) get None: leave them alone.
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if not pairs:
            raise ValueError(
                "The loss does not depend on any trainable weight of the model; "
                "check that embed uses the model."
            )
        optimizer.apply_gradients(pairs)
        return loss

    return train_step


def epoch_batches(images, labels, batch_size, seed, epoch):
    order = np.random.default_rng([seed, epoch]).permutation(len(labels))
    return (
        tf.data.Dataset.from_tensor_slices(order)
        .batch(batch_size, drop_remainder=True)
        .map(
            lambda index: (tf.gather(images, index), tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
    )
