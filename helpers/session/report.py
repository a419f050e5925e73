"""How a notebook states a result: the figure, what it means, and its reference.

:func:`headline` formats one result line (collected by ``make run`` through :data:`MARKER`);
:func:`bootstrap_interval` gives the uncertainty of a mean to print next to it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from helpers import session

#: Start of every headline line; ``scripts/run_notebooks.py`` looks for it in the outputs.
MARKER = "▶ "


def headline(
    label: str,
    value: float | None,
    reference: float | None = None,
    fmt: str = ".3f",
    interval: tuple[float, float] | None = None,
) -> str:
    """One result line: label, value, reference, and the smoke-run tag in sample profile.

    Parameters
    ----------
    value : float or None
        NaN is shown as ``nan``, never hidden; None (no such figure this run) as ``n/a``.
    reference : float, optional
        The published reference figure (its source named in the notebook), when there is one.
    interval : (low, high), optional
        A 95% interval of ``value`` (e.g. from :func:`bootstrap_interval`).

    Examples
    --------
    >>> line = headline("test accuracy", 0.3412, reference=0.34)
    >>> line.startswith("▶ test accuracy: 0.341 (reference 0.340)")
    True
    >>> headline("gain over the reference (no pre-trained weights)", None).startswith(
    ...     "▶ gain over the reference (no pre-trained weights): n/a")
    True
    >>> headline("mAP", 0.8123, reference=0.81, interval=(0.78, 0.84)).startswith(
    ...     "▶ mAP: 0.812 [95% interval 0.780-0.840] (reference 0.810)")
    True
    """
    if value is None:
        shown = "n/a"
    else:
        value = float(value)
        shown = "nan" if math.isnan(value) else format(value, fmt)
    text = f"{MARKER}{label}: {shown}"
    if interval is not None:
        low, high = (float(bound) for bound in interval)
        text += f" [95% interval {format(low, fmt)}-{format(high, fmt)}]"
    if reference is not None:
        text += f" (reference {format(float(reference), fmt)})"
    return text + session.smoke_label()


def bootstrap_interval(
    values: ArrayLike, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval ``(low, high)`` of the mean of ``values`` (e.g. per-query APs).

    For per-query APs it says how far the mAP could move with another draw of queries; for the
    per-query differences of two models it is a paired interval. NaN values (queries with no
    positive) are left out, as the mAP leaves them out; ``seed`` makes it repeatable.

    Examples
    --------
    >>> low, high = bootstrap_interval([0.0, 1.0] * 50)
    >>> 0.39 < low < 0.5 < high < 0.61
    True
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"values must be one value per unit, shape (n,); got {values.shape}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), e.g. 0.95; got {confidence!r}.")
    if (
        isinstance(n_resamples, bool)
        or not isinstance(n_resamples, numbers.Integral)
        or n_resamples < 100
    ):
        raise ValueError(f"n_resamples must be an int >= 100, got {n_resamples!r}.")
    values = values[~np.isnan(values)]
    if len(values) < 2:
        raise ValueError(
            f"A bootstrap interval needs at least 2 non-NaN values, got "
            f"{len(values)}; pass one value per query."
        )
    if np.all(values == values[0]):  # scipy warns on a degenerate sample; the answer is exact
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=confidence,
        n_resamples=int(n_resamples),
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
