"""Tests of helpers.training.fit_resumable: keyed by a fingerprint, resumed exactly, never stale."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.training import fingerprint, fit_resumable


def _data(n=64, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype("float32")
    y = (x @ rng.normal(size=(dim, 1))).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # no shuffle: same batches


def scaled_mse(y_true, y_pred, scale=1.0):
    return scale * keras.ops.mean(keras.ops.square(y_true - y_pred))


def _model(seed=0, loss=scaled_mse, pool=None):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    return model


class KillAt(keras.callbacks.Callback):
    """Raises in the middle of an epoch, as a dead Colab session would stop training."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt("simulated disconnect")


def _weights(model):
    return [np.array(w.numpy()) for w in model.weights]


def test_a_run_killed_mid_epoch_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    straight = _model()
    straight_history = fit_resumable(
        straight, _data(), epochs=4, run_dir=tmp_path / "a", seed=1, verbose=0
    )
    killed = _model()
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(
            killed,
            _data(),
            epochs=4,
            run_dir=tmp_path / "b",
            seed=1,
            verbose=0,
            callbacks=[KillAt(epoch=2, batch=1)],
        )
    resumed = _model(seed=99)  # a new session: other initial weights, restored from disk
    history = fit_resumable(resumed, _data(), epochs=4, run_dir=tmp_path / "b", seed=1, verbose=0)
    for got, want in zip(_weights(resumed), _weights(straight)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(history["loss"], straight_history["loss"], rtol=1e-6)
    assert len(history["loss"]) == 4


def test_a_second_call_with_another_loss_argument_trains_afresh_and_keeps_the_old_run(
    tmp_path, capsys
):
    first = _model(loss=functools.partial(scaled_mse, scale=1.0))
    first_history = fit_resumable(first, _data(), epochs=2, run_dir=tmp_path, verbose=0)
    second = _model(loss=functools.partial(scaled_mse, scale=3.0))
    counter = BatchCounter()
    history = fit_resumable(
        second, _data(), epochs=2, run_dir=tmp_path, verbose=1, callbacks=[counter]
    )
    assert counter.batches == 2 * 4  # both epochs trained, nothing loaded
    assert "1 run(s) with other settings" in capsys.readouterr().out
    clean = _model(loss=functools.partial(scaled_mse, scale=3.0))
    clean_history = fit_resumable(clean, _data(), epochs=2, run_dir=tmp_path / "clean", verbose=0)
    np.testing.assert_allclose(history["loss"], clean_history["loss"], rtol=1e-6)
    assert history["loss"] != first_history["loss"]
    assert len(list(tmp_path.glob("run-*"))) == 2  # the first run is still there


def test_a_finished_run_is_loaded_not_retrained(tmp_path, capsys):
    model = _model()
    history = fit_resumable(model, _data(), epochs=3, run_dir=tmp_path, verbose=0)
    trained = _weights(model)
    again = _model(seed=5)
    counter = BatchCounter()
    loaded = fit_resumable(
        again, _data(), epochs=3, run_dir=tmp_path, verbose=2, callbacks=[counter]
    )
    assert counter.batches == 0
    assert loaded == history
    for got, want in zip(_weights(again), trained):
        np.testing.assert_array_equal(got, want)
    out = capsys.readouterr().out
    assert "Loaded the finished run" in out and len(out.strip().splitlines()) == 1


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.mark.parametrize("damage", ["state", "weights", "latest"])
def test_damaged_files_give_a_warning_naming_the_file_then_a_fresh_start(tmp_path, damage):
    fit_resumable(_model(), _data(), epochs=2, run_dir=tmp_path, verbose=0)
    run = next(tmp_path.glob("run-*"))
    checkpoint = next(run.glob("ckpt-*"))
    target = {
        "state": checkpoint / "state.json",
        "weights": checkpoint / "model.weights.h5",
        "latest": run / "LATEST",
    }[damage]
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    model = _model(seed=3)
    initial = _weights(model)
    counter = BatchCounter()
    with pytest.warns(UserWarning, match=target.name) as record:
        fit_resumable(model, _data(), epochs=2, run_dir=tmp_path, verbose=0, callbacks=[counter])
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "set aside" in messages[0] and str(target) in messages[0]
    assert counter.batches == 2 * 4  # trained afresh: both epochs, 4 batches each
    assert len(list(tmp_path.glob("run-*.aside-*"))) == 1  # the damaged run is kept
    fresh = _model(seed=3)
    fit_resumable(fresh, _data(), epochs=2, run_dir=tmp_path / "clean", verbose=0)
    for got, want in zip(_weights(model), _weights(fresh)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert initial  # the fresh start began from the model's own initial weights


def test_the_fingerprint_ignores_automatic_layer_names_but_not_the_architecture():
    a, b = _model(), _model()  # second one is named sequential_1, dense_2, ...
    assert a.name != b.name
    assert fingerprint(a) == fingerprint(b)
    keras.utils.set_random_seed(0)
    wider = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(1)]
    )
    assert fingerprint(a) != fingerprint(wider)


def test_the_fingerprint_sees_closure_constants_defaults_and_used_globals():
    def make(scale):
        def loss(y, p):
            return scale * (y - p)

        return loss

    def with_default(y, p, scale=1.0):
        return scale * (y - p)

    def with_other_default(y, p, scale=2.0):
        return scale * (y - p)

    assert fingerprint(make(1.0)) == fingerprint(make(1.0))
    assert fingerprint(make(1.0)) != fingerprint(make(2.0))
    assert fingerprint(with_default) != fingerprint(with_other_default)
    assert fingerprint(keras.losses.MeanSquaredError()) != fingerprint(
        keras.losses.MeanAbsoluteError()
    )
    assert fingerprint(keras.losses.Huber(delta=1.0)) != fingerprint(keras.losses.Huber(delta=2.0))


def test_an_uncompiled_model_is_refused_with_what_to_do(tmp_path):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        fit_resumable(model, _data(), epochs=1, run_dir=tmp_path)


def test_the_fingerprint_of_a_subclassed_model_follows_its_settings_not_its_instance():
    from helpers import models

    assert fingerprint(models.fashion_net()) == fingerprint(models.fashion_net())
    assert fingerprint(models.fashion_net()) != fingerprint(models.fashion_net(padding="same"))
    assert fingerprint(models.fashion_net()) != fingerprint(models.fashion_net(num_classes=5))


def _contradicted_data():
    # Validation targets are the negated training targets: the validation loss falls while the
    # network is near zero, then rises as it fits the training set -> an early best epoch.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1))).astype("float32")
    return (
        tf.data.Dataset.from_tensor_slices((x, y)).batch(16),
        tf.data.Dataset.from_tensor_slices((x, -y + 0.5)).batch(16),
    )


def _early_stopping():
    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)


@pytest.mark.parametrize("kill_epoch", [1, 2, 3])
def test_early_stopping_keeps_its_best_epoch_and_patience_across_a_restart(tmp_path, kill_epoch):
    train, val = _contradicted_data()
    straight = _model()
    expected = fit_resumable(
        straight,
        train,
        epochs=30,
        run_dir=tmp_path / "a",
        seed=1,
        validation_data=val,
        callbacks=[_early_stopping()],
        verbose=0,
    )
    best = int(np.argmin(expected["val_loss"]))
    # The case that matters: the best epoch lies before the disconnect, and the run stops early.
    assert len(expected["loss"]) == best + 1 + 3 < 30 and best < kill_epoch
    killed = _model()
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(
            killed,
            train,
            epochs=30,
            run_dir=tmp_path / "b",
            seed=1,
            verbose=0,
            validation_data=val,
            callbacks=[_early_stopping(), KillAt(kill_epoch, 1)],
        )
    resumed = _model(seed=99)  # a new session, a new EarlyStopping with no memory of its own
    history = fit_resumable(
        resumed,
        train,
        epochs=30,
        run_dir=tmp_path / "b",
        seed=1,
        verbose=0,
        validation_data=val,
        callbacks=[_early_stopping()],
    )
    np.testing.assert_allclose(history["val_loss"], expected["val_loss"], rtol=1e-5)
    for got, want in zip(_weights(resumed), _weights(straight)):  # the best epoch's weights
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_another_early_stopping_setting_is_another_run(tmp_path):
    train, val = _contradicted_data()
    fit_resumable(
        _model(),
        train,
        epochs=30,
        run_dir=tmp_path,
        seed=1,
        verbose=0,
        validation_data=val,
        callbacks=[_early_stopping()],
    )
    patient = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=6, restore_best_weights=True
    )
    fit_resumable(
        _model(),
        train,
        epochs=30,
        run_dir=tmp_path,
        seed=1,
        verbose=0,
        validation_data=val,
        callbacks=[patient],
    )
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2
