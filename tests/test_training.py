"""Tests of helpers.training: SGD on a metric loss, saved and resumed after every epoch."""

import functools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from _clusters import clustered_data  # tests/ is on sys.path under pytest

from helpers.training import load_history, train_metric_model
from helpers.training.sgd import epoch_batches as _epoch_batches
from instructor.solutions.nb03 import smooth_ap_loss, triplet_loss


def _tiny_model(seed=0, dim=8):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((dim,)), keras.layers.Dense(4)])


def _brute_triplet(codes, labels, margin=0.2, num_anchors=10):
    """The triplet loss of SPEC 03 as a loop over anchors, positives and negatives."""
    codes = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    per_anchor = []
    for a in range(num_anchors):
        positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [q for q in range(len(labels)) if labels[q] != labels[a]]
        if positives and negatives:
            per_anchor.append(
                sum(
                    max(
                        ((codes[a] - codes[p]) ** 2).sum()
                        - ((codes[a] - codes[q]) ** 2).sum()
                        + margin,
                        0.0,
                    )
                    for p in positives
                    for q in negatives
                )
            )
    return float(np.mean(per_anchor))


class TinyNet(keras.Model):
    """A body whose normalised output is the embedding, and a classifier head on top."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.body = keras.layers.Dense(4)
        self.head = keras.layers.Dense(3)

    def features(self, inputs, training=False):
        return tf.math.l2_normalize(self.body(inputs), axis=1)

    def call(self, inputs, training=False):
        return self.head(self.features(inputs, training=training))


class UnserialisableNet(keras.Model):
    """Takes a function in __init__, so Keras cannot save it as a whole .keras file."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self.dense = keras.layers.Dense(4)

    def call(self, inputs, training=False):
        return self.activation(self.dense(inputs))


def test_a_few_epochs_on_separable_data_lower_the_triplet_loss(tmp_path):
    images, labels = clustered_data()
    model = _tiny_model()
    before = _brute_triplet(model.predict(images[:60], verbose=0), labels[:60])
    history = train_metric_model(
        model,
        images,
        labels,
        functools.partial(triplet_loss),
        out_dir=tmp_path,
        epochs=5,
        batch_size=30,
        learning_rate=0.01,
        momentum=0.0,
        verbose=False,
    )
    after = _brute_triplet(model.predict(images[:60], verbose=0), labels[:60])
    assert after < 0.25 * before
    assert history["loss"][-1] < history["loss"][0]
    assert history["epoch"] == [1, 2, 3, 4, 5]


def test_resuming_continues_the_history_and_matches_an_uninterrupted_run(tmp_path):
    images, labels = clustered_data(n=120)
    initial_weights = _tiny_model(seed=0).get_weights()
    train = functools.partial(
        train_metric_model,
        images=images,
        labels=labels,
        loss_fn=functools.partial(smooth_ap_loss, tau=0.05),
        batch_size=40,
        learning_rate=0.05,
        momentum=0.9,
        verbose=False,
    )

    uninterrupted = _tiny_model(seed=1)
    uninterrupted.set_weights(initial_weights)
    full_history = train(uninterrupted, out_dir=tmp_path / "uninterrupted", epochs=3)

    first_session = _tiny_model(seed=1)
    first_session.set_weights(initial_weights)
    partial_history = train(first_session, out_dir=tmp_path / "resumed", epochs=2)
    # A new session: a freshly initialised model, the same folder, the total number of epochs.
    second_session = _tiny_model(seed=2)
    resumed_history = train(second_session, out_dir=tmp_path / "resumed", epochs=3)

    assert resumed_history["epoch"] == [1, 2, 3]
    assert resumed_history["loss"][:2] == partial_history["loss"]
    np.testing.assert_allclose(resumed_history["loss"], full_history["loss"], rtol=1e-5)
    # Equal weights need the weights *and* the momentum buffers restored.
    for resumed, expected in zip(second_session.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_allclose(resumed, expected, rtol=1e-5, atol=1e-6)


def test_calling_again_after_the_last_epoch_only_restores_the_saved_model(tmp_path):
    images, labels = clustered_data(n=60)
    trained = _tiny_model(seed=0)
    loss_fn = functools.partial(triplet_loss)
    history = train_metric_model(
        trained, images, labels, loss_fn, out_dir=tmp_path, epochs=2, batch_size=30, verbose=False
    )
    restored = _tiny_model(seed=5)
    again = train_metric_model(
        restored, images, labels, loss_fn, out_dir=tmp_path, epochs=2, batch_size=30, verbose=False
    )
    assert again == history
    for got, expected in zip(restored.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_the_history_is_saved_with_every_checkpoint_and_loads_back_from_out_dir(tmp_path):
    images, labels = clustered_data(n=60)
    model = _tiny_model()
    history = train_metric_model(
        model,
        images,
        labels,
        functools.partial(triplet_loss),
        out_dir=tmp_path,
        epochs=2,
        batch_size=30,
        verbose=False,
    )
    (run,) = tmp_path.glob("run-*")
    (checkpoint,) = run.glob("ckpt-*")
    on_disk = json.loads((checkpoint / "state.json").read_text())["history"]
    assert on_disk["epoch"] == [1, 2] and on_disk["loss"] == history["loss"]
    assert load_history(tmp_path) == on_disk == load_history(run)
    reloaded = _tiny_model(seed=7)
    reloaded.load_weights(checkpoint / "model.weights.h5")
    for got, want in zip(reloaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_each_epoch_draws_every_full_batch_without_replacement_in_a_new_order():
    n, batch_size = 23, 5
    images = tf.constant(np.arange(n, dtype=np.float32).reshape(n, 1) * 10)
    labels = tf.constant(np.arange(n))
    orders = []
    for epoch in (1, 2):
        batches = list(_epoch_batches(images, labels, batch_size, seed=0, epoch=epoch))
        assert [len(b[1]) for b in batches] == [batch_size] * (n // batch_size)
        drawn = np.concatenate([b[1].numpy() for b in batches])
        assert len(set(drawn)) == len(drawn) == 20 and set(drawn) <= set(range(n))
        for batch_images, batch_labels in batches:  # images travel with their labels
            np.testing.assert_array_equal(batch_images.numpy()[:, 0], batch_labels.numpy() * 10)
        orders.append(drawn)
    assert not np.array_equal(orders[0], orders[1])


def test_an_embed_on_a_sub_path_trains_the_body_and_leaves_the_head_alone(tmp_path):
    images, labels = clustered_data(n=60)
    keras.utils.set_random_seed(0)
    model = TinyNet()
    model(images[:1])
    head_before = [w.copy() for w in model.head.get_weights()]
    body_before = [w.copy() for w in model.body.get_weights()]
    train_metric_model(
        model,
        images,
        labels,
        functools.partial(triplet_loss),
        out_dir=tmp_path,
        epochs=1,
        batch_size=30,
        embed=lambda x: model.features(x, training=True),
        verbose=False,
    )
    for got, before in zip(model.head.get_weights(), head_before):
        np.testing.assert_array_equal(got, before)
    assert any(
        not np.allclose(got, before) for got, before in zip(model.body.get_weights(), body_before)
    )


def test_a_model_keras_cannot_serialise_is_saved_as_weights_and_restored(tmp_path):
    images, labels = clustered_data(n=60)
    keras.utils.set_random_seed(0)
    trained = UnserialisableNet(lambda x: x)
    loss_fn = functools.partial(triplet_loss)
    train_metric_model(
        trained, images, labels, loss_fn, out_dir=tmp_path, epochs=1, batch_size=30, verbose=False
    )
    restored = UnserialisableNet(lambda x: x)
    train_metric_model(
        restored, images, labels, loss_fn, out_dir=tmp_path, epochs=1, batch_size=30, verbose=False
    )
    for got, expected in zip(restored.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_a_non_finite_loss_raises_and_saves_nothing_of_that_epoch(tmp_path):
    images, labels = clustered_data(n=60)

    def broken_loss(codes, labels):
        return tf.reduce_mean(codes) * float("nan")

    with pytest.raises(FloatingPointError, match="Lower the learning rate"):
        train_metric_model(
            _tiny_model(),
            images,
            labels,
            broken_loss,
            out_dir=tmp_path,
            epochs=2,
            batch_size=30,
            verbose=False,
        )
    assert not list(tmp_path.glob("run-*/ckpt-*")) and not list(tmp_path.glob("run-*/LATEST"))


def test_mixed_float16_training_gives_finite_losses_that_decrease(tmp_path):
    images, labels = clustered_data()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _tiny_model()
        assert model.layers[0].compute_dtype == "float16"
        history = train_metric_model(
            model,
            images,
            labels,
            functools.partial(triplet_loss),
            out_dir=tmp_path,
            epochs=3,
            batch_size=30,
            learning_rate=0.01,
            momentum=0.0,
            verbose=False,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]


def test_verbose_shows_one_line_per_epoch_with_its_loss_and_quiet_shows_nothing(tmp_path, capsys):
    images, labels = clustered_data(n=60)
    loss_fn = functools.partial(triplet_loss)
    history = train_metric_model(
        _tiny_model(), images, labels, loss_fn, out_dir=tmp_path / "loud", epochs=2, batch_size=30
    )
    shown = capsys.readouterr().err
    for epoch, loss in zip(history["epoch"], history["loss"]):
        assert f"epoch {epoch}/2" in shown and f"loss={loss:.4f}" in shown
    train_metric_model(
        _tiny_model(),
        images,
        labels,
        loss_fn,
        out_dir=tmp_path / "quiet",
        epochs=2,
        batch_size=30,
        verbose=False,
    )
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"labels": np.zeros(59)}, "labels must have shape"),
        ({"batch_size": 61}, "larger than"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": -1}, "epochs"),
        ({"loss_fn": "triplet"}, "callable"),
    ],
)
def test_invalid_arguments_raise_a_value_error_that_says_what_to_do(tmp_path, kwargs, message):
    images, labels = clustered_data(n=60)
    arguments = {
        "model": _tiny_model(),
        "images": images,
        "labels": labels,
        "loss_fn": functools.partial(triplet_loss),
        "out_dir": tmp_path,
        "epochs": 1,
        "batch_size": 30,
        "verbose": False,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        train_metric_model(**arguments)


def test_load_history_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No training history"):
        load_history(tmp_path)
