"""Input checks of :mod:`helpers.retrieval`: codes, labels, query and exclusion indices.

Each returns the input in the form the ranking needs, or raises a ValueError saying what,
where (rows, positions) and what to do.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: Squared norms above this would overflow float32 in ``|q|^2 + |x|^2 - 2 q.x``.
_MAX_SQ_NORM = float(np.finfo(np.float32).max) / 8
#: Raw codes whose largest squared norm is below this have float32 distances in (or near) the
#: subnormal range, where rounding is no longer relative: refused, with advice, not ranked.
_MIN_SQ_NORM = 1e-30
#: Rows are indexed by int32 in ``tf.math.top_k`` and by 31 bits of the int64 sort keys.
MAX_ROWS = 2**31 - 1
#: Values read at a time when checking codes, so a float64 copy of all codes is never made.
_CHECK_CHUNK_VALUES = 2**21


def to_numpy(values) -> np.ndarray:
    """A numpy view of an array, list or (eager) tensor."""
    if isinstance(values, (tf.Tensor, tf.Variable)):
        return values.numpy()
    return np.asarray(values)


def row_list(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def check_codes(codes, name: str = "codes", normalize: bool = False) -> np.ndarray:
    """Validate an ``(n, d)`` code matrix; return C-contiguous float32, L2-normalised if asked.

    Raises
    ------
    ValueError
        Naming the rows: not 2-D, empty, 2**31 rows or more, NaN or infinity, zero rows with
        ``normalize``, raw codes whose float32 distances would overflow or underflow.
    """
    # Checks and normalisation in float64, a block of rows at a time, before the float32 cast:
    # finite float64 codes beyond float32's range (or below its normal range) are normalised
    # correctly, each row divided by its largest magnitude first so its squared norm can
    # neither overflow nor underflow.
    array = to_numpy(codes)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_items, n_features); got shape {array.shape}. "
            "Flatten each item's code first, e.g. codes.reshape(len(codes), -1)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name} is empty (shape {array.shape}); pass at least one row and column."
        )
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
            f"rows {row_list(rows)}. Fix or drop those items (a diverged model often yields "
            "NaN codes)."
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
        kind = "NaN" if array.dtype.kind in "fc" else "NaN or None"
        raise ValueError(
            f"{name} hold {kind} at rows {row_list(rows)} ({len(rows)} missing value(s)); every "
            "item needs a class. Drop those items, or give them a label."
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
        raise ValueError(
            "query_indices is empty; pass at least one row index (or None for all rows)."
        )
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
        raise ValueError(f"exclude must lie in 0..{n_db - 1}; queries {row_list(outside)} do not.")
    return array.astype(np.int64)
