"""Average precision: of one list, mAP of self-retrieval, precision/recall at k, per-class AP.

A query with no positive is reported and left out of the mean, never averaged as 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score

from helpers.retrieval import checks, ranking
from helpers.session.messages import warn


def average_precision(sorted_labels: ArrayLike, query_label) -> float:
    """Non-interpolated average precision of one ranked list (the query left out).

    An item is relevant when its label equals ``query_label``; NaN (with a RuntimeWarning) when
    none is.

    Examples
    --------
    Relevant items at ranks 1 and 3: AP = (1/1 + 2/3) / 2.

    >>> round(average_precision(["cat", "dog", "cat", "dog"], "cat"), 4)
    0.8333
    """
    labels = checks.to_numpy(sorted_labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(
            f"sorted_labels must be a non-empty 1-D list of labels in rank order; got shape "
            f"{labels.shape}."
        )
    checks.refuse_missing_labels(labels, "sorted_labels")
    checks.refuse_missing_labels(np.asarray([query_label], dtype=object), "query_label")
    ranks = np.flatnonzero(labels == query_label) + 1
    if len(ranks) == 0:
        warn(
            f"no item of the list has the query's label {query_label!r}; AP is NaN.", RuntimeWarning
        )
        return float("nan")
    return float(ranking.ap_from_ranks(ranks[None, :])[0])


def _self_retrieval_ranks(codes, labels, query_indices, normalize, verbose):
    """Validate a self-retrieval problem; yield its (positions, ranks) groups."""
    codes = checks.check_codes(codes, "codes", normalize=normalize)
    if len(codes) < 2:
        raise ValueError(
            "codes must have at least 2 rows: each query is ranked against the others."
        )
    class_ids = checks.check_labels(labels, len(codes))
    query_indices = checks.check_query_indices(query_indices, len(codes))
    return (
        len(codes),
        len(query_indices),
        ranking.iter_positive_ranks(codes, class_ids, query_indices, verbose=verbose),
    )


def mean_average_precision(
    codes: ArrayLike,
    labels: ArrayLike,
    query_indices: ArrayLike | None = None,
    *,
    normalize: bool = True,
    return_per_query: bool = False,
    verbose: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Mean average precision of self-retrieval: each query ranks every other row of ``codes``.

    Parameters
    ----------
    codes : (n, d) array or tensor
    labels : (n,) array
        A retrieved item is relevant when its class is the query's.
    query_indices : (n_q,) int array, optional
        Rows used as queries (default: every row).
    normalize : bool, default True
        L2-normalise the rows first (same default as :func:`knn`, so ``knn`` lists the head of
        the ranking scored here).
    return_per_query : bool, default False
        Also return the AP of every query, in the order of ``query_indices``.

    Returns
    -------
    mean_ap : float
        Queries with no positive are left out (RuntimeWarning); NaN if all are.
    per_query_ap : (n_q,) float array
        Only with ``return_per_query``.

    Examples
    --------
    Points 0, 1, 2, 4 on a line; query 1 finds rows 0 and 2 at the same distance and ranks
    row 0 first (lower index), as query 2 does with rows 0 and 3:

    >>> codes, labels = [[0.0], [1.0], [2.0], [4.0]], [0, 0, 1, 1]
    >>> mean_ap, per_query = mean_average_precision(
    ...     codes, labels, normalize=False, return_per_query=True)
    >>> per_query.round(3)
    array([1.   , 1.   , 0.333, 1.   ])
    >>> round(mean_ap, 3)
    0.833
    """
    # Ranked by float32 squared distance; the query is excluded by index (a duplicate may be
    # nearer than itself after rounding); bit-equal distances rank by index, so APs are exact
    # for the float32 distances (scikit-learn would let tied items enter together). Memory:
    # the codes twice as float32, plus query blocks within ranking.MEMORY_BUDGET_BYTES (256 MiB;
    # measured 235 MiB at N = 12,000). The resident peak can reach ~1.7x that, as glibc keeps
    # freed blocks under its 32 MiB mmap threshold; MALLOC_MMAP_THRESHOLD_=1048576 avoids it.
    n_items, n_queries, groups = _self_retrieval_ranks(
        codes, labels, query_indices, normalize, verbose
    )
    per_query = np.empty(n_queries)
    for positions, ranks in groups:
        per_query[positions] = ranking.ap_from_ranks(ranks)
    n_missing = int(np.isnan(per_query).sum())
    if n_missing:
        ranking.warn_no_positives(n_missing, n_queries)
    mean_ap = float(np.mean(per_query[~np.isnan(per_query)])) if n_missing < n_queries else np.nan
    return (mean_ap, per_query) if return_per_query else mean_ap


def precision_recall_at_k(
    codes: ArrayLike,
    labels: ArrayLike,
    query_indices: ArrayLike | None = None,
    *,
    normalize: bool = True,
    verbose: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean precision and mean recall at every list length k = 1 .. n-1 of self-retrieval.

    Not scikit-learn's ``precision_recall_curve`` (one binary problem, one point per threshold):
    one point per k, averaged over the queries, so curves of several codes share their x.
    Arguments as in :func:`mean_average_precision`; queries with no positive are left out.

    Returns
    -------
    precision, recall : (n - 1,) float arrays
        At index ``k - 1``: mean of (relevant in the top k) / k, and / T (ends at 1).

    Examples
    --------
    >>> precision, recall = precision_recall_at_k(
    ...     [[0.0], [0.1], [1.0], [1.2]], [0, 0, 1, 1], normalize=False)
    >>> precision.round(3)
    array([1.   , 0.5  , 0.333])
    >>> recall
    array([1., 1., 1.])
    """
    n_items, n_queries, groups = _self_retrieval_ranks(
        codes, labels, query_indices, normalize, verbose
    )
    hits = np.zeros(n_items - 1)
    recall_gain = np.zeros(n_items - 1)
    n_missing = 0
    for positions, ranks in groups:
        if ranks.shape[1] == 0:
            n_missing += len(positions)
            continue
        found_at = np.bincount(ranks.ravel() - 1, minlength=n_items - 1)
        hits += found_at
        recall_gain += found_at / ranks.shape[1]
    if n_missing:
        ranking.warn_no_positives(n_missing, n_queries)
    n_used = n_queries - n_missing
    if n_used == 0:
        return np.full(n_items - 1, np.nan), np.full(n_items - 1, np.nan)
    list_lengths = np.arange(1, n_items)
    return np.cumsum(hits) / (list_lengths * n_used), np.cumsum(recall_gain) / n_used


def per_class_average_precision(
    y_true: ArrayLike, scores: ArrayLike, ignore: ArrayLike | None = None
) -> np.ndarray:
    """Average precision of every class of a multi-label problem (PASCAL VOC style).

    Parameters
    ----------
    y_true : (n_samples, n_classes) array of 0/1 (or bool)
        A 1-D array is one class.
    scores : (n_samples, n_classes) float array
    ignore : (n_samples, n_classes) bool array, optional
        Entries left out of their class's ranking (VOC's 'difficult' objects).

    Returns
    -------
    (n_classes,) float array
        scikit-learn's ``average_precision_score(..., average=None)`` (tied scores enter
        together); NaN, with a RuntimeWarning, for a class with no positive (use ``np.nanmean``).

    Examples
    --------
    >>> y_true = [[1, 0], [0, 1], [1, 1], [0, 0]]
    >>> scores = [[0.9, 0.2], [0.8, 0.7], [0.3, 0.7], [0.1, 0.1]]
    >>> per_class_average_precision(y_true, scores).round(3)
    array([0.833, 1.   ])
    """
    truth, values = checks.to_numpy(y_true), checks.to_numpy(scores)
    if truth.ndim == 1:
        truth, values = truth[:, None], values.reshape(len(values), -1)
    if truth.ndim != 2 or truth.shape != values.shape:
        raise ValueError(
            f"y_true and scores must have the same shape (n_samples, n_classes); got {truth.shape} "
            f"and {values.shape}."
        )
    if truth.size == 0:
        raise ValueError(
            f"y_true is empty (shape {truth.shape}); pass at least one sample and class."
        )
    checks.refuse_missing_labels(truth, "y_true")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError(
            "y_true must hold only 0 and 1 (or booleans); mark VOC's 'difficult' entries with "
            "ignore=... instead of a third value."
        )
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise ValueError(f"scores hold NaN or infinite values in rows {checks.row_list(rows)}.")
    keep = np.ones(truth.shape, dtype=bool)
    if ignore is not None:
        mask = checks.to_numpy(ignore)
        if mask.ndim == 1 and truth.shape[1] == 1:
            mask = mask[:, None]
        if mask.shape != truth.shape:
            raise ValueError(
                f"ignore must have the shape of y_true {truth.shape}; got {mask.shape}."
            )
        if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
            raise ValueError("ignore must hold booleans (or 0/1): True where an entry is left out.")
        keep = ~mask.astype(bool)
    # scikit-learn's AP per column; the wrapper adds only what it lacks: NaN (not a warning and
    # a meaningless 0) for a class with no positive, and VOC's per-entry 'difficult' mask.
    ap = np.full(truth.shape[1], np.nan)
    for j in range(truth.shape[1]):
        is_positive = truth[keep[:, j], j] == 1
        if is_positive.any():
            ap[j] = average_precision_score(is_positive, values[keep[:, j], j])
    missing = np.flatnonzero(np.isnan(ap))
    if len(missing):
        warn(
            f"class column(s) {checks.row_list(missing)} have no positive sample; their AP is NaN.",
            RuntimeWarning,
        )
    return ap
