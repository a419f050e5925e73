"""Training that survives a dead session and never reuses a run it does not belong to.

``fit_resumable`` wraps ``model.fit`` for compiled Keras models: one run folder per
:func:`fingerprint` of everything that shapes the run, a complete checkpoint after every epoch,
a finished run loaded instead of retrained.

``train_metric_model`` trains any Keras model with a loss ``loss_fn(codes, labels)`` (for
instance :func:`helpers.losses.triplet_loss`), one epoch at a time, and after every epoch
writes into ``out_dir``:

``model.keras``
    The model (or ``model.weights.h5`` when the model cannot be serialised as a whole).
``optimizer.npz``
    The optimizer's state (iteration count, momentum buffers).
``history.json``
    ``{"epoch": [...], "loss": [...], "seconds": [...]}``, written last: it is the record of
    which epochs are finished.

Calling it again with the same ``out_dir`` (e.g. after a Colab session died) restores the
weights and optimizer state and continues from the last finished epoch; the batches of epoch
``k`` depend only on ``seed`` and ``k``, so an interrupted run sees the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers import _runs
from helpers.fingerprint import fingerprint

__all__ = ["fit_resumable", "fingerprint", "train_metric_model", "load_history"]

HISTORY_FILE = "history.json"
SETTINGS_FILE = "settings.json"
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "model.weights.h5"
OPTIMIZER_FILE = "optimizer.npz"
FIT_WEIGHTS_FILE = "model.weights.h5"  # with the optimizer's variables (Keras 3 saves both)


def fit_resumable(
    model: keras.Model,
    train_data,
    *,
    epochs: int,
    run_dir: str | os.PathLike,
    validation_data=None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    data_fingerprint=None,
    seed: int | None = None,
    verbose: int | str = 2,
) -> dict[str, list]:
    """``model.fit`` that survives a dead session and never reuses a run it does not belong to.

    The run lives in a sub-folder of ``run_dir`` named by :func:`fingerprint` of the model's
    configuration, the optimizer, the loss (function code and arguments), the metrics,
    ``data_fingerprint``, ``epochs`` and ``seed``. After every epoch the weights, the optimizer
    state and the history so far are saved as one checkpoint (see :mod:`helpers._runs`).
    Calling again with the same arguments (e.g. after Colab disconnected):

    * a finished run is loaded (weights and history), not retrained;
    * an unfinished run resumes after its last finished epoch, history included;
    * other arguments train afresh in another sub-folder; the old run is kept.

    Each of these says so in one printed line (unless ``verbose=0``).

    Parameters
    ----------
    model : keras.Model
        A built (``keras.Input``) and compiled model.
    train_data : tf.data.Dataset or keras.utils.PyDataset
        Batches of ``(inputs, targets)``, as ``model.fit`` takes them.
    epochs : int
        Total number of epochs, counting those already saved.
    run_dir : path
        Parent folder of the run folders, e.g. ``config.output_dir("01") / "classifier"``.
    validation_data : optional
        As for ``model.fit``.
    callbacks : sequence of keras.callbacks.Callback
        Passed to ``model.fit``. Their own state (e.g. ``EarlyStopping``'s patience count)
        starts over after a restart.
    data_fingerprint : any, optional
        Something that changes when the data change (a dataset name and size, the arrays
        themselves, the profile); the data pipeline cannot be hashed without reading it.
    seed : int, optional
        Recorded in the fingerprint; when given, ``keras.utils.set_random_seed`` is called
        before training (with the resumed epoch mixed in on a resume).
    verbose : int or str
        As for ``model.fit``; 0 also silences the one-line notes.

    Returns
    -------
    history : dict of str -> list
        ``model.fit``'s ``history.history`` over all epochs of the run, across restarts.

    Notes
    -----
    A resumed run continues from exactly the saved weights and optimizer state (its iteration
    count is checked). It equals an uninterrupted run when the batches of each epoch do not
    depend on how often ``train_data`` was iterated before (no shuffling, or a shuffle with a
    fixed seed and ``reshuffle_each_iteration=False``); a reshuffling dataset gives equally
    random, but different, batches after a restart. Damaged files give a warning naming the
    file; that run folder is set aside (not deleted) and training starts afresh.

    Examples
    --------
    >>> import tempfile, keras, numpy as np, tensorflow as tf
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> data = tf.data.Dataset.from_tensor_slices((np.ones((8, 3)), np.ones((8, 1)))).batch(4)
    >>> folder = tempfile.mkdtemp()
    >>> history = fit_resumable(model, data, epochs=2, run_dir=folder, verbose=0)
    >>> len(history["loss"])
    2
    >>> again = fit_resumable(model, data, epochs=2, run_dir=folder, verbose=0)  # loaded
    >>> again == history
    True
    """
    _check_fit_arguments(model, epochs)
    # What compile() was given, as given (get_compile_config cannot serialise a partial loss,
    # and names the optimizer "sgd_1" after a re-run); the optimizer as the object it became.
    given = dict(getattr(getattr(model, "_compile_config", None), "config", None)
                 or {"loss": model.loss})
    given.pop("optimizer", None)
    key = fingerprint("fit_resumable", model, model.optimizer, given, data_fingerprint,
                      int(epochs), seed)
    settings = {"epochs": int(epochs), "seed": seed, "optimizer": type(model.optimizer).__name__,
                "loss": _short_name(model.loss)}
    folder, notes = _runs.open_run(run_dir, key, settings, "fit_resumable")
    say = print if verbose else (lambda *_: None)
    for note in notes:
        say(note)
    model.optimizer.build(model.trainable_variables)
    try:
        state = _load_fit_checkpoint(model, folder)
    except _runs.DamagedRun as error:
        _runs.warn_damaged(error, folder, stacklevel=2)
        folder, _ = _runs.open_run(run_dir, key, settings, "fit_resumable")
        state = None
    history = state["history"] if state else {}
    done = state["epoch"] if state else 0
    if state and state.get("finished"):
        say(f"Loaded the finished run from {folder} ({done} epochs); not retraining "
            "(move that folder away to train again).")
        return history
    if done:
        say(f"Resuming {folder} after epoch {done} of {epochs}.")
    if seed is not None:
        keras.utils.set_random_seed(int(seed) + 1000 * done)
    checkpoint = _FitCheckpoint(folder, history)
    model.fit(train_data, epochs=epochs, initial_epoch=done, validation_data=validation_data,
              callbacks=[*callbacks, checkpoint], verbose=verbose,
              shuffle=not isinstance(train_data, tf.data.Dataset))  # a dataset shuffles itself
    return checkpoint.history


class _FitCheckpoint(keras.callbacks.Callback):
    """Saves weights + optimizer state + history after every epoch; marks the run finished."""

    def __init__(self, folder: Path, history: dict):
        super().__init__()
        self.folder = folder
        self.history = {key: list(values) for key, values in history.items()}
        self.epoch = len(next(iter(history.values()), []))

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epoch = epoch + 1
        self._save(finished=False)

    def on_train_end(self, logs=None):  # not called when fit raises (a kill, an error)
        self._save(finished=True)

    def _save(self, finished):
        state = {"epoch": self.epoch, "history": self.history, "finished": finished,
                 "iterations": int(self.model.optimizer.iterations.numpy())}
        _runs.save_checkpoint(self.folder, self.epoch, state, lambda path: self.model.save_weights(
            path / FIT_WEIGHTS_FILE))


def _load_fit_checkpoint(model, folder):
    """Restore the newest checkpoint into ``model`` and return its state (None: no checkpoint).

    On a damaged checkpoint the model and optimizer are put back as they were (a half-done
    load must not leak into the fresh run) and :class:`_runs.DamagedRun` is raised.
    """
    found = _runs.latest_checkpoint(folder)
    if found is None:
        return None
    path, state = found
    variables = [*model.variables, *model.optimizer.variables]
    before = [np.array(v.numpy()) for v in variables]
    weights = path / FIT_WEIGHTS_FILE
    try:
        try:
            model.load_weights(weights)
        except _runs.READ_ERRORS as error:
            raise _runs.DamagedRun(weights, f"unreadable weights ({error})") from error
        iterations = int(model.optimizer.iterations.numpy())
        if not isinstance(state.get("history"), dict) or iterations != state.get("iterations"):
            raise _runs.DamagedRun(path / _runs.STATE_FILE, "it does not match the weights "
                                   f"(optimizer iterations {iterations})")
    except _runs.DamagedRun:
        for variable, value in zip(variables, before):
            variable.assign(value)
        raise
    return state


def _check_fit_arguments(model, epochs):
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("fit_resumable needs a compiled model: call model.compile(optimizer=..., "
                         "loss=...) first.")
    if not model.built:
        raise ValueError("fit_resumable needs a built model (its weights exist): start it with "
                         "keras.Input(shape) or call model.build(input_shape) first.")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}.")


def _short_name(value) -> str:
    value = getattr(value, "func", value)  # a partial: the function's name
    return str(getattr(value, "__name__", None) or getattr(value, "name", None) or value)


def train_metric_model(
    model: keras.Model,
    images,
    labels,
    loss_fn: Callable,
    *,
    out_dir: str | os.PathLike,
    epochs: int,
    batch_size: int = 100,
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    embed: Callable | None = None,
    seed: int = 42,
    verbose: bool = True,
) -> dict:
    """Train ``model`` by SGD on ``loss_fn(embed(images), labels)``, saving after every epoch.

    Each epoch shuffles the training set with a generator seeded by ``(seed, epoch)`` and cuts
    it into batches of ``batch_size`` drawn without replacement (the last incomplete batch is
    dropped, so every batch has the same shape and the same number of anchors).

    Parameters
    ----------
    model : keras.Model
        The network whose trainable weights are updated; built elsewhere.
    images : (n, ...) float array
        Training inputs.
    labels : (n,) int array
        Class of each input.
    loss_fn : callable
        ``loss_fn(codes, labels) -> scalar tensor``, e.g.
        ``functools.partial(helpers.losses.triplet_loss, margin=0.2)``.
    out_dir : path
        Folder for ``history.json``, ``model.keras`` and ``optimizer.npz``; created if missing.
        If it already holds a history, training resumes after its last epoch.
    epochs : int
        Total number of epochs, counting those already in ``out_dir``.
    batch_size : int, default=100
    learning_rate : float, default=0.01
    momentum : float, default=0.9
    embed : callable, optional
        Maps a batch of images to its embedding, e.g.
        ``lambda batch: model.features(batch, training=True)``. Defaults to
        ``model(batch, training=True)`` (a model whose output is the embedding).
    seed : int, default=42
        Seed of the per-epoch shuffles.
    verbose : bool, default=True
        Show one progress bar per epoch, which stays as one line with the epoch's mean loss.

    Returns
    -------
    history : dict
        ``"epoch"`` (1-based), ``"loss"`` (mean batch loss) and ``"seconds"``, one entry per
        finished epoch, the resumed ones included.

    Raises
    ------
    FloatingPointError
        If an epoch's loss is not finite; that epoch is not saved, so the folder keeps the last
        good checkpoint (lower the learning rate and call again).

    Notes
    -----
    Only weights that receive a gradient are updated (with ``embed`` on a sub-path, a
    classification head is left alone). Under the ``mixed_float16`` policy the optimizer is
    wrapped in a ``LossScaleOptimizer``. If a run dies between saving the model and the history,
    the next call repeats that one epoch from the newer weights. Resuming with other settings
    than the saved ones gives a warning.

    Examples
    --------
    >>> import functools, tempfile
    >>> import keras, numpy as np
    >>> from helpers.losses import triplet_loss
    >>> images = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    >>> labels = np.arange(40) % 2
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> out = tempfile.mkdtemp()
    >>> history = train_metric_model(model, images, labels, functools.partial(triplet_loss),
    ...                              out_dir=out, epochs=2, batch_size=20, verbose=False)
    >>> history["epoch"]
    [1, 2]
    """
    images, labels = _validate_training_inputs(model, images, labels, loss_fn, epochs, batch_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"batch_size": int(batch_size), "learning_rate": float(learning_rate),
                "momentum": float(momentum), "seed": int(seed)}
    if embed is None:
        def embed(batch):
            return model(batch, training=True)

    if not model.built:
        model(images[:1], training=False)  # creates the weights without touching BN statistics
    optimizer = _make_optimizer(learning_rate, momentum)
    optimizer.build(model.trainable_variables)

    history = _resume(model, optimizer, out_dir, settings)
    (out_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=1))
    first_epoch = len(history["epoch"]) + 1

    train_step = _make_train_step(model, optimizer, embed, loss_fn)
    with tf.device("/CPU:0"):  # tf.data runs on the host; prefetch hands batches to the GPU
        images_t, labels_t = tf.convert_to_tensor(images), tf.convert_to_tensor(labels)
    steps = len(images) // batch_size
    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        desc = f"epoch {epoch}/{epochs}" + (" (resumed)" if epoch == first_epoch > 1 else "")
        bar = tqdm(total=steps, desc=desc, unit="batch", disable=not verbose, leave=True)
        batch_losses = []
        for batch_images, batch_labels in _epoch_batches(images_t, labels_t, batch_size,
                                                         seed, epoch):
            batch_losses.append(train_step(batch_images, batch_labels))
            bar.update(1)
        loss = float(tf.reduce_mean(tf.stack(batch_losses)))
        bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"The loss of epoch {epoch} is {loss}; nothing of this epoch was saved, so "
                f"{out_dir} still holds epoch {epoch - 1}. Lower the learning rate "
                f"(now {learning_rate}) and call again to resume.")
        history["epoch"].append(epoch)
        history["loss"].append(loss)
        history["seconds"].append(round(time.perf_counter() - start, 3))
        _save_checkpoint(model, optimizer, history, out_dir)
    return history


def load_history(path: str | os.PathLike) -> dict:
    """Read a training history saved by :func:`train_metric_model`.

    Parameters
    ----------
    path : path
        The ``history.json`` file, or the folder that holds it.

    Returns
    -------
    history : dict
        ``"epoch"``, ``"loss"`` and ``"seconds"``: lists with one entry per finished epoch.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "history.json").write_text(json.dumps(
    ...     {"epoch": [1], "loss": [0.5], "seconds": [2.0]}))
    >>> load_history(folder)["loss"]
    [0.5]
    """
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No training history at {path}; pass the out_dir given to "
                                "train_metric_model or its history.json.")
    history = json.loads(path.read_text())
    keys = ("epoch", "loss", "seconds")
    if not isinstance(history, dict) or not all(isinstance(history.get(k), list) for k in keys) \
            or len({len(history[k]) for k in keys}) != 1:
        raise ValueError(f"{path} is not a history written by train_metric_model: expected "
                         "lists 'epoch', 'loss' and 'seconds' of equal length.")
    return history


# --- helpers ----------------------------------------------------------------------------------

def _validate_training_inputs(model, images, labels, loss_fn, epochs, batch_size):
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}.")
    if not callable(loss_fn):
        raise ValueError("loss_fn must be callable as loss_fn(codes, labels), e.g. "
                         "functools.partial(helpers.losses.triplet_loss, margin=0.2).")
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"labels must have shape (n,) matching the {len(images)} images, "
                         f"got shape {labels.shape}.")
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    if batch_size > len(images):
        raise ValueError(f"batch_size={batch_size} is larger than the {len(images)} training "
                         "images; use a smaller batch.")
    return images, labels


def _make_optimizer(learning_rate, momentum):
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        # float16 gradients underflow without loss scaling.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _make_train_step(model, optimizer, embed, loss_fn):
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
            raise ValueError("The loss does not depend on any trainable weight of the model; "
                             "check that embed uses the model.")
        optimizer.apply_gradients(pairs)
        return loss

    return train_step


def _epoch_batches(images, labels, batch_size, seed, epoch):
    order = np.random.default_rng([seed, epoch]).permutation(len(labels))
    return (tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size, drop_remainder=True)
            .map(lambda index: (tf.gather(images, index), tf.gather(labels, index)),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def _resume(model, optimizer, out_dir, settings):
    if not (out_dir / HISTORY_FILE).is_file():
        return {"epoch": [], "loss": [], "seconds": []}
    history = load_history(out_dir)
    if not history["epoch"]:
        return history
    if (out_dir / MODEL_FILE).is_file():
        model.load_weights(out_dir / MODEL_FILE)
    elif (out_dir / WEIGHTS_FILE).is_file():
        model.load_weights(out_dir / WEIGHTS_FILE)
    else:
        raise FileNotFoundError(
            f"{out_dir} has a history of {len(history['epoch'])} epochs but no {MODEL_FILE}: "
            "delete history.json to start over, or point out_dir at the complete folder.")
    _restore_optimizer(optimizer, out_dir / OPTIMIZER_FILE)
    if (out_dir / SETTINGS_FILE).is_file():
        saved = json.loads((out_dir / SETTINGS_FILE).read_text())
        changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        if changed:
            warnings.warn(f"Resuming {out_dir} with other settings than it was started with "
                          f"(saved, now): {changed}.", stacklevel=3)
    return history


def _restore_optimizer(optimizer, path):
    if not path.is_file():
        warnings.warn(f"No optimizer state at {path}: momentum restarts from zero.", stacklevel=4)
        return
    with np.load(path) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    variables = optimizer.variables
    if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
        warnings.warn(f"The optimizer state in {path} does not fit this model: momentum "
                      "restarts from zero.", stacklevel=4)
        return
    for variable, value in zip(variables, values):
        if not variable.path.endswith("learning_rate"):  # the caller's learning rate wins
            variable.assign(value)


def _save_checkpoint(model, optimizer, history, out_dir):
    """Write model, optimizer, then history, each through a temporary file and a rename."""
    partial_model = out_dir / ".partial.keras"
    try:
        model.save(partial_model)
        os.replace(partial_model, out_dir / MODEL_FILE)
    except NotImplementedError:
        # A subclassed model without get_config cannot be saved whole; its weights resume fine.
        partial_model.unlink(missing_ok=True)
        partial_weights = out_dir / ".partial.weights.h5"
        model.save_weights(partial_weights)
        os.replace(partial_weights, out_dir / WEIGHTS_FILE)
    partial_optimizer = out_dir / ".partial.npz"
    np.savez(partial_optimizer, *[keras.ops.convert_to_numpy(v) for v in optimizer.variables])
    os.replace(partial_optimizer, out_dir / OPTIMIZER_FILE)
    partial_history = out_dir / ".partial.json"
    partial_history.write_text(json.dumps(history, indent=1))
    os.replace(partial_history, out_dir / HISTORY_FILE)
