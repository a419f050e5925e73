"""Notebook 03's vectorised losses (instructor.solutions.nb03) against brute-force loops."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from instructor.solutions.nb03 import SmoothAPLoss, TripletLoss, smooth_ap_loss, triplet_loss

# --- references written as plain loops ------------------------------------------------------


def _normalise(features):
    features = np.asarray(features, dtype=np.float64)
    norms = np.sqrt((features**2).sum(axis=1, keepdims=True))
    return features / np.maximum(norms, 1e-6)


def _sq_distance(codes, i, j):
    return float(((codes[i] - codes[j]) ** 2).sum())


def _brute_triplet(features, labels, margin=0.2, num_anchors=10):
    codes = _normalise(features)
    n = len(labels)
    per_anchor = []
    for a in range(min(num_anchors, n)):
        positives = [p for p in range(n) if p != a and labels[p] == labels[a]]
        negatives = [q for q in range(n) if labels[q] != labels[a]]
        if not positives or not negatives:
            continue
        total = 0.0
        for p in positives:
            for q in negatives:
                total += max(_sq_distance(codes, a, p) - _sq_distance(codes, a, q) + margin, 0.0)
        per_anchor.append(total)
    return float(np.mean(per_anchor)) if per_anchor else 0.0


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # 1 / (1 + exp(-z)) without overflow


def _brute_smooth_ap(features, labels, tau=0.01, num_anchors=10):
    codes = _normalise(features)
    n = len(labels)
    per_anchor = []
    for a in range(min(num_anchors, n)):
        positives = [p for p in range(n) if p != a and labels[p] == labels[a]]
        negatives = [q for q in range(n) if labels[q] != labels[a]]
        if not positives or not negatives:
            continue
        d = {x: _sq_distance(codes, a, x) for x in range(n)}
        total = 0.0
        for p in positives:
            numerator = sum(_sigmoid((d[p] - d[q]) / tau) for q in negatives)
            rank = 1.0 + sum(_sigmoid((d[p] - d[x]) / tau) for x in positives + negatives if x != p)
            total += numerator / rank
        per_anchor.append(total / len(positives))
    return float(np.mean(per_anchor)) if per_anchor else 0.0


def _brute_average_precision(features, labels, anchor):
    """AP of the ranking of every other entry by distance to ``anchor``."""
    codes = _normalise(features)
    others = [x for x in range(len(labels)) if x != anchor]
    ranked = sorted(others, key=lambda x: _sq_distance(codes, anchor, x))
    hits, precisions = 0, []
    for rank, x in enumerate(ranked, start=1):
        if labels[x] == labels[anchor]:
            hits += 1
            precisions.append(hits / rank)
    return float(np.mean(precisions))


def _random_batch(n=24, dim=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)).astype(np.float32), rng.integers(0, classes, size=n)


def _gradient(loss, features, labels, **kwargs):
    features = tf.Variable(features)
    with tf.GradientTape() as tape:
        value = loss(features, labels, **kwargs)
    return tape.gradient(value, features).numpy()


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("num_anchors", [1, 5, 10, 30])
@pytest.mark.parametrize("margin", [0.0, 0.2, 0.5])
def test_triplet_loss_matches_a_brute_force_loop_over_anchors_positives_and_negatives(
    num_anchors, margin
):
    features, labels = _random_batch(seed=num_anchors)
    expected = _brute_triplet(features, labels, margin, num_anchors)
    got = float(triplet_loss(features, labels, margin=margin, num_anchors=num_anchors))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("num_anchors", [1, 10, 30])
@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_smooth_ap_loss_matches_a_brute_force_loop_over_anchors_and_positives(num_anchors, tau):
    features, labels = _random_batch(seed=100 + num_anchors)
    expected = _brute_smooth_ap(features, labels, tau, num_anchors)
    got = float(smooth_ap_loss(features, labels, tau=tau, num_anchors=num_anchors))
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_triplet_loss_is_zero_when_every_triplet_is_satisfied():
    # Two tight pairs on opposite sides of the circle: d(a, p) ~ 0.01, d(a, n) ~ 4.
    features = np.array([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    assert float(triplet_loss(features, labels, margin=0.5)) == 0.0


def test_three_points_on_the_circle_give_the_hand_worked_means():
    # Anchor 0: d(a,p) = 2, d(a,n) = 4 -> 0 for triplet, sigmoid(-2/tau) ~ 0 for Smooth-AP.
    # Anchor 1: d(a,p) = 2, d(a,n) = 2 -> margin 0.2; a tie, 0.5 / (1 + 0.5) = 1/3.
    # Anchor 2 has no positive and is left out of both means.
    features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    assert float(triplet_loss(features, labels, margin=0.2)) == pytest.approx(0.1, abs=1e-6)
    assert float(smooth_ap_loss(features, labels, tau=0.01)) == pytest.approx(1 / 6, abs=1e-6)


def test_a_batch_of_one_class_has_no_valid_anchor_and_zero_loss_and_gradient():
    features, _ = _random_batch(n=6)
    labels = np.zeros(6, dtype=int)
    for loss in (triplet_loss, smooth_ap_loss):
        assert float(loss(features, labels)) == 0.0
        np.testing.assert_array_equal(_gradient(loss, features, labels), 0.0)


def test_smooth_ap_at_tau_1e_4_equals_one_minus_ap_of_each_anchor():
    features, labels = _random_batch(n=20, dim=6, classes=3, seed=109)
    codes = _normalise(features)
    for anchor in range(len(labels)):
        distances = np.sort([_sq_distance(codes, anchor, x) for x in range(20) if x != anchor])
        # Near-ties would be half-counted by the sigmoid: make sure this batch has none.
        assert np.diff(distances).min() > 2e-3
        # Move the anchor to the front so it is the only anchor of the batch.
        order = [anchor] + [x for x in range(20) if x != anchor]
        got = float(smooth_ap_loss(features[order], labels[order], tau=1e-4, num_anchors=1))
        expected = 1.0 - _brute_average_precision(features, labels, anchor)
        assert got == pytest.approx(expected, abs=1e-4)


def test_triplet_gradient_matches_finite_differences_of_the_brute_force_loss():
    features, labels = _random_batch(n=10, dim=4, seed=3)
    features = features.astype(np.float64)
    got = _gradient(triplet_loss, features, labels, margin=0.3)
    step, expected = 1e-6, np.zeros_like(features)
    for index in np.ndindex(*features.shape):
        up, down = features.copy(), features.copy()
        up[index] += step
        down[index] -= step
        expected[index] = (_brute_triplet(up, labels, 0.3) - _brute_triplet(down, labels, 0.3)) / (
            2 * step
        )
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_smooth_ap_gradient_matches_finite_differences_of_the_brute_force_loss():
    features, labels = _random_batch(n=10, dim=4, seed=4)
    features = features.astype(np.float64)
    got = _gradient(smooth_ap_loss, features, labels, tau=0.1)
    step, expected = 1e-6, np.zeros_like(features)
    for index in np.ndindex(*features.shape):
        up, down = features.copy(), features.copy()
        up[index] += step
        down[index] -= step
        expected[index] = (
            _brute_smooth_ap(up, labels, 0.1) - _brute_smooth_ap(down, labels, 0.1)
        ) / (2 * step)
    np.testing.assert_allclose(got, expected, atol=1e-5)


# --- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [1e-2, 1e-3, 1e-4])
def test_gradients_stay_finite_at_small_tau_with_duplicate_and_zero_features(tau):
    features, labels = _random_batch(n=16, seed=5)
    features[3] = features[0]  # a duplicate of the anchor
    features[5] = features[4]  # two identical other entries
    features[6] = 3.0 * features[2]  # same direction, same normalised code
    features[7] = 0.0  # an all-zero embedding
    for loss, kwargs in ((smooth_ap_loss, {"tau": tau}), (triplet_loss, {})):
        value = float(loss(features, labels, **kwargs))
        gradient = _gradient(loss, features, labels, **kwargs)
        assert np.isfinite(value) and np.isfinite(gradient).all()
        assert np.abs(gradient).sum() > 0  # finite, and still informative
    assert float(smooth_ap_loss(features, labels, tau=tau)) == pytest.approx(
        _brute_smooth_ap(features, labels, tau), abs=1e-4
    )


def test_float16_features_are_computed_in_float32():
    features, labels = _random_batch(seed=6)
    half = features.astype(np.float16)
    for loss, brute in ((triplet_loss, _brute_triplet), (smooth_ap_loss, _brute_smooth_ap)):
        value = loss(tf.constant(half), labels)
        assert value.dtype == tf.float32
        assert float(value) == pytest.approx(brute(half.astype(np.float64), labels), rel=1e-4)
        gradient = _gradient(loss, half, labels)
        assert gradient.dtype == np.float16 and np.isfinite(gradient).all()


def test_losses_work_inside_tf_function_with_an_unknown_batch_size():
    spec = (tf.TensorSpec([None, 8], tf.float32), tf.TensorSpec([None], tf.int64))

    @tf.function(input_signature=spec)
    def both_losses(features, labels):
        return triplet_loss(features, labels), smooth_ap_loss(features, labels)

    for n in (6, 24):
        features, labels = _random_batch(n=n, seed=n)
        triplet, smooth_ap = both_losses(features, labels.astype(np.int64))
        assert float(triplet) == pytest.approx(_brute_triplet(features, labels), rel=1e-5)
        assert float(smooth_ap) == pytest.approx(_brute_smooth_ap(features, labels), rel=1e-4)


# --- Keras -------------------------------------------------------------------------------------


def test_keras_loss_classes_take_labels_as_y_true_of_shape_n_by_1():
    features, labels = _random_batch(seed=8)
    y_true = labels.reshape(-1, 1).astype(np.float32)  # how Keras hands labels over
    assert float(TripletLoss(margin=0.3, num_anchors=5)(y_true, features)) == pytest.approx(
        _brute_triplet(features, labels, 0.3, 5), rel=1e-5
    )
    assert float(SmoothAPLoss(tau=0.05)(y_true, features)) == pytest.approx(
        _brute_smooth_ap(features, labels, 0.05), rel=1e-4
    )
    rebuilt = TripletLoss.from_config(TripletLoss(margin=0.3, num_anchors=5).get_config())
    assert (rebuilt.margin, rebuilt.num_anchors) == (0.3, 5)


@pytest.mark.parametrize("loss", [TripletLoss(margin=0.2), SmoothAPLoss(tau=0.05)])
def test_model_compile_with_a_loss_class_lowers_the_loss_on_separable_data(loss):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 3
    labels = rng.integers(0, 3, size=300)
    inputs = (centres[labels] + rng.normal(size=(300, 8))).astype(np.float32)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    reference = _brute_triplet if isinstance(loss, TripletLoss) else _brute_smooth_ap
    kwargs = loss.get_config()
    kwargs = {"margin": kwargs["margin"]} if "margin" in kwargs else {"tau": kwargs["tau"]}
    before = reference(model.predict(inputs[:60], verbose=0), labels[:60], **kwargs)
    model.fit(inputs, labels, batch_size=30, epochs=4, verbose=0)
    after = reference(model.predict(inputs[:60], verbose=0), labels[:60], **kwargs)
    assert after < 0.5 * before


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: triplet_loss(np.zeros((4, 2, 2), "float32"), np.zeros(4)), "shape"),
        (lambda: triplet_loss(np.zeros((4, 2), "float32"), np.zeros((4, 3))), "one-hot"),
        (lambda: triplet_loss(np.zeros((4, 2), "float32"), np.zeros(5)), "batch size"),
        (lambda: triplet_loss(np.zeros((4, 2), "int32"), np.zeros(4)), "float"),
        (lambda: triplet_loss(np.zeros((4, 2), "float32"), np.zeros(4), margin=-0.1), "margin"),
        (lambda: triplet_loss(np.zeros((4, 2), "float32"), np.zeros(4), num_anchors=0), "anchors"),
        (lambda: smooth_ap_loss(np.zeros((4, 2), "float32"), np.zeros(4), tau=0.0), "tau"),
        (lambda: SmoothAPLoss(tau=-1.0), "tau"),
    ],
)
def test_invalid_inputs_raise_a_value_error_that_says_what_to_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()
