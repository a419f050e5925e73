"""Generated sample archives: each data set in its official layout, with learnable synthetic images.

:func:`write_sample_archives`; used in the sample profile when no real data is found, so the
real parsing code runs offline. Builders are deterministic and take seconds.
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
    """Write the generated sample of data set ``name`` into ``folder``; return the archives written.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in write_sample_archives("urban_tribes", tempfile.mkdtemp())]
    ['pictures_all.zip']
    """
    if name not in BUILDERS:
        raise ValueError(
            f"No generated sample for {name!r}; samples exist for {', '.join(BUILDERS)}."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return BUILDERS[name](folder)
