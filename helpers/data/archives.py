"""Checksums, streamed downloads and one-time unpacking of data archives.

The fetching policy (which place to try first) lives in :mod:`helpers.data.sources`; this
module only does the file work, and does it so that a half-written file is never mistaken for
a complete one: downloads go to a ``.part`` file renamed into place after verification, and an
unpacked folder counts as present only once its marker file, written last, exists.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

#: Seconds a download may wait for the server before it counts as failed (``COURSE_DOWNLOAD_TIMEOUT``).
DEFAULT_TIMEOUT = 15.0
MARKER_NAME = ".unpacked.json"
_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An archive that is truncated, corrupt or not what the registry says it is."""


@dataclass(frozen=True)
class Archive:
    """One file of a data set as its publisher distributes it.

    ``size`` (bytes), ``md5`` and ``sha256`` are None where no official value is known; a
    file is then checked only by reading it through (a truncated archive still fails).
    """

    filename: str
    url: str | None
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : Path
        The file.
    algorithm : str
        Any name :func:`hashlib.new` accepts (``'sha256'``, ``'md5'``).

    Returns
    -------
    str
        Lower-case hex digest.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "abc.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> file_digest(path, "md5")
    '900150983cd24fb0d6963f7d28e17f72'
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, archive: Archive, sha256: str | None = None) -> None:
    """Check a file's size and checksums against what is known, and that it reads through.

    Parameters
    ----------
    path : Path
        The file to check.
    archive : Archive
        Registry entry with the expected size / md5 / sha256 (None entries are skipped).
    sha256 : str, optional
        An expected SHA-256 from elsewhere (a mirror's ``SHA256SUMS``); it replaces
        ``archive.sha256`` and disables the md5 / size checks, since a mirror may hold a subset.

    Raises
    ------
    ArchiveError
        On a size or checksum mismatch, or an archive that cannot be read to its end.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "abc.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> verify_file(path, Archive("abc.txt", None, size=3))
    >>> verify_file(path, Archive("abc.txt", None, size=4))
    Traceback (most recent call last):
    ...
    helpers.data.archives.ArchiveError: abc.txt has 3 bytes, expected 4 ...
    """
    expected = {"sha256": sha256} if sha256 else {"sha256": archive.sha256, "md5": archive.md5}
    if not sha256 and archive.size is not None and path.stat().st_size != archive.size:
        raise ArchiveError(
            f"{path.name} has {path.stat().st_size:,} bytes, expected {archive.size:,} "
            "(a partial or different file)."
        )
    for algorithm, value in expected.items():
        if value and file_digest(path, algorithm) != value.lower():
            raise ArchiveError(f"{path.name}: {algorithm} checksum mismatch (expected {value}).")
    if not any(expected.values()):
        _read_through(path)


def _read_through(path: Path) -> None:
    """Read every member of an archive, so a truncated one fails before it is used."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise ArchiveError(f"{path.name}: member {bad} is corrupt.")
        elif path.name.endswith(".gz") and not path.name.endswith(".tar.gz"):
            with gzip.open(path, "rb") as handle:
                while handle.read(_CHUNK):
                    pass
        elif _is_tar_name(path.name):
            with tarfile.open(path) as archive:
                for member in archive:
                    if member.isfile():
                        archive.extractfile(member).read()
        elif path.suffix == ".zip":
            raise ArchiveError(f"{path.name} is not a readable zip file (truncated?).")
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as error:
        raise ArchiveError(f"{path.name} cannot be read to its end ({error}).") from error


def _is_tar_name(name: str) -> bool:
    return name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def read_sha256sums(folder: Path) -> dict[str, str]:
    """The ``SHA256SUMS`` of a mirror folder as ``{file name: digest}`` (empty when absent).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "SHA256SUMS").write_text("ab12  a.zip\\ncd34 *b.tar\\n")
    >>> read_sha256sums(folder)
    {'a.zip': 'ab12', 'b.tar': 'cd34'}
    """
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    sums = {}
    for line in sums_file.read_text().splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


def download_timeout() -> float:
    """Seconds to wait for a server: ``$COURSE_DOWNLOAD_TIMEOUT`` or 15."""
    value = os.environ.get("COURSE_DOWNLOAD_TIMEOUT", "")
    try:
        return float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError(f"COURSE_DOWNLOAD_TIMEOUT={value!r} is not a number of seconds.") from None


def download(archive: Archive, destination: Path) -> Path:
    """Stream ``archive.url`` to ``destination`` with a progress bar, verify, then move into place.

    The bytes go to ``<destination>.part``; only a verified file is renamed to ``destination``
    (``os.replace``, atomic on one file system), so an interrupted download leaves no file
    that looks complete.

    Raises
    ------
    OSError
        When the URL is unknown or the server cannot be reached (the message says why).
    ArchiveError
        When the downloaded bytes fail verification (the partial file is removed).
    """
    if not archive.url:
        raise OSError(f"no official download URL is known for {archive.filename}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(archive.url, timeout=download_timeout()) as response:
            total = int(response.headers.get("Content-Length") or 0) or archive.size
            with open(partial, "wb") as handle, tqdm(
                total=total, unit="B", unit_scale=True, desc=archive.filename
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    handle.write(chunk)
                    bar.update(len(chunk))
        verify_file(partial, archive)
    except (urllib.error.URLError, OSError, ArchiveError) as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, ArchiveError):
            raise
        reason = getattr(error, "reason", error)
        raise OSError(f"download of {archive.url} failed ({reason})") from error
    os.replace(partial, destination)
    return destination


def read_marker(folder: Path) -> dict | None:
    """The marker an unpacking left in ``folder``, or None when unpacking never finished."""
    marker = folder / MARKER_NAME
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_marker(folder: Path, record: dict) -> None:
    """Write the marker last, atomically, so its presence means the folder is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / (MARKER_NAME + ".tmp")
    temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(temporary, folder / MARKER_NAME)


def unpack(paths: list[Path], folder: Path, root: str, *, packed: bool = True) -> Path:
    """Unpack archives (or copy plain files) into ``folder`` and return ``folder / root``.

    Everything is first extracted into a temporary folder beside ``folder`` and moved into
    place afterwards, so a failure part-way leaves the old state untouched.

    Parameters
    ----------
    paths : list of Path
        Archives (zip / tar / tar.gz) or, with ``packed=False``, files to copy as they are.
    folder : Path
        The data set's cache folder.
    root : str
        The folder the archives create (e.g. ``'tiny-imagenet-200'``); with ``packed=False``
        the files are copied into ``folder / root``.

    Raises
    ------
    ArchiveError
        If an archive is unreadable or does not create ``root``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=folder))
    try:
        for path in paths:
            if not packed:
                (staging / root).mkdir(exist_ok=True)
                shutil.copyfile(path, staging / root / path.name)
            else:
                _extract(path, staging)
        if not (staging / root).is_dir():
            found = sorted(entry.name for entry in staging.iterdir())
            raise ArchiveError(f"{[p.name for p in paths]} do not contain {root}/ (found {found}).")
        target = folder / root
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / root, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / root


def _extract(path: Path, staging: Path) -> None:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(staging)
        elif _is_tar_name(path.name) or tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                archive.extractall(staging, filter="data")
        else:
            raise ArchiveError(f"{path.name} is neither a zip nor a tar archive (truncated?).")
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as error:
        raise ArchiveError(f"{path.name} cannot be unpacked ({error}); it is truncated or corrupt.") from error
