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
import functools
import sys
import threading
import warnings
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

#: Working memory a block of queries may use (distance block, its sorted copy, TF temporaries),
#: on top of the two float32 copies of the codes (the checked one and TensorFlow's).
MEMORY_BUDGET_BYTES = 256 * 2**20
#: Bytes per (query, database item) entry at the peak of a block, *measured* (peak resident
#: memory growth against block size, N = 12,000, d = 256, budgets 32-256 MiB): ranking 31.6
#: (int64 keys, TensorFlow's float32 product, bias and sum, their numpy copy, the tags), knn
#: 36-40 (the same TensorFlow temporaries, plus the clamp and the negation for top_k).
_DISTANCE_BYTES_PER_ENTRY = 40
_RANKING_BYTES_PER_ENTRY = 32
#: Squared norms above this would overflow float32 in ``|q|^2 + |x|^2 - 2 q.x``.
_MAX_SQ_NORM = float(np.finfo(np.float32).max) / 8
#: Raw codes whose largest squared norm is below this have float32 distances in (or near) the
#: subnormal range, where rounding is no longer relative: refused, with advice, not ranked.
_MIN_SQ_NORM = 1e-30
#: Rows are indexed by int32 in ``tf.math.top_k`` and by 31 bits of the int64 sort keys.
MAX_ROWS = 2**31 - 1
#: Values read at a time when checking codes, so a float64 copy of all codes is never made.
_CHECK_CHUNK_VALUES = 2**21
#: Up to this many features, distances use the difference form ``sum_j (q_j - x_j)^2`` (exact
#: zero for duplicates, error relative to the distance) instead of the expansion (error relative
#: to the norms), at a measured cost of about 1-2x the expansion's for d <= 2.
DIFFERENCE_FORM_MAX_FEATURES = 2


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

    Every check and the normalisation are done in float64, a block of rows at a time, *before*
    the cast to float32: finite float64 codes beyond float32's range, or below its normal range,
    are normalised correctly (each row is first divided by its largest magnitude, so its squared
    norm can neither overflow nor underflow). Raises a ValueError naming the problem and the
    rows: not 2-D, empty, 2**31 rows or more, NaN or infinite values, zero rows when
    ``normalize`` is set, raw codes whose float32 distances would overflow or underflow.
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
    if array.shape[0] > MAX_ROWS:
        raise ValueError(
            f"{name} has {array.shape[0]:,} rows; at most 2**31 - 1 = {MAX_ROWS:,} can be ranked "
            "(row indices are 32-bit in the ranking). Split the database, or sample the queries "
            "and rank them against a smaller database."
        )
    in_place = not normalize and array.dtype == np.float32 and array.flags.c_contiguous
    result = array if in_place else np.empty(array.shape, dtype=np.float32)
    chunk_rows = max(1, _CHECK_CHUNK_VALUES // array.shape[1])
    bad_rows, zero_rows, sq_norms = [], [], np.empty(len(array))
    n_bad = 0
    for start in range(0, len(array), chunk_rows):
        wide = np.asarray(array[start : start + chunk_rows], dtype=np.float64)
        finite = np.isfinite(wide)
        if not finite.all():
            n_bad += int((~finite).sum())
            bad_rows.append(start + np.flatnonzero(~finite.all(axis=1)))
            continue
        if bad_rows:
            continue  # only collecting the rows to report
        # Divided by its largest magnitude, a row's squared norm lies in [1, d]: no overflow for
        # finite float64 extremes, no underflow for codes below float32's (or float64's) range.
        scale = np.abs(wide).max(axis=1)
        is_zero = scale == 0
        scale[is_zero] = 1.0
        scaled = wide / scale[:, None]
        scaled_sq = np.einsum("ij,ij->i", scaled, scaled)
        if normalize:
            zero_rows.append(start + np.flatnonzero(is_zero))
            scaled /= np.sqrt(np.where(is_zero, 1.0, scaled_sq))[:, None]
            result[start : start + len(wide)] = scaled
        else:
            with np.errstate(over="ignore", under="ignore"):
                sq_norms[start : start + len(wide)] = scale**2 * scaled_sq
            if not in_place:
                with np.errstate(over="ignore"):  # values beyond float32 are refused below
                    result[start : start + len(wide)] = wide
    if n_bad:
        rows = np.concatenate(bad_rows)
        raise ValueError(
            f"{name} holds {n_bad} NaN or infinite value(s) in {len(rows)} row(s): "
            f"rows {row_list(rows)}. Fix or drop those items (a diverged model often yields NaN codes)."
        )
    if normalize:
        zero = np.concatenate(zero_rows)
        if len(zero):
            raise ValueError(
                f"{name} has {len(zero)} all-zero row(s) that cannot be L2-normalised: rows "
                f"{row_list(zero)}. Drop them, or pass normalize=False to rank raw codes."
            )
        return result
    if sq_norms.max() > _MAX_SQ_NORM:
        rows = np.flatnonzero(sq_norms > _MAX_SQ_NORM)
        raise ValueError(
            f"{name} rows {row_list(rows)} are too large for float32 distances (squared norm up to "
            f"{sq_norms.max():.3g}, limit {_MAX_SQ_NORM:.3g}): rescale the codes (e.g. divide by "
            f"{np.sqrt(sq_norms.max()):.3g}) or pass normalize=True."
        )
    if 0 < sq_norms.max() < _MIN_SQ_NORM:
        raise ValueError(
            f"{name} are too small for float32 distances (largest squared norm "
            f"{sq_norms.max():.3g} < {_MIN_SQ_NORM:g}; their distances would be rounded in "
            f"float32's subnormal range): rescale the codes (e.g. divide by "
            f"{np.sqrt(sq_norms.max()):.3g}) or pass normalize=True."
        )
    return result


def _missing(array: np.ndarray) -> np.ndarray:
    """Boolean mask of the missing entries (NaN, None, NaT) of a label array."""
    if array.dtype.kind in "fc":
        return np.isnan(array)
    if array.dtype.kind in "mM":
        return np.isnat(array)
    if array.dtype.kind == "O":
        return np.frompyfunc(lambda v: v is None or v != v, 1, 1)(array).astype(bool)
    return np.zeros(array.shape, dtype=bool)


def refuse_missing_labels(array: np.ndarray, name: str = "labels") -> None:
    """Raise a ValueError if any label is NaN/None: a missing class is no class at all.

    (NaN equals nothing, itself included, so it would be a class of one in ``labels == label``
    but one class of all NaN items in ``np.unique``: one answer or the other would be wrong.)
    """
    missing = _missing(array)
    if missing.any():
        rows = np.flatnonzero(missing.ravel())
        raise ValueError(
            f"{name} holds {len(rows)} missing value(s) (NaN or None) at positions "
            f"{row_list(rows)}; every item needs a class. Drop those items, or give them a label."
        )


def check_labels(labels, n_items: int, name: str = "labels") -> np.ndarray:
    """Validate one label per item; return integer class ids 0..n_classes-1."""
    array = to_numpy(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class per item); got shape {array.shape}.")
    if len(array) != n_items:
        raise ValueError(
            f"{name} has {len(array)} entries but codes has {n_items} rows; pass one label per row."
        )
    refuse_missing_labels(array, name)
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


_tf32_lock = threading.Lock()
_tf32_users = 0
_tf32_was_enabled = False


@functools.lru_cache(maxsize=1)
def _gpu_visible() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def full_float32_matmul() -> Iterator[None]:
    """Run the body with TensorFloat-32 off (Ampere+ GPUs would round products to 10 bits).

    TensorFlow has no per-op precision: the switch is process-wide. It is touched only when a
    GPU is visible (on CPU, TF32 does not exist and nothing is changed), and under a lock with a
    count of the computations inside, so that concurrent or nested calls from several threads
    switch it off once and the last one out restores the user's setting. While any is inside,
    other float32 matmuls of the process run in full float32 too: slower, never less exact.
    """
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


class DistanceBlocks:
    """Squared distances from blocks of queries to a fixed database, on TensorFlow's device.

    For d > DIFFERENCE_FORM_MAX_FEATURES, the expansion ``|q|^2 + |x|^2 - 2 q.x`` (one GEMM);
    its float32 error is relative to the norms, ``|q|^2 + |x|^2``, not to the distance. For
    smaller d, where a GEMM is no faster and that error matters most (raw 1-D codes), the
    difference form ``sum_j (q_j - x_j)^2``, one column at a time (no ``(b, n, d)`` tensor).
    """

    def __init__(self, database: np.ndarray):
        self.n_db, self.n_features = database.shape
        self.difference_form = self.n_features <= DIFFERENCE_FORM_MAX_FEATURES
        if self.difference_form:
            self.database_columns = tf.constant(np.ascontiguousarray(database.T))
        else:
            self.database = tf.constant(database)
            self.db_sq_norms = tf.reduce_sum(tf.square(self.database), axis=1)

    def block(self, queries) -> tf.Tensor:
        """``(b, n_db)`` float32 squared distances; the expansion's are *not yet clamped* at zero.

        Callers clamp where it is cheapest: :func:`clamp_at_zero` in numpy, or in the integer
        domain of the sort keys. -2q is exact, so the product needs no separate scaling pass.
        """
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
