"""Byte-for-byte reproducible archive writing: JPEG encoding, zip and tar with fixed times."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np

# Fixed timestamps make two builds of a sample identical, so tests can compare checksums.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_TAR_TIME = 1577836800


def jpeg_bytes(image: np.ndarray, quality: int = 92) -> bytes:
    """Encode an (h, w, 3) or (h, w) uint8 image as JPEG.

    Examples
    --------
    >>> jpeg_bytes(np.zeros((8, 8, 3), np.uint8))[:2]
    b'\\xff\\xd8'
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class ArchiveWriter:
    """Write members into a new zip or tar (chosen by the file name), deterministically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.zip"
    >>> with ArchiveWriter(path) as archive:
    ...     archive.add("top/x.txt", b"x")
    >>> zipfile.ZipFile(path).namelist()
    ['top/x.txt']
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".zip":
            self._zip = zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED)
            self._tar = None
        else:
            self._zip = None
            self._tar = tarfile.open(self.path, "w")

    def add(self, name: str, data: bytes) -> None:
        """Add one file member named ``name`` (with '/' separators)."""
        if self._zip is not None:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            self._zip.writestr(info, data)
        else:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _TAR_TIME, 0o644
            self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        """Finish the archive."""
        (self._zip or self._tar).close()

    def __enter__(self) -> "ArchiveWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
