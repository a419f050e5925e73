"""The profile: ``COURSE_PROFILE`` is ``full`` (default), ``sample`` or ``grading``.

``sample`` runs the same steps on shrunken data and few epochs (``make run``, ``make test``); its
figures are smoke-run figures. ``grading`` is the sample profile cut further, to what the grader
needs (every cell still runs, on the fewest pictures and one epoch per training run): the grader
checks functions on its own inputs, not the run's figures. The notebook reads the profile and
passes sizes on; nothing below the session reads it.
"""

from __future__ import annotations

import os
from typing import TypeVar

PROFILES = ("full", "sample", "grading")
DEFAULT_SEED = 42

T = TypeVar("T")


def get_profile() -> str:
    """Return the active profile, ``'full'`` or ``'sample'``, from ``COURSE_PROFILE``.

    Raises
    ------
    ValueError
        If ``COURSE_PROFILE`` is set to anything else.
    """
    profile = os.environ.get("COURSE_PROFILE", "full").strip().lower() or "full"
    if profile not in PROFILES:
        raise ValueError(
            f"COURSE_PROFILE={os.environ['COURSE_PROFILE']!r} is not a profile of this course; "
            f"use one of {', '.join(PROFILES)} (e.g. `export COURSE_PROFILE=sample` for a quick "
            "smoke run, or unset it for the full assignment)."
        )
    return profile


def is_sample() -> bool:
    """True in a smoke run: the ``sample`` profile, or ``grading`` (smaller still)."""
    return get_profile() != "full"


def by_profile(full: T, sample: T, grading: T | None = None) -> T:
    """Pick a size by profile: ``EPOCHS = by_profile(full=100, sample=2)``.

    ``grading`` (when given) is the size in the grading profile; else it takes ``sample``'s.
    """
    profile = get_profile()
    if profile == "grading" and grading is not None:
        return grading
    return full if profile == "full" else sample


def epochs(full: int, sample: int, grading: int = 1) -> int:
    """Epochs for a training run: by profile, capped by ``$COURSE_MAX_EPOCHS`` when it is set.

    The grading profile trains one epoch unless ``grading`` says otherwise.

    The cap lets an instructor run the full data set with fewer epochs than the assignment's
    (e.g. on a CPU) without editing the notebook; the notebook prints the epochs it used.

    Examples
    --------
    >>> import os
    >>> saved = dict(os.environ)
    >>> os.environ.update(COURSE_PROFILE="full", COURSE_MAX_EPOCHS="5")
    >>> epochs(full=100, sample=2)
    5
    >>> os.environ.clear(); os.environ.update(saved)
    """
    chosen = by_profile(full=full, sample=sample, grading=min(grading, sample))
    cap = os.environ.get("COURSE_MAX_EPOCHS")
    if cap:
        if not cap.isdigit() or int(cap) < 1:
            raise ValueError(f"COURSE_MAX_EPOCHS={cap!r} must be a whole number of epochs >= 1.")
        chosen = min(chosen, int(cap))
    return chosen


def smoke_label() -> str:
    """A tag for printed figures: empty in ``full``, a warning in ``sample``."""
    return f" [{get_profile()} profile: smoke-run figure, not a result]" if is_sample() else ""
