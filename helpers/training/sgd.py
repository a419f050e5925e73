"""The parts of :func:`helpers.training.train_metric_model`: input checks, the SGD step, the
per-epoch batches and the optimizer state on disk (kept apart so training.py stays readable)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers.training import checkpoints

OPTIMIZER_FILE = "optimizer.npz"
METRIC_WEIGHTS_FILE = "model.weights.h5"  # the model only; the optimizer is in optimizer.npz


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


def save_optimizer(optimizer, folder: Path) -> None:
    """Write the optimizer's variables (iteration count, momentum buffers) to optimizer.npz."""
    np.savez(folder / OPTIMIZER_FILE, *[np.array(v.numpy()) for v in optimizer.variables])


def restore_optimizer(optimizer, folder: Path) -> None:
    """Assign the saved variables, except the learning rate (the caller's wins).

    Raises
    ------
    helpers.training.checkpoints.DamagedRun
        If optimizer.npz is unreadable or does not fit this optimizer.
    """
    path = folder / OPTIMIZER_FILE
    try:
        with np.load(path) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except checkpoints.READ_ERRORS as error:
        raise checkpoints.DamagedRun(path, f"unreadable optimizer state ({error})") from error
    variables = optimizer.variables
    if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
        raise checkpoints.DamagedRun(path, "the optimizer state does not fit this model")
    for variable, value in zip(variables, values):
        if not variable.path.endswith("learning_rate"):
            variable.assign(value)


def load_metric_checkpoint(model, optimizer, folder):
    """Restore the newest checkpoint (weights, optimizer) and return its state, or None.

    The state carries ``"initial"``: the model's and optimizer's values before the restore.
    On a damaged checkpoint they are put back and :class:`checkpoints.DamagedRun` is raised.
    """
    variables = [*model.weights, *optimizer.variables]
    initial = [np.array(v.numpy()) for v in variables]
    found = checkpoints.latest_checkpoint(folder)
    if found is None:
        return None
    path, state = found
    try:
        try:
            model.load_weights(path / METRIC_WEIGHTS_FILE)
        except checkpoints.READ_ERRORS as error:
            raise checkpoints.DamagedRun(
                path / METRIC_WEIGHTS_FILE, f"unreadable weights ({error})"
            ) from error
        restore_optimizer(optimizer, path)
        history = state.get("history")
        iterations = int(optimizer.iterations.numpy())
        if (
            not isinstance(history, dict)
            or len(history.get("epoch", [])) != state.get("epoch")
            or iterations != state.get("iterations")
        ):
            raise checkpoints.DamagedRun(
                path / checkpoints.STATE_FILE,
                f"it does not match the saved weights and optimizer (iterations {iterations})",
            )
    except checkpoints.DamagedRun:
        reset(model, optimizer, initial)
        raise
    state["initial"] = initial
    return state


def reset(model, optimizer, values):
    for variable, value in zip([*model.weights, *optimizer.variables], values):
        variable.assign(value)


def save_metric_checkpoint(model, optimizer, history, folder):
    def write_files(path):
        model.save_weights(path / METRIC_WEIGHTS_FILE)
        save_optimizer(optimizer, path)

    state = {
        "epoch": len(history["epoch"]),
        "history": history,
        "iterations": int(optimizer.iterations.numpy()),
    }
    checkpoints.save_checkpoint(folder, state["epoch"], state, write_files)
