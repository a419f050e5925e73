"""Notebook 03's metric-learning losses, vectorised: the answers to questions 4.1 and 5.1.

Kept out of the student library (``helpers``) because the notebook asks students to write them:
the instructor's tests, benchmarks and training checks use these. Functions
``triplet_loss(codes, labels)`` / ``smooth_ap_loss`` for a custom loop
(``helpers.training.train_metric_model``); classes ``TripletLoss`` / ``SmoothAPLoss`` for
``model.compile``.
The first ``num_anchors`` entries of a batch are the anchors; features are L2-normalised and
compared by squared Euclidean distance (in ``[0, 4]``).
"""

from __future__ import annotations

import numbers

import keras
import tensorflow as tf

__all__ = ["triplet_loss", "smooth_ap_loss", "TripletLoss", "SmoothAPLoss"]


def triplet_loss(features, labels, margin: float = 0.2, num_anchors: int = 10) -> tf.Tensor:
    """Triplet loss over every (positive, negative) pair of the first ``num_anchors`` anchors.

    ``l(a) = sum_{p in P(a)} sum_{n in N(a)} max(d(a, p) - d(a, n) + margin, 0)``, averaged over
    the anchors that have a positive and a negative (0 if none has).

    Parameters
    ----------
    features : (n, d) float array or tensor
        Embeddings of one batch; float16 is computed in float32.
    labels : (n,) int array or tensor
    margin : float, default=0.2
        Distances lie in ``[0, 4]``, so a margin in ``[0, 0.5]`` is sensible.
    num_anchors : int, default=10
        Leading entries of the batch that act as anchors.

    Returns
    -------
    scalar float32 tensor (float64 for float64 features)

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype="float32")
    >>> labels = np.array([0, 0, 1])
    >>> round(float(triplet_loss(features, labels, margin=0.2)), 4)  # (0 + 0.2) / 2 anchors
    0.1
    """
    _check_margin(margin)
    features, labels, num_anchors = _validate_batch(features, labels, num_anchors)
    sq_distances, positive, negative = _anchor_distances_and_masks(features, labels, num_anchors)
    per_anchor = _triplet_per_anchor(sq_distances, positive, negative, margin)
    return _mean_over_valid_anchors(per_anchor, positive, negative)


def smooth_ap_loss(features, labels, tau: float = 0.01, num_anchors: int = 10) -> tf.Tensor:
    """Smooth-AP loss (Brown et al., ECCV 2020): a differentiable ``1 - AP`` per anchor.

    ``l(a) = (1/|P|) sum_{p in P} [sum_{n in N} s(d_p - d_n)]
    / [1 + sum_{x in P u N, x != p} s(d_p - d_x)]`` with ``s(z) = sigmoid(z / tau)``; as
    ``tau -> 0`` it tends to ``1 - AP(a)``. Mean over the anchors with a positive and a negative.

    Parameters
    ----------
    features, labels, num_anchors
        As in :func:`triplet_loss`.
    tau : float, default=0.01
        Sigmoid temperature: smaller is closer to the true AP, with sparser gradients.

    Returns
    -------
    scalar float32 tensor (float64 for float64 features)

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype="float32")
    >>> labels = np.array([0, 0, 1])
    >>> # anchor 0 ranks its positive first (0); anchor 1 has a tie, 0.5 / 1.5
    >>> round(float(smooth_ap_loss(features, labels, tau=0.01)), 4)
    0.1667
    """
    if isinstance(tau, numbers.Real) and not tau > 0:
        raise ValueError(f"tau must be a positive temperature (e.g. 0.01), got {tau!r}.")
    features, labels, num_anchors = _validate_batch(features, labels, num_anchors)
    sq_distances, positive, negative = _anchor_distances_and_masks(features, labels, num_anchors)
    per_anchor = _smooth_ap_per_anchor(sq_distances, positive, negative, tau)
    return _mean_over_valid_anchors(per_anchor, positive, negative)


@keras.saving.register_keras_serializable(package="instructor")
class TripletLoss(keras.losses.Loss):
    """:func:`triplet_loss` as a Keras loss: ``y_true`` the labels, ``y_pred`` the embedding.

    The anchors are the first ``num_anchors`` entries of each batch, so let ``fit`` shuffle.

    Examples
    --------
    >>> import numpy as np
    >>> loss = TripletLoss(margin=0.2)
    >>> features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype="float32")
    >>> round(float(loss(np.array([0, 0, 1]), features)), 4)
    0.1
    """

    def __init__(
        self, margin: float = 0.2, num_anchors: int = 10, name: str = "triplet_loss", **kwargs
    ):
        _check_margin(margin)
        _check_num_anchors(num_anchors)
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.num_anchors = num_anchors

    def call(self, y_true, y_pred):
        return triplet_loss(
            y_pred, tf.reshape(y_true, [-1]), margin=self.margin, num_anchors=self.num_anchors
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin, "num_anchors": self.num_anchors}


@keras.saving.register_keras_serializable(package="instructor")
class SmoothAPLoss(keras.losses.Loss):
    """:func:`smooth_ap_loss` as a Keras loss: ``y_true`` the labels, ``y_pred`` the embedding.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SmoothAPLoss(tau=0.01)
    >>> features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype="float32")
    >>> round(float(loss(np.array([0, 0, 1]), features)), 4)
    0.1667
    """

    def __init__(
        self, tau: float = 0.01, num_anchors: int = 10, name: str = "smooth_ap_loss", **kwargs
    ):
        if not tau > 0:
            raise ValueError(f"tau must be a positive temperature (e.g. 0.01), got {tau!r}.")
        _check_num_anchors(num_anchors)
        super().__init__(name=name, **kwargs)
        self.tau = tau
        self.num_anchors = num_anchors

    def call(self, y_true, y_pred):
        return smooth_ap_loss(
            y_pred, tf.reshape(y_true, [-1]), tau=self.tau, num_anchors=self.num_anchors
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "tau": self.tau, "num_anchors": self.num_anchors}


# --- validation -------------------------------------------------------------------------------


def _check_num_anchors(num_anchors) -> None:
    if (
        isinstance(num_anchors, bool)
        or not isinstance(num_anchors, numbers.Integral)
        or num_anchors < 1
    ):
        raise ValueError(
            f"num_anchors must be a positive int (how many leading entries of the "
            f"batch are anchors), got {num_anchors!r}."
        )


def _check_margin(margin) -> None:
    if isinstance(margin, numbers.Real) and not margin >= 0:
        raise ValueError(f"margin must be >= 0 (distances lie in [0, 4]; try 0.2), got {margin!r}.")


def _validate_batch(features, labels, num_anchors):
    """Check shapes once; return float32 (or float64) features, labels and the anchor count."""
    _check_num_anchors(num_anchors)
    features = tf.convert_to_tensor(features)
    labels = tf.convert_to_tensor(labels)
    if not features.dtype.is_floating:
        raise ValueError(
            f"features must be a float array of embeddings, got dtype "
            f"{features.dtype.name}; cast them with .astype('float32')."
        )
    if features.shape.rank != 2:
        raise ValueError(
            f"features must have shape (batch, dim), got {features.shape}; "
            "flatten the embeddings first."
        )
    if labels.shape.rank != 1:
        raise ValueError(
            f"labels must have shape (batch,), got {labels.shape}; pass class "
            "indices, not one-hot vectors (reshape (batch, 1) to (batch,))."
        )
    n_features, n_labels = features.shape[0], labels.shape[0]
    if n_features is not None and n_labels is not None and n_features != n_labels:
        raise ValueError(
            f"features and labels disagree on the batch size: {n_features} "
            f"embeddings but {n_labels} labels."
        )
    # Mixed precision: float16 sums of squares lose the small distances that rank neighbours.
    compute_dtype = tf.float64 if features.dtype == tf.float64 else tf.float32
    return tf.cast(features, compute_dtype), labels, int(num_anchors)


# --- arithmetic -------------------------------------------------------------------------------


def _anchor_distances_and_masks(features, labels, num_anchors):
    """Squared distances (anchors x batch) of normalised features, positive and negative masks."""
    # Vectorised with boolean masks: a handful of TensorFlow ops (GPU, tf.function); memory
    # grows as num_anchors * n**2.
    # l2_normalize clamps the squared norm at epsilon, so an all-zero row stays finite.
    codes = tf.math.l2_normalize(features, axis=1)
    anchors = codes[:num_anchors]
    sq_norms = tf.reduce_sum(tf.square(codes), axis=1)
    # |a|^2 + |x|^2 - 2 a.x instead of |a - x|: no sqrt, whose gradient at 0 is infinite.
    sq_distances = (
        sq_norms[:num_anchors, None]
        + sq_norms[None, :]
        - 2.0 * tf.matmul(anchors, codes, transpose_b=True)
    )
    sq_distances = tf.maximum(sq_distances, 0.0)  # rounding can dip below 0 for duplicates

    n_anchors = tf.shape(anchors)[0]
    is_self = tf.equal(tf.range(n_anchors)[:, None], tf.range(tf.shape(codes)[0])[None, :])
    same_label = tf.equal(labels[:num_anchors, None], labels[None, :])
    positive = same_label & ~is_self
    negative = ~same_label
    return sq_distances, positive, negative


def _triplet_per_anchor(sq_distances, positive, negative, margin):
    # Axes [anchor, positive, negative]; margin is added before broadcasting to save a pass.
    violation = tf.nn.relu((sq_distances + margin)[:, :, None] - sq_distances[:, None, :])
    # A batched matrix-vector product sums over the negatives and applies their mask in one op.
    per_positive = tf.linalg.matvec(violation, tf.cast(negative, violation.dtype))
    return tf.reduce_sum(per_positive * tf.cast(positive, violation.dtype), axis=1)


def _smooth_ap_per_anchor(sq_distances, positive, negative, tau):
    # The paper's denominator 1 + sum_{x != p}: summing over every x including p (as notebook
    # 03's text writes it) counts p's own place as s(0) = 1/2, not 1; that loss no longer tends
    # to 1 - AP and weighs positives near the top more (1/1.5 instead of 1/2 for a positive
    # second behind one negative). Exact ties count one half, as the sigmoid does at 0.
    # Axes [anchor, p, x]. tf.sigmoid saturates to exactly 0 or 1 for large |z| with a finite
    # gradient, so a tiny tau cannot overflow; scaling before broadcasting saves a pass.
    scaled = sq_distances / tau
    ahead = tf.sigmoid(scaled[:, :, None] - scaled[:, None, :])
    # One batched matmul sums, for each p, over the negatives and over every entry but the anchor.
    columns = tf.stack([negative, positive | negative], axis=2)
    sums = tf.matmul(ahead, tf.cast(columns, ahead.dtype))
    negatives_ahead = sums[:, :, 0]
    # The sum over every entry includes x = p, where d_p - d_p is exactly 0 and sigmoid(0) = 1/2:
    # 1 + sum_{x != p} = 1 + (sum_x - 1/2).
    rank = 0.5 + sums[:, :, 1]
    positive_weight = tf.cast(positive, ahead.dtype)
    n_positives = tf.reduce_sum(positive_weight, axis=1)
    return tf.math.divide_no_nan(
        tf.reduce_sum(negatives_ahead / rank * positive_weight, axis=1), n_positives
    )


def _mean_over_valid_anchors(per_anchor, positive, negative):
    valid = tf.reduce_any(positive, axis=1) & tf.reduce_any(negative, axis=1)
    total = tf.reduce_sum(tf.where(valid, per_anchor, tf.zeros_like(per_anchor)))
    return tf.math.divide_no_nan(total, tf.reduce_sum(tf.cast(valid, per_anchor.dtype)))
