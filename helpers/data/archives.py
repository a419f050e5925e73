"""Checksums, checksum lists and bounded, verified downloads of data archives.

``Archive`` (a registry entry), ``file_digest``, ``verify_file``, ``read_sha256sums`` and
``download``; unpacking (:mod:`helpers.data.unpacking`) is re-exported. Which place to fetch
from first is decided in :mod:`helpers.data.sources`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from helpers.data.errors import (  # re-exported: callers catch archives.ArchiveError
    ArchiveError,
    DiskFullError,
    UnsafeArchiveError,
    disk_full_error,
    is_disk_full,
)
from helpers.data.unpacking import MARKER_NAME, read_marker, unpack, write_marker
from helpers.session.files import atomic_write

#: Seconds a download may wait for the server before it counts as failed
#: (``COURSE_DOWNLOAD_TIMEOUT``).
DEFAULT_TIMEOUT = 15.0
#: Seconds one download from one URL may take in all (``COURSE_DOWNLOAD_DEADLINE``): a server
#: trickling a byte now and then never trips the per-read timeout, but trips this.
DEFAULT_DEADLINE = 3600.0
_CHUNK = 1 << 20
_USER_AGENT = "neural-codes-course data loader (Python urllib)"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Archive:
    """One file of a data set as its publisher distributes it.

    ``size`` (bytes), ``md5`` and ``sha256`` are None where unknown (the file is then only read
    through). ``mirrors`` are further URLs of the same file, tried after ``url``.
    ``max_unpacked`` bounds the bytes it may unpack to (see
    :func:`helpers.data.unpacking.unpack_limit`).
    """

    filename: str
    url: str | None
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    mirrors: tuple[str, ...] = ()
    max_unpacked: int | None = None

    @property
    def urls(self) -> tuple[str, ...]:
        """Every known URL of the file, official first."""
        return tuple(url for url in (self.url, *self.mirrors) if url)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Lower-case hex digest of a file (``algorithm``: any name :func:`hashlib.new` accepts).

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

    ``sha256`` (e.g. from a mirror's ``SHA256SUMS``) replaces ``archive.sha256`` and disables the
    md5 and size checks, since a mirror may hold a subset.

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
    helpers.data.errors.ArchiveError: abc.txt has 3 bytes, expected 4 ...
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
    except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as error:
        raise ArchiveError(f"{path.name} cannot be read to its end ({error}).") from error


def _is_tar_name(name: str) -> bool:
    return name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def read_sha256sums(folder: Path) -> dict[str, str]:
    """The ``SHA256SUMS`` of a mirror folder as ``{file name: digest}`` (empty when absent).

    Reads GNU (``<hex>  name``, ``<hex> *name``) and BSD (``SHA256 (name) = <hex>``) lines, a
    leading ``./``, a byte-order mark, blank lines and ``#`` comments.

    Raises
    ------
    ArchiveError
        If the file is not text or holds a line of neither format (quoted).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> sums = "ab" * 32 + "  ./a.zip\\nSHA256 (b.tar) = " + "CD" * 32
    >>> _ = (folder / "SHA256SUMS").write_text(sums)
    >>> {name: digest[:4] for name, digest in read_sha256sums(folder).items()}
    {'a.zip': 'abab', 'b.tar': 'cdcd'}
    """
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    remedy = f"Regenerate it in {folder} with: sha256sum * > SHA256SUMS"
    try:
        text = sums_file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArchiveError(f"{sums_file} is not a text checksum list. {remedy}") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        bsd = re.fullmatch(r"SHA256 ?\((.+)\) ?= ?([0-9a-fA-F]{64})", line)
        if bsd:
            name, digest = bsd.group(1), bsd.group(2)
        else:
            parts = line.split(None, 1)
            if len(parts) != 2 or not _HEX64.fullmatch(parts[0]):
                raise ArchiveError(
                    f"{sums_file}, line {number}: {line[:80]!r} is not "
                    f"'<sha256>  <name>' nor 'SHA256 (<name>) = <sha256>'. {remedy}"
                )
            digest, name = parts[0], parts[1].strip()
            name = name[1:] if name.startswith("*") else name
        while name.startswith("./"):
            name = name[2:]
        sums[name] = digest.lower()
    return sums


def _seconds_setting(variable: str, default: float) -> float:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"{variable}={value!r} must be a positive, finite number of seconds "
            f"(e.g. {default:g}); fix or unset it."
        )
    return seconds


def download_timeout() -> float:
    """Seconds one read may wait for the server: ``$COURSE_DOWNLOAD_TIMEOUT`` or 15.

    Raises
    ------
    ValueError
        If the variable is not a positive, finite number (the message names it).
    """
    return _seconds_setting("COURSE_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT)


def download_deadline() -> float:
    """Seconds one download from one URL may take in all: ``$COURSE_DOWNLOAD_DEADLINE`` or 3600."""
    return _seconds_setting("COURSE_DOWNLOAD_DEADLINE", DEFAULT_DEADLINE)


def download(archive: Archive, destination: Path) -> Path:
    """Download ``archive`` from its first URL that works, verify it, then move it into place.

    The bytes go to a ``.part`` file unique to this process; only a verified file gets the name
    ``destination``. Each read waits at most :func:`download_timeout` seconds, the whole
    download at most :func:`download_deadline`.

    Raises
    ------
    OSError
        When no URL is known or none delivered (the message names every URL tried and why).
    ArchiveError
        When every URL delivered bytes that fail verification.
    DiskFullError
        When the disk fills up (not retried: another URL would not help).
    """
    if not archive.urls:
        raise OSError(f"no official download URL is known for {archive.filename}")
    timeout, deadline = download_timeout(), download_deadline()
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    all_bad_bytes = True
    for url in archive.urls:
        partial_name = ""
        try:
            # .part: a killed download's leftover is one that clean_leftovers removes
            with atomic_write(destination, "wb", suffix=".part") as handle:
                partial = Path(handle.name)
                partial_name = partial.name
                _stream(url, handle, archive, timeout, deadline)
                handle.flush()
                verify_file(partial, archive)  # a bad file never gets the final name
            return destination
        except ArchiveError as error:
            failures.append(
                f"{url} delivered a bad file ({str(error).replace(partial_name, archive.filename)})"
            )
        except (OSError, http.client.HTTPException, ValueError) as error:
            if is_disk_full(error):
                raise disk_full_error(
                    error, destination.parent, f"downloading {archive.filename}"
                ) from error
            all_bad_bytes = False
            reason = (
                error
                if isinstance(error, urllib.error.HTTPError)
                else getattr(error, "reason", error)
            )
            failures.append(f"download of {url} failed ({reason})")
    message = f"{archive.filename}: every URL failed: " + "; ".join(failures)
    raise ArchiveError(message) if all_bad_bytes else OSError(message)


def _stream(url: str, partial, archive: Archive, timeout: float, deadline: float) -> None:
    """Copy ``url`` into the open file ``partial``, bounded per read and overall.

    The length the server promised is checked at the end.
    """
    stop_at = time.monotonic() + deadline
    # some servers refuse urllib's default agent; this one says who asks
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        promised = _content_length(response.headers.get("Content-Length"))
        received = 0
        with tqdm(
            total=promised or archive.size, unit="B", unit_scale=True, desc=archive.filename
        ) as bar:
            while True:
                if time.monotonic() > stop_at:
                    raise TimeoutError(
                        f"not finished after the {deadline:g} s deadline "
                        f"({received:,} bytes received); raise "
                        "COURSE_DOWNLOAD_DEADLINE on a slow connection"
                    )
                # read1: one socket read, so the deadline is checked however slowly bytes come
                chunk = (
                    response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
                )
                if not chunk:
                    break
                _write(partial, chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if promised is not None and received != promised:
        raise OSError(
            f"the server promised {promised:,} bytes and sent {received:,} (connection cut?)"
        )


def _content_length(value: str | None) -> int | None:
    """The Content-Length header as bytes, or None when absent or not a count (then unused)."""
    try:
        length = int((value or "").strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def _write(handle, chunk: bytes) -> None:
    handle.write(chunk)  # one place for every byte written, where tests inject a full disk


__all__ = [
    "Archive",
    "ArchiveError",
    "DiskFullError",
    "MARKER_NAME",
    "UnsafeArchiveError",
    "download",
    "download_deadline",
    "download_timeout",
    "file_digest",
    "read_marker",
    "read_sha256sums",
    "unpack",
    "verify_file",
    "write_marker",
]
