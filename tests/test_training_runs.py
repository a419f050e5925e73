"""train_metric_model's saved runs: resumed only on an exact match, exactly, whatever died when."""

import functools
import json
import shutil

import keras
import numpy as np
import pytest
from _clusters import clustered_data  # tests/ is on sys.path under pytest

from helpers.training import checkpoints, load_history, train_metric_model
from instructor.solutions.nb03 import triplet_loss


def _model(seed=0, width=4):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(width)])


def _train(model, out_dir, epochs=3, margin=0.2, **kwargs):
    images, labels = clustered_data(n=120)
    return train_metric_model(
        model,
        images,
        labels,
        functools.partial(triplet_loss, margin=margin),
        out_dir=out_dir,
        epochs=epochs,
        batch_size=40,
        learning_rate=0.05,
        momentum=0.9,
        verbose=False,
        **kwargs,
    )


def _assert_same_weights(a, b):
    for got, want in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_a_second_call_with_another_loss_argument_trains_afresh_not_from_the_saved_run(
    tmp_path, capsys
):
    first = _model()
    first_history = _train(first, tmp_path, margin=0.2)
    second = _model()
    history = train_metric_model(
        second,
        *clustered_data(n=120),
        functools.partial(triplet_loss, margin=0.5),
        out_dir=tmp_path,
        epochs=3,
        batch_size=40,
        learning_rate=0.05,
        momentum=0.9,
        verbose=True,
    )
    # What a clean folder gives for margin=0.5, computed separately.
    clean = _model()
    clean_history = _train(clean, tmp_path / "clean", margin=0.5)
    assert history["loss"] == pytest.approx(clean_history["loss"], rel=1e-6)
    assert history["loss"] != pytest.approx(first_history["loss"], rel=1e-3)
    _assert_same_weights(second, clean)
    assert "1 run(s) with other settings" in capsys.readouterr().out
    assert len(list(tmp_path.glob("run-*"))) == 2  # the margin=0.2 run is kept
    assert load_history(tmp_path) == history  # out_dir's history is the last call's run


def test_another_model_config_or_other_data_trains_afresh(tmp_path):
    _train(_model(), tmp_path)
    wider = _model(width=5)
    history = _train(wider, tmp_path)
    clean = _train(_model(width=5), tmp_path / "clean")
    assert history["loss"] == pytest.approx(clean["loss"], rel=1e-6)
    images, labels = clustered_data(n=120)
    other = train_metric_model(
        _model(),
        images,
        (labels + 1) % 3,
        functools.partial(triplet_loss, margin=0.2),
        out_dir=tmp_path,
        epochs=3,
        batch_size=40,
        learning_rate=0.05,
        momentum=0.9,
        verbose=False,
    )
    assert len(other["epoch"]) == 3 and len(list(tmp_path.glob("run-*"))) == 3


class Death(Exception):
    """Stands for the process dying at this point."""


def _die_on(monkeypatch, module, name, call_number, when=lambda *args: True):
    """Make ``module.name`` raise Death on its call_number-th matching call."""
    original = getattr(module, name)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if when(*args):
            calls["n"] += 1
            if calls["n"] == call_number:
                raise Death(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


# Each moment of epoch 2's checkpoint at which a death can happen.
DEATHS = {
    "after the weights, before the optimizer state": (checkpoints, "save_optimizer", 2, None),
    "after the files, before state.json": (
        checkpoints,
        "write_json",
        2,
        lambda path, value: path.name == "state.json",
    ),
    "after the checkpoint folder, before LATEST": (
        checkpoints,
        "write_json",
        2,
        lambda path, value: path.name == "LATEST",
    ),
    "after LATEST, while removing the old checkpoint": (checkpoints.shutil, "rmtree", 1, None),
}


@pytest.mark.parametrize("moment", list(DEATHS))
def test_a_death_between_checkpoint_files_resumes_to_the_weights_of_an_uninterrupted_run(
    tmp_path, monkeypatch, moment
):
    uninterrupted = _model()
    full = _train(uninterrupted, tmp_path / "uninterrupted", epochs=4)
    module, name, call_number, when = DEATHS[moment]
    with monkeypatch.context() as patch:
        _die_on(patch, module, name, call_number, when or (lambda *args: True))
        with pytest.raises(Death):
            _train(_model(), tmp_path / "killed", epochs=4)
    resumed = _model(seed=123)  # a new session: other starting weights, restored from disk
    history = _train(resumed, tmp_path / "killed", epochs=4)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["loss"] == pytest.approx(full["loss"], rel=1e-5)
    for got, want in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("damaged", ["state.json", "model.weights.h5", "optimizer.npz", "LATEST"])
def test_a_damaged_checkpoint_file_is_named_in_a_warning_then_training_starts_afresh(
    tmp_path, damaged
):
    _train(_model(), tmp_path, epochs=2)
    (run,) = tmp_path.glob("run-*")
    (checkpoint,) = run.glob("ckpt-*")
    target = run / damaged if damaged == "LATEST" else checkpoint / damaged
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    model = _model()
    with pytest.warns(UserWarning, match=f"Cannot resume from .*{damaged}") as record:
        history = _train(model, tmp_path, epochs=2)
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "set aside" in messages[0] and str(target) in messages[0]
    clean = _model()
    _train(clean, tmp_path / "clean", epochs=2)
    assert history["epoch"] == [1, 2]
    _assert_same_weights(model, clean)  # a fresh start from the model's own initial weights
    assert len(list(tmp_path.glob("run-*.aside-*"))) == 1


def test_a_finished_run_is_loaded_and_a_longer_one_is_set_aside_for_a_shorter_request(tmp_path):
    trained = _model()
    history = _train(trained, tmp_path, epochs=3)
    restored = _model(seed=9)
    assert _train(restored, tmp_path, epochs=3) == history
    _assert_same_weights(restored, trained)
    shorter = _model()
    short_history = _train(shorter, tmp_path, epochs=2)
    assert short_history["loss"] == pytest.approx(history["loss"][:2], rel=1e-6)
    assert len(list(tmp_path.glob("run-*.aside-*"))) == 1


def test_a_run_saved_in_the_old_layout_is_left_alone_and_not_reused(tmp_path):
    old = {"epoch": [1, 2, 3], "loss": [9.0, 9.0, 9.0], "seconds": [1, 1, 1]}
    (tmp_path / "history.json").write_text(json.dumps(old))
    history = _train(_model(), tmp_path, epochs=3)
    assert history["loss"] != old["loss"]
    assert json.loads((tmp_path / "history.json").read_text()) == old
    assert load_history(tmp_path) == history


def test_a_copied_run_folder_resumes_like_the_original(tmp_path):
    _train(_model(), tmp_path / "a", epochs=2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # e.g. restored from Drive
    a, b = _model(), _model()
    _train(a, tmp_path / "a", epochs=3)
    _train(b, tmp_path / "b", epochs=3)
    _assert_same_weights(a, b)
