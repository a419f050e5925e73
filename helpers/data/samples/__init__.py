"""Generated sample archives: each data set in its official layout, with learnable synthetic images.

Used only in the sample profile when no real data is found (see :func:`helpers.data.sources.fetch`),
so the real parsing code runs offline. Every builder is deterministic (fixed seeds, fixed archive
timestamps) and takes a few seconds at most.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers.data.samples import layouts, voc

BUILDERS: dict[str, Callable[[Path], list[Path]]] = {
    "tiny_imagenet": layouts.tiny_imagenet,
    "fashion_mnist": layouts.fashion_mnist,
    "car_vs_other": layouts.car_vs_other,
    "caltech256": layouts.caltech256,
    "urban_tribes": layouts.urban_tribes,
    "voc2007": voc.voc2007,
}


def write_sample_archives(name: str, folder: str | Path) -> list[Path]:
    """Write the generated sample of data set ``name`` into ``folder`` under the official names.

    Parameters
    ----------
    name : str
        A registry name (``'tiny_imagenet'``, ``'voc2007'``, ...).
    folder : str or Path
        Where to write the archive(s); created if missing.

    Returns
    -------
    list of Path
        The archives written (two tars for VOC, four ``.gz`` files for FashionMNIST).

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in write_sample_archives("urban_tribes", tempfile.mkdtemp())]
    ['pictures_all.zip']
    """
    if name not in BUILDERS:
        raise ValueError(f"No generated sample for {name!r}; samples exist for {', '.join(BUILDERS)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return BUILDERS[name](folder)
