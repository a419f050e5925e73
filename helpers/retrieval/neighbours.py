"""Distances and nearest neighbours of neural codes, in query blocks (TensorFlow, GPU if any).

With ``normalize=True`` (the default) :func:`knn` lists the head of the very ranking
:mod:`~helpers.retrieval.average_precision` scores; ties are broken by database index.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from helpers.retrieval import checks, ranking


def _check_same_width(queries: np.ndarray, database: np.ndarray) -> None:
    if queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"queries have {queries.shape[1]} features but database rows have "
            f"{database.shape[1]}; both must be codes from the same layer."
        )


def sq_distances(queries: ArrayLike, database: ArrayLike, *, normalize: bool = True) -> np.ndarray:
    """Squared Euclidean distances (n_q, n_db), float32, between every query and database row.

    ``normalize=True`` L2-normalises every row first (the course's retrieval setting); pass
    False for distances between the raw codes.

    Examples
    --------
    >>> sq_distances([[0.0, 1.0], [1.0, 1.0]], [[0.0, 2.0], [3.0, 4.0]], normalize=False)
    array([[ 1., 18.],
           [ 2., 13.]], dtype=float32)
    """
    queries = checks.check_codes(queries, "queries", normalize=normalize)
    database = checks.check_codes(database, "database", normalize=normalize)
    _check_same_width(queries, database)
    distances = np.empty((len(queries), len(database)), dtype=np.float32)
    blocks = ranking.DistanceBlocks(database)
    block_size = ranking.rows_per_block(len(database), len(queries))
    with ranking.full_float32_matmul():
        for start in range(0, len(queries), block_size):
            stop = start + block_size
            distances[start:stop] = blocks.block(queries[start:stop]).numpy()
            # |q|^2 + |x|^2 - 2 q.x errs relative to the norms and can dip below 0 for
            # near-duplicates: clamped, so a duplicate may be at 0 while the query's distance
            # to itself is tiny but positive. Rank by index, never by "column 0 is the query".
            ranking.clamp_at_zero(distances[start:stop])
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
    k : int
        1 <= k <= n_db (n_db - 1 with ``exclude``).
    exclude : (n_q,) int array, optional
        A database index to leave out per query, whatever its distance; ``np.arange(n)`` for
        self-retrieval.
    normalize : bool, default True
        As in :func:`sq_distances` and :func:`mean_average_precision`.

    Returns
    -------
    sq_dists : (n_q, k) float32 array
        Non-decreasing along each row.
    indices : (n_q, k) int64 array
        Nearest first (the output order of scikit-learn's ``kneighbors`` and faiss's
        ``search``).

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
    queries = checks.check_codes(queries, "queries", normalize=normalize)
    database = checks.check_codes(database, "database", normalize=normalize)
    _check_same_width(queries, database)
    n_db = len(database)
    exclude = checks.check_exclude(exclude, len(queries), n_db)
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
    blocks = ranking.DistanceBlocks(database)
    block_size = ranking.rows_per_block(n_db, len(queries))
    with ranking.full_float32_matmul():
        for start in range(0, len(queries), block_size):
            stop = min(start + block_size, len(queries))
            clamped = tf.maximum(blocks.block(queries[start:stop]), 0.0)
            negated, found = tf.math.top_k(-clamped, k=fetched)  # equal: lower index first
            negated, found = negated.numpy(), found.numpy().astype(np.int64)
            if exclude is not None:
                drop = found == exclude[start:stop, None]
                drop[~drop.any(axis=1), -1] = True
                keep = ~drop
                negated = negated[keep].reshape(stop - start, k)
                found = found[keep].reshape(stop - start, k)
            indices[start:stop], sq_dists[start:stop] = found, -negated + 0.0  # no -0.0
    return sq_dists, indices
