"""Private arithmetic behind :mod:`helpers.retrieval`: distance blocks, sort keys, ranks.

The public functions validate their inputs once (:mod:`helpers.retrieval.checks`), then call
these. Distances are computed by TensorFlow in query blocks sized from a memory budget.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.session.messages import warn

#: Working memory a block of queries may use (distance block, its sorted copy, TF temporaries),
#: on top of the two float32 copies of the codes (the checked one and TensorFlow's).
MEMORY_BUDGET_BYTES = 256 * 2**20
#: Bytes per (query, database item) entry at the peak of a block, *measured* (peak resident
#: memory growth against block size, N = 12,000, d = 256, budgets 32-256 MiB): ranking 31.6
#: (int64 keys, TensorFlow's float32 product, bias and sum, their numpy copy, the tags), knn
#: 36-40 (the same TensorFlow temporaries, plus the clamp and the negation for top_k).
_DISTANCE_BYTES_PER_ENTRY = 40
_RANKING_BYTES_PER_ENTRY = 32
#: Up to this many features, distances use the difference form ``sum_j (q_j - x_j)^2`` (exact
#: zero for duplicates, error relative to the distance) instead of the expansion (error relative
#: to the norms), at a measured cost of about 1-2x the expansion's for d <= 2.
DIFFERENCE_FORM_MAX_FEATURES = 2


def rows_per_block(
    n_db: int, n_queries: int, bytes_per_entry: int = _DISTANCE_BYTES_PER_ENTRY
) -> int:
    """Query rows per block: within the memory budget, and blocks of equal size."""
    # equal blocks: a small last block's new shape would cost TensorFlow a kernel set-up
    fitting = max(1, MEMORY_BUDGET_BYTES // (n_db * bytes_per_entry))
    n_blocks = -(-max(n_queries, 1) // fitting)
    return -(-max(n_queries, 1) // n_blocks)


_tf32_lock = threading.Lock()
_tf32_users = 0
_tf32_was_enabled = False


@functools.lru_cache(maxsize=1)
def _gpu_visible() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def full_float32_matmul() -> Iterator[None]:
    """Run the body with TensorFloat-32 off (Ampere+ GPUs would round products to 10 bits)."""
    # TensorFlow has no per-op precision: the switch is process-wide. Touched only when a GPU
    # is visible, under a lock with a count of users, so concurrent or nested calls switch it
    # off once and the last one out restores the user's setting; meanwhile other float32
    # matmuls of the process run in full float32 too (slower, never less exact).
    global _tf32_users, _tf32_was_enabled
    if not _gpu_visible():
        yield
        return
    with _tf32_lock:
        if _tf32_users == 0:
            _tf32_was_enabled = tf.config.experimental.tensor_float_32_execution_enabled()
            if _tf32_was_enabled:
                tf.config.experimental.enable_tensor_float_32_execution(False)
        _tf32_users += 1
    try:
        yield
    finally:
        with _tf32_lock:
            _tf32_users -= 1
            if _tf32_users == 0 and _tf32_was_enabled:
                tf.config.experimental.enable_tensor_float_32_execution(True)


# Rounding of the distances, and what it does to the ranking.
#
# What is exact, and what is rounded (u = 2**-24, float32's unit roundoff):
#
# * The ranking is exactly the (distance, index) order of the float32 distances computed here:
#   bit-equal distances are ordered by index, as a stable argsort would. Integer codes whose
#   squares and sums stay below 2**24 have exact float32 distances, hence exact rankings.
# * Those distances are rounded. For d > 2 features, ``|q|^2 + |x|^2 - 2 q.x`` errs by at most
#   about ``(d + 2) u (|q| + |x|)^2`` (to first order, whatever the summation order; measured:
#   under 10 u (|q|^2 + |x|^2)), an error relative to the *norms*: tiny for unit codes (< 1e-6),
#   large against the distance for raw codes far from the origin. For d <= 2 the difference form
#   ``sum_j (q_j - x_j)^2`` errs by at most about ``(d + 2) u`` *times the distance* (bit-equal to
#   numpy's float32 ``((q - x) ** 2).sum()``). Inputs are rounded to float32 first.
# * Hence two items whose true distances are within that error may swap, so a per-query AP can
#   differ from a float64 ranking's (measured at N = 5,000: unit codes d = 256, up to 5e-5 per
#   query and 2e-8 on the mAP; d = 2,048, 3e-4 and 1.4e-7; raw codes d = 256 about 160 from the
#   origin, 8e-5 and 4e-8; raw d = 1 codes, 3e-3 per query by the expansion, 3e-5 by the
#   difference form, the rest being the rounding of float64 inputs to float32).
class DistanceBlocks:
    """Squared distances from blocks of queries to a fixed database, on TensorFlow's device.

    For d > DIFFERENCE_FORM_MAX_FEATURES the expansion ``|q|^2 + |x|^2 - 2 q.x`` (one GEMM),
    else the difference form ``sum_j (q_j - x_j)^2``, one column at a time.
    """

    def __init__(self, database: np.ndarray):
        # The expansion's float32 error is relative to the norms |q|^2 + |x|^2, not to the
        # distance; for small d a GEMM is no faster and that error matters most (raw 1-D
        # codes), so the difference form (no (b, n, d) tensor).
        self.n_db, self.n_features = database.shape
        self.difference_form = self.n_features <= DIFFERENCE_FORM_MAX_FEATURES
        if self.difference_form:
            self.database_columns = tf.constant(np.ascontiguousarray(database.T))
        else:
            self.database = tf.constant(database)
            self.db_sq_norms = tf.reduce_sum(tf.square(self.database), axis=1)

    def block(self, queries) -> tf.Tensor:
        """``(b, n_db)`` float32 squared distances; the expansion's not yet clamped at 0."""
        # Callers clamp where cheapest: clamp_at_zero in numpy, or in the sort keys' integer
        # domain. -2q is exact, so the product needs no separate scaling pass.
        queries = tf.convert_to_tensor(queries)
        if self.difference_form:
            total = tf.square(queries[:, 0, None] - self.database_columns[0][None, :])
            for j in range(1, self.n_features):
                total += tf.square(queries[:, j, None] - self.database_columns[j][None, :])
            return total
        query_sq_norms = tf.reduce_sum(tf.square(queries), axis=1)
        cross = tf.matmul(-2.0 * queries, self.database, transpose_b=True)
        return tf.nn.bias_add(cross, self.db_sq_norms) + query_sq_norms[:, None]

    def rows(self, row_indices: np.ndarray) -> tf.Tensor:
        """Distances from database rows ``row_indices`` (self-retrieval) to the whole database."""
        if self.difference_form:
            return self.block(tf.transpose(tf.gather(self.database_columns, row_indices, axis=1)))
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
    """Fill ``keys`` (int64, shape of ``distances``) and sort each row by (distance, index)."""
    # AP needs only the rank of every positive, not an argsort. A non-negative float32's bits
    # order like its value, so bits << s | index << 1 | tag (tag 1: the query's class) orders
    # by distance, then index, and numpy's SIMD sort of these int64 keys is several times
    # faster than an argsort. Keys are unique, so ties (common in float32: ~500 repeated
    # values in a row of 50,000 distances of random 256-d unit codes) go by index with no
    # extra pass, and the positives' ranks are where the lowest bit is set. Negative float32
    # (round-off, -0.0) have negative bits: clamping the bits at 0 clamps the distance at
    # +0.0. The query's own key is -1, so it sorts first whatever its distance.
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
    warn(
        f"{n_missing} of {n_queries} queries have no positive in the database (their class has "
        "no other item); their AP is NaN and they are left out of the mean.",
        RuntimeWarning,
    )
