"""Retrieval by neural codes: distances, nearest neighbours, average precision, precision at k.

Every notebook ranks images by the squared Euclidean distance between their codes and scores the
ranking by average precision (AP). One rule for all functions: ``normalize=True`` (the default)
L2-normalises the rows first, in float64, and then casts to float32, so :func:`knn` lists the
head of the very ranking :func:`mean_average_precision` scores. The ranking is by
(float32 distance, database index): the query is excluded by index, a query with no positive is
reported rather than averaged as 0. Speed: TensorFlow computes the distances (on the GPU when
there is one); AP needs only the rank of each positive, read from one SIMD sort of
(distance, index) keys per row instead of an argsort; queries go in blocks sized from a memory
budget, never an ``(n, n)`` matrix. The arithmetic lives in :mod:`helpers._ranking`, the input
checks in :mod:`helpers._checks`.

What is exact, and what is rounded (u = 2**-24, float32's unit roundoff):

* The ranking is exactly the (distance, index) order of the float32 distances computed here:
  bit-equal distances are ordered by index, as a stable argsort would. Integer codes whose
  squares and sums stay below 2**24 have exact float32 distances, hence exact rankings.
* Those distances are rounded. For d > 2 features, ``|q|^2 + |x|^2 - 2 q.x`` errs by at most
  about ``(d + 2) u (|q| + |x|)^2`` (to first order, whatever the summation order; measured:
  under 10 u (|q|^2 + |x|^2)), an error relative to the *norms*: tiny for unit codes (< 1e-6),
  large against the distance for raw codes far from the origin. For d <= 2 the difference form
  ``sum_j (q_j - x_j)^2`` errs by at most about ``(d + 2) u`` *times the distance* (bit-equal to
  numpy's float32 ``((q - x) ** 2).sum()``). Inputs are rounded to float32 first.
* Hence two items whose true distances are within that error may swap, so a per-query AP can
  differ from a float64 ranking's (measured at N = 5,000: unit codes d = 256, up to 5e-5 per
  query and 2e-8 on the mAP; d = 2,048, 3e-4 and 1.4e-7; raw codes d = 256 about 160 from the
  origin, 8e-5 and 4e-8; raw d = 1 codes, 3e-3 per query by the expansion, 3e-5 by the
  difference form, the rest being the rounding of float64 inputs to float32). ``benchmarks/bench_retrieval.py`` re-measures these.

Inputs may be numpy arrays, lists or tensors; outputs are numpy.
"""

from __future__ import annotations


import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score

from helpers import _checks, _ranking
from helpers._warnings import warn

__all__ = [
    "sq_distances",
    "knn",
    "average_precision",
    "mean_average_precision",
    "precision_recall_at_k",
    "per_class_average_precision",
]


def _check_same_width(queries: np.ndarray, database: np.ndarray) -> None:
    if queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"queries have {queries.shape[1]} features but database rows have "
            f"{database.shape[1]}; both must be codes from the same layer."
        )


def sq_distances(queries: ArrayLike, database: ArrayLike, *, normalize: bool = True) -> np.ndarray:
    """Squared Euclidean distances between every query and every database row.

    Parameters
    ----------
    queries : (n_q, d) array or tensor
    database : (n_db, d) array or tensor
    normalize : bool, default True
        L2-normalise every row of both first. The default is the course's retrieval setting
        (SPEC: codes are compared after L2 normalisation), the same default as every function of
        this module, so that :func:`knn` returns the ranking :func:`mean_average_precision`
        scores. Pass ``normalize=False`` for distances between the raw codes.

    Returns
    -------
    distances : (n_q, n_db) float32 array
        ``|q|^2 + |x|^2 - 2 q.x`` (``sum_j (q_j - x_j)^2`` for d <= 2), computed by TensorFlow
        in blocks of queries.

    Notes
    -----
    The rounding is bounded in the module's docstring. The expansion's error is relative to the
    norms and can dip below zero for (near-)duplicates: it is clamped at 0, so a duplicate may be
    at distance 0 while the query's distance to itself is a tiny positive number. Rank by index,
    never by "the first column is the query".

    Examples
    --------
    >>> sq_distances([[0.0, 1.0], [1.0, 1.0]], [[0.0, 2.0], [3.0, 4.0]], normalize=False)
    array([[ 1., 18.],
           [ 2., 13.]], dtype=float32)
    """
    queries = _checks.check_codes(queries, "queries", normalize=normalize)
    database = _checks.check_codes(database, "database", normalize=normalize)
    _check_same_width(queries, database)
    distances = np.empty((len(queries), len(database)), dtype=np.float32)
    blocks = _ranking.DistanceBlocks(database)
    block_size = _ranking.rows_per_block(len(database), len(queries))
    with _ranking.full_float32_matmul():
        for start in range(0, len(queries), block_size):
            stop = start + block_size
            distances[start:stop] = blocks.block(queries[start:stop]).numpy()
            _ranking.clamp_at_zero(distances[start:stop])
    return distances


def knn(
    queries: ArrayLike,
    database: ArrayLike,
    k: int,
    *,
    exclude: ArrayLike | None = None,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest database rows of every query, nearest first, ties broken by index.

    Parameters
    ----------
    queries : (n_q, d) array or tensor
    database : (n_db, d) array or tensor
    k : int
        Neighbours per query, 1 <= k <= n_db (n_db - 1 when ``exclude`` is given).
    exclude : (n_q,) int array, optional
        A database index to leave out for each query; ``exclude=np.arange(n)`` when the queries
        are the database (self-retrieval). Excluded by index, whatever its distance.
    normalize : bool, default True
        L2-normalise the rows first, as :func:`sq_distances` and :func:`mean_average_precision`
        do by default: with the same ``normalize``, the neighbours are the head of the ranking
        that :func:`mean_average_precision` scores.

    Returns
    -------
    sq_dists : (n_q, k) float32 array
        Squared distances, non-decreasing along each row.
    indices : (n_q, k) int64 array
        Database rows, nearest first. This order of outputs is that of scikit-learn's
        ``NearestNeighbors.kneighbors`` and faiss's ``index.search``.

    Notes
    -----
    Among equal distances the lower database index comes first (``tf.math.top_k`` guarantees it).

    Examples
    --------
    >>> points = [[0.0], [1.0], [3.0], [1.0]]
    >>> sq_dists, indices = knn(points, points, k=2, exclude=[0, 1, 2, 3], normalize=False)
    >>> indices
    array([[1, 3],
           [3, 0],
           [1, 3],
           [1, 0]])
    >>> sq_dists[0]
    array([1., 1.], dtype=float32)
    """
    queries = _checks.check_codes(queries, "queries", normalize=normalize)
    database = _checks.check_codes(database, "database", normalize=normalize)
    _check_same_width(queries, database)
    n_db = len(database)
    exclude = _checks.check_exclude(exclude, len(queries), n_db)
    largest_k = n_db - 1 if exclude is not None else n_db
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= largest_k:
        raise ValueError(
            f"k must be an integer in 1..{largest_k} (the database has {n_db} rows"
            f"{', one excluded per query' if exclude is not None else ''}); got {k!r}."
        )
    # One extra neighbour, so the excluded row can be dropped wherever it falls.
    fetched = k + 1 if exclude is not None else k
    indices = np.empty((len(queries), k), dtype=np.int64)
    sq_dists = np.empty((len(queries), k), dtype=np.float32)
    blocks = _ranking.DistanceBlocks(database)
    block_size = _ranking.rows_per_block(n_db, len(queries))
    with _ranking.full_float32_matmul():
        for start in range(0, len(queries), block_size):
            stop = min(start + block_size, len(queries))
            clamped = tf.maximum(blocks.block(queries[start:stop]), 0.0)
            negated, found = tf.math.top_k(-clamped, k=fetched)
            negated, found = negated.numpy(), found.numpy().astype(np.int64)
            if exclude is not None:
                drop = found == exclude[start:stop, None]
                drop[~drop.any(axis=1), -1] = True
                keep = ~drop
                negated = negated[keep].reshape(stop - start, k)
                found = found[keep].reshape(stop - start, k)
            indices[start:stop], sq_dists[start:stop] = found, -negated + 0.0  # no -0.0
    return sq_dists, indices


def average_precision(sorted_labels: ArrayLike, query_label) -> float:
    """Non-interpolated average precision of one ranked list.

    Parameters
    ----------
    sorted_labels : (n,) array
        Labels of the retrieved items in rank order, nearest first, the query left out.
    query_label : scalar
        The query's label; an item is relevant when its label equals it.

    Returns
    -------
    ap : float
        ``sum_k precision(k) * rel(k) / T`` with ``T`` relevant items in the list; NaN (with a
        RuntimeWarning) when there is none.

    Examples
    --------
    Relevant items at ranks 1 and 3: AP = (1/1 + 2/3) / 2.

    >>> round(average_precision(["cat", "dog", "cat", "dog"], "cat"), 4)
    0.8333
    """
    labels = _checks.to_numpy(sorted_labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(
            f"sorted_labels must be a non-empty 1-D list of labels in rank order; got shape "
            f"{labels.shape}."
        )
    _checks.refuse_missing_labels(labels, "sorted_labels")
    _checks.refuse_missing_labels(np.asarray([query_label], dtype=object), "query_label")
    ranks = np.flatnonzero(labels == query_label) + 1
    if len(ranks) == 0:
        warn(
            f"no item of the list has the query's label {query_label!r}; AP is NaN.",
            RuntimeWarning
        )
        return float("nan")
    return float(_ranking.ap_from_ranks(ranks[None, :])[0])


def _self_retrieval_ranks(codes, labels, query_indices, normalize, verbose):
    """Validate a self-retrieval problem; yield its (positions, ranks) groups."""
    codes = _checks.check_codes(codes, "codes", normalize=normalize)
    if len(codes) < 2:
        raise ValueError("codes must have at least 2 rows: each query is ranked against the others.")
    class_ids = _checks.check_labels(labels, len(codes))
    query_indices = _checks.check_query_indices(query_indices, len(codes))
    return len(codes), len(query_indices), _ranking.iter_positive_ranks(
        codes, class_ids, query_indices, verbose=verbose
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
        One code per item; the database is all of them.
    labels : (n,) array
        Class of each item; a retrieved item is relevant when its class is the query's.
    query_indices : (n_q,) int array, optional
        Rows used as queries (default: every row). Each is ranked against the other ``n - 1``.
    normalize : bool, default True
        L2-normalise the rows first (the retrieval setting of Babenko et al. and of the course).
        Same default as :func:`knn` and :func:`sq_distances`, so that ``knn`` lists the head of
        the ranking scored here.
    return_per_query : bool, default False
        Also return the AP of every query.
    verbose : bool, default False
        Show a progress bar over the blocks of queries.

    Returns
    -------
    mean_ap : float
        Mean of the queries' APs, queries with no positive left out (NaN if all are).
    per_query_ap : (n_q,) float array
        Only with ``return_per_query``; in the order of ``query_indices``.

    Notes
    -----
    Items are ranked by float32 squared distance; the query is excluded by index (a duplicate of
    it may be nearer than itself after rounding); bit-equal distances are ranked by index. APs
    are exact for those float32 distances; against a float64 ranking, items within rounding of
    each other may swap (bounds and measured errors in the module's docstring). AP is the
    non-interpolated ``sum_k precision(k) * rel(k) / T``. A query whose class has no other item has
    AP NaN, is left out of the mean, and a RuntimeWarning says how many were. scikit-learn's
    ``average_precision_score`` would instead let tied items enter together; on tie-free
    distances the two agree. Labels may not be NaN or None (ValueError). Memory: the codes are
    held twice as float32 (the checked, normalised copy and TensorFlow's), plus queries in blocks
    sized so that their live working memory stays within ``_ranking.MEMORY_BUDGET_BYTES``
    (256 MiB), whatever ``n`` (measured: 235 MiB at N = 12,000). The process's resident peak can
    be up to about 1.7 times that, as glibc keeps freed blocks under its dynamic mmap threshold
    (32 MiB) for reuse; ``MALLOC_MMAP_THRESHOLD_=1048576`` in the environment avoids it.

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
    n_items, n_queries, groups = _self_retrieval_ranks(
        codes, labels, query_indices, normalize, verbose
    )
    per_query = np.empty(n_queries)
    for positions, ranks in groups:
        per_query[positions] = _ranking.ap_from_ranks(ranks)
    n_missing = int(np.isnan(per_query).sum())
    if n_missing:
        _ranking.warn_no_positives(n_missing, n_queries)
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

    Not scikit-learn's ``precision_recall_curve``: that one takes one binary problem
    ``(y_true, scores)`` and returns (precision, recall, thresholds) at each distinct score; this
    one takes codes and labels, ranks the other items for every query, and returns precision and
    recall *at list length k* averaged over the queries (one point per k, so curves of several
    codes share their x positions).

    Parameters
    ----------
    codes, labels, query_indices, normalize, verbose
        As in :func:`mean_average_precision`.

    Returns
    -------
    precision : (n - 1,) float array
        ``precision[k - 1]``: mean over queries of (relevant items in the top k) / k.
    recall : (n - 1,) float array
        ``recall[k - 1]``: mean over queries of (relevant items in the top k) / T; it ends at 1.

    Notes
    -----
    Same ranking as :func:`mean_average_precision`. Queries with no positive have no recall and
    are left out of both means (with a RuntimeWarning); if every query is such, both are NaN.

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
        _ranking.warn_no_positives(n_missing, n_queries)
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
        Whether each sample has each class. A 1-D array is one class.
    scores : (n_samples, n_classes) float array
        Higher means more confident that the sample has the class.
    ignore : (n_samples, n_classes) bool array, optional
        Entries left out of their class's ranking (VOC's 'difficult' objects).

    Returns
    -------
    ap : (n_classes,) float array
        The numbers of scikit-learn's ``average_precision_score(y_true, scores, average=None)``:
        samples with equal scores enter the ranking together (one precision-recall point).

    Notes
    -----
    A class with no positive (after ``ignore``) has AP NaN and a RuntimeWarning names it; take
    the mean with ``np.nanmean``.

    Examples
    --------
    >>> y_true = [[1, 0], [0, 1], [1, 1], [0, 0]]
    >>> scores = [[0.9, 0.2], [0.8, 0.7], [0.3, 0.7], [0.1, 0.1]]
    >>> per_class_average_precision(y_true, scores).round(3)
    array([0.833, 1.   ])
    """
    truth, values = _checks.to_numpy(y_true), _checks.to_numpy(scores)
    if truth.ndim == 1:
        truth, values = truth[:, None], values.reshape(len(values), -1)
    if truth.ndim != 2 or truth.shape != values.shape:
        raise ValueError(
            f"y_true and scores must have the same shape (n_samples, n_classes); got {truth.shape} "
            f"and {values.shape}."
        )
    if truth.size == 0:
        raise ValueError(f"y_true is empty (shape {truth.shape}); pass at least one sample and class.")
    _checks.refuse_missing_labels(truth, "y_true")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError(
            "y_true must hold only 0 and 1 (or booleans); mark VOC's 'difficult' entries with "
            "ignore=... instead of a third value."
        )
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise ValueError(f"scores hold NaN or infinite values in rows {_checks.row_list(rows)}.")
    keep = np.ones(truth.shape, dtype=bool)
    if ignore is not None:
        mask = _checks.to_numpy(ignore)
        if mask.ndim == 1 and truth.shape[1] == 1:
            mask = mask[:, None]
        if mask.shape != truth.shape:
            raise ValueError(f"ignore must have the shape of y_true {truth.shape}; got {mask.shape}.")
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
            f"class column(s) {_checks.row_list(missing)} have no positive sample; their AP is NaN.",
            RuntimeWarning
        )
    return ap
