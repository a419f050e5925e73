"""Private arithmetic behind :mod:`helpers.retrieval`: input checks, distance blocks, ranks.

The public functions validate their inputs once and then call these. Two ideas carry the speed:

* Distances are computed by TensorFlow (so they run on the GPU when there is one) in blocks of
  queries sized from a memory budget, never as one ``(n, n)`` matrix.
* Average precision needs only the rank of every *positive* in a query's list, not an argsort.
  Each distance row becomes int64 keys ``float_bits(distance) << s | index << 1 | is_positive``
  (a non-negative float32's bits order like its value), sorted by numpy's SIMD sort, several
  times faster than an argsort. The keys are unique, so ties go by database index with no extra
  pass (float32 ties are common: a row of 50,000 distances between random 256-d unit codes holds
  about 500 repeated values), and the positives' ranks are the positions of the set lowest bits.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

#: Working memory a block of queries may use (distance block, its sorted copy, TF temporaries).
MEMORY_BUDGET_BYTES = 256 * 2**20
#: Bytes per (query, database item) entry alive at the peak of a block: TensorFlow's float32
#: distances and temporaries, and, when ranking, the int64 sort keys and the positive tags.
_DISTANCE_BYTES_PER_ENTRY = 12
_RANKING_BYTES_PER_ENTRY = 26
#: Squared norms above this would overflow float32 in ``|q|^2 + |x|^2 - 2 q.x``.
_MAX_SQ_NORM = float(np.finfo(np.float32).max) / 8
#: Rows read at a time when checking codes, so a float64 copy of all codes is never made.
_CHECK_CHUNK_ROWS = 1024


def to_numpy(values) -> np.ndarray:
    """A numpy view of an array, list or (eager) tensor."""
    if isinstance(values, (tf.Tensor, tf.Variable)):
        return values.numpy()
    return np.asarray(values)


def row_list(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def check_codes(codes, name: str = "codes", normalize: bool = False) -> np.ndarray:
    """Validate an ``(n, d)`` code matrix; return it as C-contiguous float32, L2-normalised if asked.

    Raises a ValueError naming the problem and the rows: not 2-D, empty, NaN or infinite values,
    norms too large for float32 distances, zero rows when ``normalize`` is set.
    """
    array = to_numpy(codes)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_items, n_features); got shape {array.shape}. "
            "Flatten each item's code first, e.g. codes.reshape(len(codes), -1)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass at least one row and column.")
    array = np.ascontiguousarray(array, dtype=np.float32)
    bad_rows, sq_norms = [], np.empty(len(array))
    n_bad = 0
    for start in range(0, len(array), _CHECK_CHUNK_ROWS):
        chunk = array[start : start + _CHECK_CHUNK_ROWS]
        finite = np.isfinite(chunk)
        if not finite.all():
            n_bad += int((~finite).sum())
            bad_rows.append(start + np.flatnonzero(~finite.all(axis=1)))
            continue
        wide = chunk.astype(np.float64)
        sq_norms[start : start + len(chunk)] = np.einsum("ij,ij->i", wide, wide)
    if n_bad:
        rows = np.concatenate(bad_rows)
        raise ValueError(
            f"{name} holds {n_bad} NaN or infinite value(s) in {len(rows)} row(s): "
            f"rows {row_list(rows)}. Fix or drop those items (a diverged model often yields NaN codes)."
        )
    if sq_norms.max() > _MAX_SQ_NORM:
        rows = np.flatnonzero(sq_norms > _MAX_SQ_NORM)
        raise ValueError(
            f"{name} rows {row_list(rows)} are too large for float32 distances (squared norm up to "
            f"{sq_norms.max():.3g}); rescale the codes or pass normalize=True."
        )
    if not normalize:
        return array
    zero = np.flatnonzero(sq_norms == 0)
    if len(zero):
        raise ValueError(
            f"{name} has {len(zero)} all-zero row(s) that cannot be L2-normalised: rows "
            f"{row_list(zero)}. Drop them, or pass normalize=False to rank raw codes."
        )
    # Divide in float32: a float64 quotient would double the memory of large code matrices.
    return np.divide(array, np.sqrt(sq_norms).astype(np.float32)[:, None])


def check_labels(labels, n_items: int, name: str = "labels") -> np.ndarray:
    """Validate one label per item; return integer class ids 0..n_classes-1."""
    array = to_numpy(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class per item); got shape {array.shape}.")
    if len(array) != n_items:
        raise ValueError(
            f"{name} has {len(array)} entries but codes has {n_items} rows; pass one label per row."
        )
    if array.dtype.kind == "f" and np.isnan(array).any():  # np.unique would make NaN a class
        rows = np.flatnonzero(np.isnan(array))
        raise ValueError(f"{name} hold NaN at rows {row_list(rows)}; give every item a class.")
    return np.unique(array, return_inverse=True)[1].astype(np.int64).ravel()


def check_query_indices(query_indices, n_items: int) -> np.ndarray:
    """Validate query row indices (default: every row); return them as int64."""
    if query_indices is None:
        return np.arange(n_items, dtype=np.int64)
    array = to_numpy(query_indices)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(
            f"query_indices must be a 1-D array of integer row indices; got shape {array.shape}, "
            f"dtype {array.dtype}."
        )
    if len(array) == 0:
        raise ValueError("query_indices is empty; pass at least one row index (or None for all rows).")
    outside = np.flatnonzero((array < 0) | (array >= n_items))
    if len(outside):
        raise ValueError(
            f"query_indices must lie in 0..{n_items - 1} (rows of codes); entries at positions "
            f"{row_list(outside)} do not (e.g. {int(array[outside[0]])})."
        )
    return array.astype(np.int64)


def check_exclude(exclude, n_queries: int, n_db: int) -> np.ndarray | None:
    """Validate knn's per-query excluded database index; return it as int64 (or None)."""
    if exclude is None:
        return None
    array = to_numpy(exclude)
    if array.shape != (n_queries,) or array.dtype.kind not in "iu":
        raise ValueError(
            f"exclude must hold one integer database index per query, shape ({n_queries},); "
            f"got shape {array.shape}, dtype {array.dtype}."
        )
    outside = np.flatnonzero((array < 0) | (array >= n_db))
    if len(outside):
        raise ValueError(
            f"exclude must lie in 0..{n_db - 1}; queries {row_list(outside)} do not."
        )
    return array.astype(np.int64)


def rows_per_block(
    n_db: int, n_queries: int, bytes_per_entry: int = _DISTANCE_BYTES_PER_ENTRY
) -> int:
    """Query rows per block: within the memory budget, and blocks of equal size.

    Equal blocks avoid a small last block, whose new shape costs TensorFlow a kernel set-up.
    """
    fitting = max(1, MEMORY_BUDGET_BYTES // (n_db * bytes_per_entry))
    n_blocks = -(-max(n_queries, 1) // fitting)
    return -(-max(n_queries, 1) // n_blocks)


@contextlib.contextmanager
def full_float32_matmul() -> Iterator[None]:
    """Switch off TensorFloat-32 while inside (Ampere+ GPUs would round products to 10 bits)."""
    enabled = tf.config.experimental.tensor_float_32_execution_enabled()
    if enabled:
        tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        if enabled:
            tf.config.experimental.enable_tensor_float_32_execution(True)


class DistanceBlocks:
    """Squared distances from blocks of queries to a fixed database, on TensorFlow's device."""

    def __init__(self, database: np.ndarray):
        self.database = tf.constant(database)
        self.db_sq_norms = tf.reduce_sum(tf.square(self.database), axis=1)
        self.n_db = database.shape[0]

    def block(self, queries: tf.Tensor) -> tf.Tensor:
        """``(b, n_db)`` float32 ``|q|^2 + |x|^2 - 2 q.x``, *not yet clamped* at zero.

        Callers clamp where it is cheapest: :func:`clamp_at_zero` in numpy, or in the integer
        domain of the sort keys. -2q is exact, so the product needs no separate scaling pass.
        """
        query_sq_norms = tf.reduce_sum(tf.square(queries), axis=1)
        cross = tf.matmul(-2.0 * queries, self.database, transpose_b=True)
        return tf.nn.bias_add(cross, self.db_sq_norms) + query_sq_norms[:, None]

    def rows(self, row_indices: np.ndarray) -> tf.Tensor:
        """Distances from database rows ``row_indices`` (self-retrieval) to the whole database."""
        return self.block(tf.gather(self.database, row_indices))


def clamp_at_zero(distances: np.ndarray) -> np.ndarray:
    """Clamp expansion round-off (possibly -0.0) to +0.0, in place."""
    np.maximum(distances, 0.0, out=distances)
    distances += 0.0  # -0.0 + 0.0 is +0.0
    return distances


def progress(blocks: range, what: str, verbose: bool):
    """A progress bar over blocks when asked for (``verbose``) and there are several blocks."""
    return tqdm(blocks, desc=what, leave=False, disable=not verbose or len(blocks) < 2)


def _class_runs(query_classes: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) bounds of the runs of equal classes in a class-sorted block of queries."""
    starts = np.flatnonzero(np.diff(query_classes, prepend=-1))
    return list(zip(starts, np.append(starts[1:], len(query_classes))))


def _sorted_keys(
    keys: np.ndarray,
    distances: np.ndarray,
    queries: np.ndarray,
    query_classes: np.ndarray,
    class_ids: np.ndarray,
) -> None:
    """Fill ``keys`` (int64, shape of ``distances``) and sort each row by (distance, index).

    A non-negative float32's bit pattern orders like its value, so ``bits << s | index << 1 | tag``
    is a key whose order is the distance order with ties broken by index, and whose lowest bit
    (``tag``: 1 for an item of the query's class) survives the sort. Negative float32 (round-off
    below zero, or -0.0) have negative bit patterns: clamping the bits at 0 is clamping the
    distance at +0.0. The query's own key is -1, so it sorts first whatever its distance.
    """
    n_items = distances.shape[1]
    index_bits = np.arange(n_items, dtype=np.int64) << 1
    np.copyto(keys, distances.view(np.int32))
    np.maximum(keys, 0, out=keys)
    keys <<= int(n_items - 1).bit_length() + 1
    for first, last in _class_runs(query_classes):
        keys[first:last] |= index_bits | (class_ids == query_classes[first])
    keys[np.arange(len(queries)), queries] = -1
    keys.sort(axis=1)


def iter_positive_ranks(
    codes: np.ndarray, class_ids: np.ndarray, query_indices: np.ndarray, verbose: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(positions, ranks)`` for groups of same-class queries of a self-retrieval.

    ``positions`` index into ``query_indices``; ``ranks`` is ``(len(positions), T)`` int64, row
    ``i`` holding the increasing 1-based ranks of the ``T`` positives of that query in its list of
    the other ``n - 1`` rows, ordered by (distance, index). ``T`` may be 0.
    """
    n_items = len(codes)
    class_sizes = np.bincount(class_ids)
    order = np.argsort(class_ids[query_indices], kind="stable")
    distances = DistanceBlocks(codes)
    block_size = rows_per_block(n_items, len(order), _RANKING_BYTES_PER_ENTRY)
    # The byte of an int64 key that holds its lowest bit; the first 8 bytes are the query's key.
    tag_byte = 8 + (0 if sys.byteorder == "little" else 7)
    # One buffer for every block: a fresh (block, n) int64 array each time costs page faults.
    key_buffer = np.empty((block_size, n_items), dtype=np.int64)
    with full_float32_matmul():
        for start in progress(range(0, len(order), block_size), "ranking queries", verbose):
            positions = order[start : start + block_size]
            queries = query_indices[positions]
            query_classes = class_ids[queries]
            keys = key_buffer[: len(queries)]
            _sorted_keys(keys, distances.rows(queries).numpy(), queries, query_classes, class_ids)
            # Where the tagged keys sit in each sorted row (query dropped) are the ranks - 1.
            tagged = np.flatnonzero((keys.view(np.uint8)[:, tag_byte::8] & 1).view(bool))
            offset = 0
            for first, last in _class_runs(query_classes):
                n_positives = class_sizes[query_classes[first]] - 1
                count = (last - first) * n_positives
                flat = tagged[offset : offset + count].reshape(last - first, n_positives)
                row_starts = np.arange(first, last)[:, None] * (n_items - 1)
                yield positions[first:last], flat - row_starts + 1
                offset += count


def ap_from_ranks(ranks: np.ndarray) -> np.ndarray:
    """Non-interpolated AP of each row of increasing positive ranks; NaN for rows of none."""
    n_positives = ranks.shape[1]
    if n_positives == 0:
        return np.full(len(ranks), np.nan)
    return (np.arange(1, n_positives + 1) / ranks).mean(axis=1)


def warn_no_positives(n_missing: int, n_queries: int) -> None:
    """The one warning for queries whose class has no other member."""
    warnings.warn(
        f"{n_missing} of {n_queries} queries have no positive in the database (their class has "
        "no other item); their AP is NaN and they are left out of the mean.",
        RuntimeWarning,
        stacklevel=3,
    )


def binary_average_precision(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's AP of one binary column: items with equal scores enter the list together."""
    n_positives = int(is_positive.sum())
    if n_positives == 0:
        return np.nan
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], is_positive[order]
    # The last index of every run of equal scores is a threshold of the precision-recall curve.
    ends = np.append(np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1)
    true_positives = np.cumsum(hits, dtype=np.float64)[ends]
    precision = true_positives / (ends + 1)
    recall_gain = np.diff(true_positives, prepend=0.0) / n_positives
    return float(np.sum(recall_gain * precision))
