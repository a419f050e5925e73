"""How a notebook states a result: the figure, what it means, and its reference.

Every headline figure of a notebook goes through :func:`headline`, so a reader sees
"mAP of layer 6 codes: 0.321 (reference 0.323)" rather than a bare number, a sample-profile run
labels itself as a smoke run, and ``make run`` can collect the figures (lines starting with
:data:`MARKER`) into its summary.
"""

from __future__ import annotations

import math

from helpers import config

#: Start of every headline line; ``scripts/run_notebooks.py`` looks for it in the outputs.
MARKER = "▶ "


def headline(label: str, value: float, reference: float | None = None, fmt: str = ".3f") -> str:
    """Format one result line: label, value, reference, and the smoke-run tag in sample profile.

    Parameters
    ----------
    label : str
        What the figure is, e.g. ``"mAP of layer 6 codes (OOD set)"``.
    value : float
        The figure this run measured (NaN is shown as ``nan``, never hidden).
    reference : float, optional
        The published reference figure from SPEC.md, when there is one.
    fmt : str
        Format specification of both numbers.

    Returns
    -------
    str
        A line starting with :data:`MARKER`.

    Examples
    --------
    >>> line = headline("test accuracy", 0.3412, reference=0.34)
    >>> line.startswith("▶ test accuracy: 0.341 (reference 0.340)")
    True
    """
    value = float(value)
    text = f"{MARKER}{label}: {'nan' if math.isnan(value) else format(value, fmt)}"
    if reference is not None:
        text += f" (reference {format(float(reference), fmt)})"
    return text + config.smoke_label()
