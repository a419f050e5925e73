"""Run folders keyed by a fingerprint, with checkpoints that a death at any moment cannot break.

A run (``<parent>/run-<16 hex digits>/``) holds ``run.json`` (fingerprint, settings),
``ckpt-NNNN/`` folders (weights, optimizer state, ``state.json``) and ``LATEST``, which names
the newest complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from helpers.session.files import write_json_atomic
from helpers.session.messages import warn

# A checkpoint folder is written whole under a temporary name and renamed; only then does
# LATEST (replaced atomically, written last) point at it, so it always names weights,
# optimizer state, history and epoch of one moment. By hand because Keras' BackupAndRestore
# writes weights and epoch record as two files (a death between them resumes the wrong
# epoch) and its options differ across Keras 3 releases.
RUN_FILE = "run.json"
LATEST_FILE = "LATEST"
STATE_FILE = "state.json"
FIT_WEIGHTS_FILE = "model.weights.h5"  # with the optimizer's variables (Keras 3 saves both)


class DamagedRun(Exception):
    """A saved file of a run cannot be read; ``path`` names it."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


# Errors that reading a damaged json, zip (.keras, .npz) or HDF5 (.h5) file raises.
READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError)


def run_folder(parent: str | os.PathLike, fingerprint: str) -> Path:
    """The folder of the run with this fingerprint (not created)."""
    return Path(parent) / f"run-{fingerprint[:16]}"


def open_run(
    parent: str | os.PathLike, fingerprint: str, settings: dict, what: str
) -> tuple[Path, list[str]]:
    """Create (or reopen) the run folder of ``fingerprint``; say what else ``parent`` holds.

    A folder of the same name holding another fingerprint is set aside, never deleted.

    Returns
    -------
    folder : Path
    notes : list of str
        One-line notes for the user (other runs kept, a damaged file set aside).
    """
    parent = Path(parent)
    folder = run_folder(parent, fingerprint)
    notes = []
    if folder.is_dir():
        try:
            saved = read_json(folder / RUN_FILE)
            if saved.get("fingerprint") != fingerprint:
                raise DamagedRun(folder / RUN_FILE, "it belongs to another run")
        except DamagedRun as error:
            notes.append(f"{error}; set aside as {set_aside(folder).name}, starting afresh.")
    if not folder.is_dir():
        others = sorted(
            p.name
            for p in parent.glob("*")
            if p.is_dir()
            and p != folder
            and (p.name.startswith("run-") or (p / "history.json").is_file())
        )
        if (parent / "history.json").is_file():  # a run saved before run folders existed
            others.append("history.json")
        if others:
            notes.append(
                f"{parent} holds {len(others)} run(s) with other settings (kept, not "
                f"reused: {', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); "
                f"training afresh in {folder.name}."
            )
        folder.mkdir(parents=True)
        write_json(
            folder / RUN_FILE, {"fingerprint": fingerprint, "what": what, "settings": settings}
        )
    return folder, notes


def set_aside(folder: Path) -> Path:
    """Rename ``folder`` to ``<name>.aside-<time>`` (kept for the user to inspect or delete)."""
    target = folder.with_name(f"{folder.name}.aside-{time.strftime('%Y%m%d-%H%M%S')}")
    suffix = 1
    while target.exists():
        target = folder.with_name(f"{folder.name}.aside-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}")
        suffix += 1
    folder.rename(target)
    return target


def latest_checkpoint(folder: Path) -> tuple[Path, dict] | None:
    """The newest complete checkpoint and its ``state.json``, or None if there is none yet.

    Raises
    ------
    DamagedRun
        If ``LATEST`` or the checkpoint's ``state.json`` cannot be read.
    """
    if not (folder / LATEST_FILE).is_file():
        return None
    pointer = read_json(folder / LATEST_FILE)
    name = pointer.get("checkpoint")
    if not isinstance(name, str) or not (folder / name).is_dir():
        raise DamagedRun(folder / LATEST_FILE, f"it names a missing checkpoint {name!r}")
    return folder / name, read_json(folder / name / STATE_FILE)


def save_checkpoint(
    folder: Path, epoch: int, state: dict, write_files: Callable[[Path], None]
) -> Path:
    """Write one complete checkpoint: ``write_files(tmp)`` + ``state.json``, rename, point.

    Older checkpoints of this run are removed only after ``LATEST`` names the new one.
    """
    name, copy = f"ckpt-{epoch:04d}", 1
    while (folder / name).exists():  # e.g. the finished mark after the last epoch's checkpoint:
        name, copy = f"ckpt-{epoch:04d}.{copy}", copy + 1  # never touch what LATEST may name
    partial = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=folder))
    try:
        write_files(partial)
        write_json(partial / STATE_FILE, state)
        target = folder / name
        # a whole staged folder, so a folder rename, not atomic_write (which writes one file)
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    write_json(folder / LATEST_FILE, {"checkpoint": name})
    for old in folder.iterdir():  # our own superseded checkpoints and leftovers of a death
        if (
            old.is_dir()
            and old.name != name
            and (old.name.startswith("ckpt-") or old.name.startswith(".ckpt-"))
        ):
            shutil.rmtree(old, ignore_errors=True)
    return target


def read_json(path: Path) -> dict:
    """Read a json object; any problem is a :class:`DamagedRun` naming ``path``."""
    try:
        value = json.loads(Path(path).read_text())
    except FileNotFoundError as error:
        raise DamagedRun(path, "the file is missing") from error
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise DamagedRun(path, f"not readable as JSON ({error})") from error
    if not isinstance(value, dict):
        raise DamagedRun(path, "expected a JSON object")
    return value


def write_json(path: Path, value) -> None:
    """Write ``value`` as JSON through a temporary file and an atomic rename."""
    write_json_atomic(path, value, suffix=".json.partial")


def warn_damaged(error: DamagedRun, folder: Path) -> Path:
    """Set ``folder`` aside after a damaged file and say so in one warning; return new place."""
    aside = set_aside(folder)
    warn(
        f"Cannot resume from {error.path} ({error.reason}). The run was set aside "
        f"as {aside} (nothing deleted); training afresh."
    )
    return aside


# --- fit_resumable's checkpoint -----------------------------------------------------------


def best_weights_file(index: int) -> str:
    """The file of the ``index``-th restoring EarlyStopping's best weights in a checkpoint."""
    return f"best-{index}.npz"


class FitCheckpoint(keras.callbacks.Callback):
    """Saves weights + optimizer state + history after every epoch; marks the run finished.

    With ``stoppers`` (the run's ``EarlyStopping`` callbacks) each checkpoint also records every
    stopper's best epoch and, where it restores best weights that are not the checkpoint's own,
    those weights.
    """

    def __init__(self, folder: Path, history: dict, stoppers=()):
        super().__init__()
        self.folder = folder
        self.history = {key: list(values) for key, values in history.items()}
        self.epoch = len(next(iter(history.values()), []))
        self.stoppers = list(stoppers)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epoch = epoch + 1
        self._save(finished=False)

    def on_train_end(self, logs=None):  # not called when fit raises (a kill, an error)
        self._save(finished=True)

    def _save(self, finished):
        state = {
            "epoch": self.epoch,
            "history": self.history,
            "finished": finished,
            "iterations": int(self.model.optimizer.iterations.numpy()),
        }
        extra = {}  # file name -> weights to save beside the model's
        if self.stoppers:
            state["early_stopping"] = []
            for index, stopper in enumerate(self.stoppers):
                best = stopper.best_weights if stopper.restore_best_weights else None
                keep = best is not None and not finished and stopper.best_epoch != self.epoch - 1
                if keep:
                    extra[best_weights_file(index)] = best
                state["early_stopping"].append(
                    {
                        "best_epoch": int(stopper.best_epoch),
                        "best_weights": best_weights_file(index) if keep else None,
                    }
                )

        def write_files(path):
            self.model.save_weights(path / FIT_WEIGHTS_FILE)
            for name, weights in extra.items():
                np.savez(path / name, *weights)

        save_checkpoint(self.folder, self.epoch, state, write_files)


class ResumeEarlyStopping(keras.callbacks.Callback):
    """Gives a resumed run's ``EarlyStopping`` callbacks the memory of the epochs before it.

    Goes first in the callback list; at the end of the first resumed epoch it replays the saved
    history through each stopper's own ``on_epoch_end``, then hands it its best epoch's weights.
    """

    def __init__(self, stoppers, history: dict, done: int, saved_best: dict):
        super().__init__()
        self.stoppers, self.history, self.done = list(stoppers), history, done
        self.saved_best = saved_best  # stopper index -> the weights its checkpoint kept
        self.resumed_weights, self.replayed = None, False

    def on_train_begin(self, logs=None):
        if any(stopper.restore_best_weights for stopper in self.stoppers):
            self.resumed_weights = self.model.get_weights()  # the end of epoch `done`

    def on_epoch_end(self, epoch, logs=None):
        # Keras' EarlyStopping forgets its best value, patience count and best weights at every
        # fit: after a restart it would wait `patience` epochs afresh and restore the best
        # weights since the restart. Replaying through its own on_epoch_end keeps Keras' rules,
        # in any version; the weights are the resumed ones if the best epoch is the last saved,
        # else those the checkpoint kept.
        if self.replayed:
            return
        self.replayed = True
        for index, stopper in enumerate(self.stoppers):
            for past in range(self.done):
                stopper.on_epoch_end(
                    past,
                    {
                        key: values[past]
                        for key, values in self.history.items()
                        if past < len(values)
                    },
                )
            if stopper.restore_best_weights and stopper.best_weights is not None:
                if stopper.best_epoch == self.done - 1:
                    stopper.best_weights = self.resumed_weights
                elif index in self.saved_best:
                    stopper.best_weights = self.saved_best[index]
        self.resumed_weights = self.saved_best = None


def load_fit_checkpoint(model, folder):
    """Restore the newest checkpoint into ``model`` and return its state (None: no checkpoint).

    On a damaged checkpoint the model and optimizer are put back as they were and
    :class:`DamagedRun` is raised.
    """
    found = latest_checkpoint(folder)
    if found is None:
        return None
    path, state = found
    # a half-done load must not leak into the fresh run
    variables = [*model.variables, *model.optimizer.variables]
    before = [np.array(v.numpy()) for v in variables]
    weights = path / FIT_WEIGHTS_FILE
    try:
        try:
            model.load_weights(weights)
        except READ_ERRORS as error:
            raise DamagedRun(weights, f"unreadable weights ({error})") from error
        iterations = int(model.optimizer.iterations.numpy())
        if not isinstance(state.get("history"), dict) or iterations != state.get("iterations"):
            raise DamagedRun(
                path / STATE_FILE,
                f"it does not match the weights (optimizer iterations {iterations})",
            )
        state["_best_weights"] = {}
        for index in range(len(state.get("early_stopping") or [])):
            name = (state["early_stopping"][index] or {}).get("best_weights")
            if name:
                state["_best_weights"][index] = read_weights(path / name, model)
    except DamagedRun:
        for variable, value in zip(variables, before):
            variable.assign(value)
        raise
    return state


def read_weights(path: Path, model) -> list:
    """``model.get_weights()``-shaped arrays saved by ``np.savez``; :class:`DamagedRun` if not."""
    expected = [w.shape for w in model.get_weights()]
    try:
        with np.load(path) as saved:
            weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except READ_ERRORS as error:
        raise DamagedRun(path, f"unreadable best weights ({error})") from error
    if [w.shape for w in weights] != expected:
        raise DamagedRun(path, "its best weights do not fit the model")
    return weights


def check_fit_arguments(model, epochs):
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError(
            "fit_resumable needs a compiled model: call model.compile(optimizer=..., "
            "loss=...) first."
        )
    if not model.built:
        raise ValueError(
            "fit_resumable needs a built model (its weights exist): start it with "
            "keras.Input(shape) or call model.build(input_shape) first."
        )
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}.")


# ---- train_metric_model's checkpoints: the model's weights and the optimizer's state ----

OPTIMIZER_FILE = "optimizer.npz"
METRIC_WEIGHTS_FILE = "model.weights.h5"  # the model only; the optimizer is in optimizer.npz


def save_optimizer(optimizer, folder: Path) -> None:
    """Write the optimizer's variables (iteration count, momentum buffers) to optimizer.npz."""
    np.savez(folder / OPTIMIZER_FILE, *[np.array(v.numpy()) for v in optimizer.variables])


def restore_optimizer(optimizer, folder: Path) -> None:
    """Assign the saved variables, except the learning rate (the caller's wins).

    Raises
    ------
    helpers.training.DamagedRun
        If optimizer.npz is unreadable or does not fit this optimizer.
    """
    path = folder / OPTIMIZER_FILE
    try:
        with np.load(path) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except READ_ERRORS as error:
        raise DamagedRun(path, f"unreadable optimizer state ({error})") from error
    variables = optimizer.variables
    if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
        raise DamagedRun(path, "the optimizer state does not fit this model")
    for variable, value in zip(variables, values):
        if not variable.path.endswith("learning_rate"):
            variable.assign(value)


def load_metric_checkpoint(model, optimizer, folder):
    """Restore the newest checkpoint (weights, optimizer) and return its state, or None.

    The state carries ``"initial"``: the model's and optimizer's values before the restore.
    On a damaged checkpoint they are put back and :class:`DamagedRun` is raised.
    """
    variables = [*model.weights, *optimizer.variables]
    initial = [np.array(v.numpy()) for v in variables]
    found = latest_checkpoint(folder)
    if found is None:
        return None
    path, state = found
    try:
        try:
            model.load_weights(path / METRIC_WEIGHTS_FILE)
        except READ_ERRORS as error:
            raise DamagedRun(path / METRIC_WEIGHTS_FILE, f"unreadable weights ({error})") from error
        restore_optimizer(optimizer, path)
        history = state.get("history")
        iterations = int(optimizer.iterations.numpy())
        if (
            not isinstance(history, dict)
            or len(history.get("epoch", [])) != state.get("epoch")
            or iterations != state.get("iterations")
        ):
            raise DamagedRun(
                path / STATE_FILE,
                f"it does not match the saved weights and optimizer (iterations {iterations})",
            )
    except DamagedRun:
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
    save_checkpoint(folder, state["epoch"], state, write_files)
