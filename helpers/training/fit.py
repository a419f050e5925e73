"""Training that survives a dead session and never reuses a run it does not belong to.

``fit_resumable`` wraps ``model.fit``; ``train_metric_model`` trains by SGD on a metric loss;
``load_history`` reads a saved history. Run folders and checkpoints are in
:mod:`helpers.training.checkpoints`, the SGD parts in :mod:`helpers.training.sgd`.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import keras
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.training import checkpoints, sgd
from helpers.training.fingerprint import fingerprint

__all__ = ["fit_resumable", "fingerprint", "train_metric_model", "load_history"]

HISTORY_FILE = "history.json"  # the layout before run folders; still read by load_history
CURRENT_FILE = "CURRENT"  # in train_metric_model's out_dir: the run of the last call


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
    """``model.fit`` with a checkpoint after every epoch, resumed or loaded when called again.

    The run's folder in ``run_dir`` is keyed by :func:`fingerprint` of the model, optimizer, loss,
    metrics, ``data_fingerprint``, ``epochs``, ``seed`` and any ``EarlyStopping``: a finished run
    is loaded, an unfinished one resumes after its last epoch, other arguments train afresh in
    another folder (the old one is kept). A damaged run is set aside with a warning.

    Parameters
    ----------
    model : keras.Model
        A built (``keras.Input``) and compiled model.
    train_data : tf.data.Dataset or keras.utils.PyDataset
        Batches of ``(inputs, targets)``. A resumed run equals an uninterrupted one only if the
        batches do not depend on earlier iterations (no reshuffling each iteration).
    epochs : int
        Total number of epochs, counting those already saved.
    run_dir : path
        Parent folder of the run folders, e.g. ``session.output_dir("01") / "classifier"``.
    callbacks : sequence of keras.callbacks.Callback
        Passed to ``model.fit``; an ``EarlyStopping`` keeps its memory across a restart.
    data_fingerprint : any, optional
        The arrays the run learns from (or the source's checksum), so that other data is
        another run: e.g. ``(x_train, y_train, x_val, y_val)``.
    seed : int, optional
        When given, ``keras.utils.set_random_seed`` is called before training.
    verbose : int or str
        As for ``model.fit``; 0 also silences the one-line notes.

    Returns
    -------
    dict of str -> list
        ``history.history`` over all epochs of the run, across restarts.

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
    checkpoints.check_fit_arguments(model, epochs)
    # Resuming continues from the saved weights and optimizer state (its iteration count is
    # checked); an EarlyStopping's best value, patience and best weights come back too.
    # What compile() was given, as given (get_compile_config cannot serialise a partial loss,
    # and names the optimizer "sgd_1" after a re-run); the optimizer as the object it became.
    given = dict(
        getattr(getattr(model, "_compile_config", None), "config", None) or {"loss": model.loss}
    )
    given.pop("optimizer", None)
    # EarlyStopping decides where the run ends and which weights it keeps: part of the key, and
    # its memory carried across a restart (ResumeEarlyStopping). Other callbacks only watch.
    stoppers = [cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping)]
    key = fingerprint(
        "fit_resumable",
        model,
        model.optimizer,
        given,
        data_fingerprint,
        int(epochs),
        seed,
        [_stopper_settings(cb) for cb in stoppers],
    )
    settings = {
        "epochs": int(epochs),
        "seed": seed,
        "optimizer": type(model.optimizer).__name__,
        "loss": _short_name(model.loss),
    }
    folder, notes = checkpoints.open_run(run_dir, key, settings, "fit_resumable")
    say = print if verbose else (lambda *_: None)
    for note in notes:
        say(note)
    model.optimizer.build(model.trainable_variables)
    try:
        state = checkpoints.load_fit_checkpoint(model, folder)
    except checkpoints.DamagedRun as error:
        checkpoints.warn_damaged(error, folder)
        folder, _ = checkpoints.open_run(run_dir, key, settings, "fit_resumable")
        state = None
    history = state["history"] if state else {}
    done = state["epoch"] if state else 0
    if state and state.get("finished"):
        say(
            f"Loaded the finished run from {folder} ({done} epochs); not retraining "
            "(move that folder away to train again)."
        )
        return history
    if done:
        say(f"Resuming {folder} after epoch {done} of {epochs}.")
    if seed is not None:
        keras.utils.set_random_seed(int(seed) + 1000 * done)
    checkpoint = checkpoints.FitCheckpoint(folder, history, stoppers)
    resume = (
        [checkpoints.ResumeEarlyStopping(stoppers, history, done, state.get("_best_weights", {}))]
        if done and stoppers
        else []
    )
    model.fit(
        train_data,
        epochs=epochs,
        initial_epoch=done,
        validation_data=validation_data,
        callbacks=[*resume, *callbacks, checkpoint],
        verbose=verbose,
        shuffle=not isinstance(train_data, tf.data.Dataset),
    )  # a dataset shuffles itself
    return checkpoint.history


def _stopper_settings(stopper: keras.callbacks.EarlyStopping) -> dict:
    """What an EarlyStopping decides by (min_delta's sign flips once it has seen an epoch)."""
    return {
        "monitor": stopper.monitor,
        "patience": stopper.patience,
        "min_delta": abs(float(stopper.min_delta)),
        "mode": getattr(stopper, "mode", None),
        "baseline": stopper.baseline,
        "restore_best_weights": stopper.restore_best_weights,
        "start_from_epoch": getattr(stopper, "start_from_epoch", 0),
    }


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

    The run's folder ``out_dir/run-<fingerprint>/`` is keyed by the model, ``loss_fn``, ``embed``,
    the data and the settings; a call with the same key resumes or loads it, anything else trains
    afresh (other runs are kept). ``out_dir/CURRENT`` names the last call's run.

    Parameters
    ----------
    model : keras.Model
        The network whose trainable weights are updated.
    images : (n, ...) float array
    labels : (n,) int array
    loss_fn : callable
        ``loss_fn(codes, labels) -> scalar tensor`` written with TensorFlow operations, e.g.
        ``functools.partial(triplet_loss, margin=0.2)`` for a ``triplet_loss(features, labels,
        margin=...)`` of your own (notebook 03, question 4.1).
    out_dir : path
        Parent folder of the run folders; created if missing.
    epochs : int
        Total number of epochs, counting those already saved.
    embed : callable, optional
        Batch of images -> embedding, e.g. ``lambda batch: model.features(batch, training=True)``;
        default ``model(batch, training=True)``.
    seed : int, default=42
        Seed of the per-epoch shuffles (epoch ``k``'s batches depend only on ``seed`` and ``k``).
    verbose : bool, default=True
        One progress bar per epoch, and a line when a run is loaded, resumed or not reused.

    Returns
    -------
    dict
        ``"epoch"`` (1-based), ``"loss"`` (mean batch loss) and ``"seconds"`` per finished epoch.

    Raises
    ------
    FloatingPointError
        If an epoch's loss is not finite; that epoch is not saved.

    Examples
    --------
    >>> import tempfile
    >>> import keras, numpy as np, tensorflow as tf
    >>> def spread(codes, labels):  # a toy loss_fn: the codes' mean squared distance to 0
    ...     return tf.reduce_mean(tf.square(codes))
    >>> images = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    >>> labels = np.arange(40) % 2
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> out = tempfile.mkdtemp()
    >>> history = train_metric_model(model, images, labels, spread,
    ...                              out_dir=out, epochs=2, batch_size=20, verbose=False)
    >>> history["epoch"]
    [1, 2]
    """
    images, labels = sgd.validate_training_inputs(
        model, images, labels, loss_fn, epochs, batch_size
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not model.built:
        model(images[:1], training=False)  # creates the weights without touching BN statistics
    settings = {
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "momentum": float(momentum),
        "seed": int(seed),
        "loss": _short_name(loss_fn),
        "policy": keras.mixed_precision.global_policy().name,
    }
    key = fingerprint("train_metric_model", model, loss_fn, embed, images, labels, settings)
    say = tqdm.write if verbose else (lambda *_: None)
    folder, notes = checkpoints.open_run(out_dir, key, settings, "train_metric_model")
    optimizer = sgd.make_optimizer(learning_rate, momentum)
    optimizer.build(model.trainable_variables)
    try:
        state = checkpoints.load_metric_checkpoint(model, optimizer, folder)
    except checkpoints.DamagedRun as error:
        checkpoints.warn_damaged(error, folder)
        folder, _ = checkpoints.open_run(out_dir, key, settings, "train_metric_model")
        state = None
    if state and state["epoch"] > epochs:
        notes.append(
            f"{folder} holds {state['epoch']} epochs, more than the {epochs} asked "
            f"for; set aside as {checkpoints.set_aside(folder).name}, training afresh."
        )
        checkpoints.reset(model, optimizer, state.pop("initial"))
        folder, _ = checkpoints.open_run(out_dir, key, settings, "train_metric_model")
        state = None
    for note in notes:
        say(note)
    checkpoints.write_json(out_dir / CURRENT_FILE, {"run": folder.name})
    history = state["history"] if state else {"epoch": [], "loss": [], "seconds": []}
    # The starting weights are not in the key: they follow from the model's seed. Only
    # weights that receive a gradient change (with embed on a sub-path, a head stays as is);
    # under mixed_float16 sgd wraps the optimizer in a LossScaleOptimizer.
    if state and state["epoch"] == epochs:
        say(f"Loaded the finished run from {folder} ({epochs} epochs); not retraining.")
        return history
    if embed is None:

        def embed(batch):
            return model(batch, training=True)

    train_step = sgd.make_train_step(model, optimizer, embed, loss_fn)
    with tf.device("/CPU:0"):  # tf.data runs on the host; prefetch hands batches to the GPU
        images_t, labels_t = tf.convert_to_tensor(images), tf.convert_to_tensor(labels)
    # batches drawn without replacement; the last incomplete one is dropped, so every batch
    # has one shape and the same number of anchors
    steps = len(images) // batch_size
    first_epoch = len(history["epoch"]) + 1
    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        desc = f"epoch {epoch}/{epochs}" + (" (resumed)" if epoch == first_epoch > 1 else "")
        bar = tqdm(total=steps, desc=desc, unit="batch", disable=not verbose, leave=True)
        batch_losses = []
        for batch_images, batch_labels in sgd.epoch_batches(
            images_t, labels_t, batch_size, seed, epoch
        ):
            batch_losses.append(train_step(batch_images, batch_labels))
            bar.update(1)
        loss = float(tf.reduce_mean(tf.stack(batch_losses)))
        bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"The loss of epoch {epoch} is {loss}; nothing of this epoch was saved, so "
                f"{folder} still holds epoch {epoch - 1}. Lower the learning rate "
                f"(now {learning_rate}) and call again to resume."
            )
        history["epoch"].append(epoch)
        history["loss"].append(loss)
        history["seconds"].append(round(time.perf_counter() - start, 3))
        checkpoints.save_metric_checkpoint(model, optimizer, history, folder)
    return history


def load_history(path: str | os.PathLike) -> dict:
    """Read a training history saved by :func:`train_metric_model`.

    Parameters
    ----------
    path : path
        The ``out_dir`` of :func:`train_metric_model` (its last call's run is read), a run
        folder in it, or a ``history.json`` file.

    Returns
    -------
    dict
        ``"epoch"``, ``"loss"`` and ``"seconds"``, one entry per finished epoch.

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
    if (path / CURRENT_FILE).is_file():
        path = path / checkpoints.read_json(path / CURRENT_FILE).get("run", "")
    if (path / checkpoints.LATEST_FILE).is_file():
        history = checkpoints.latest_checkpoint(path)[1].get("history")
    else:
        path = path / HISTORY_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(
                f"No training history at {path}; pass the out_dir given to "
                "train_metric_model, one of its run folders or a "
                "history.json."
            )
        history = checkpoints.read_json(path)
    keys = ("epoch", "loss", "seconds")
    if (
        not isinstance(history, dict)
        or not all(isinstance(history.get(k), list) for k in keys)
        or len({len(history[k]) for k in keys}) != 1
    ):
        raise ValueError(
            f"{path} is not a history written by train_metric_model: expected "
            "lists 'epoch', 'loss' and 'seconds' of equal length."
        )
    return history
