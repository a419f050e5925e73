"""Unpacking archives into the cache: checked first, extracted aside, moved into place whole.

:func:`unpack`, and the completion marker (:func:`read_marker`, :func:`write_marker`) whose
presence means an unpacked folder is complete.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from helpers.data.errors import (
    ArchiveError,
    DiskFullError,
    UnsafeArchiveError,
    disk_free,
    disk_full_error,
    human_size,
    is_disk_full,
)
from helpers.data.locks import clean_leftovers, folder_lock
from helpers.session.files import write_json_atomic

MARKER_NAME = ".unpacked.json"
#: Without a limit in the registry, an archive may unpack to UNPACK_RATIO times its own size,
#: and at least UNPACK_FLOOR bytes (image archives barely compress: their ratio is close to 1).
UNPACK_RATIO = 20
UNPACK_FLOOR = 1 << 30


def read_marker(folder: Path) -> dict | None:
    """The marker an unpacking left in ``folder``, or None when unpacking never finished."""
    marker = Path(folder) / MARKER_NAME
    if not marker.is_file():
        return None
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_marker(folder: Path, record: dict) -> None:
    """Write the marker last, atomically, so its presence means the folder is complete."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # .tmp: a killed write's leftover is one that clean_leftovers removes
    write_json_atomic(folder / MARKER_NAME, record, sort_keys=True, suffix=".tmp")


def unpack_limit(path: Path, max_unpacked: int | None = None) -> int:
    """Bytes ``path`` may unpack to: ``max_unpacked``, else a generous multiple of its size."""
    if max_unpacked is not None:
        return int(max_unpacked)
    return max(UNPACK_FLOOR, UNPACK_RATIO * Path(path).stat().st_size)


def unpack(
    paths: list[Path],
    folder: Path,
    root: str,
    *,
    packed: bool = True,
    limits: Sequence[int | None] | None = None,
    marker: dict | None = None,
) -> Path:
    """Unpack archives (or copy plain files) into ``folder`` and return ``folder / root``.

    Everything is extracted into a temporary folder beside ``folder / root``, counted, and
    moved into place in one rename, under ``folder``'s inter-process lock; a failure part-way
    leaves no tree.

    Parameters
    ----------
    paths : list of Path
        Archives (zip / tar / tar.gz) or, with ``packed=False``, files to copy as they are.
    root : str
        The folder the archives create (e.g. ``'tiny-imagenet-200'``).
    limits : sequence of int or None, optional
        Per archive, the most bytes it may unpack to (None: :func:`unpack_limit`).
    marker : dict, optional
        Written (with the file count) as the completion marker once the tree is in place.

    Raises
    ------
    ArchiveError
        If an archive is unreadable, lacks ``root``, or unpacks to fewer files than it lists.
    UnsafeArchiveError
        If an entry points outside its folder or an archive unpacks past its limit.
    DiskFullError
        If the disk has no room for the unpacked files (checked before extracting).
    """
    folder = Path(folder)
    limits = list(limits) if limits is not None else [None] * len(paths)
    with folder_lock(folder, root):
        clean_leftovers(folder)
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=folder))
        try:
            if packed:
                expected, total = set(), 0
                for path, limit in zip(paths, limits):
                    names, size = _for_path(path, _plan, path, unpack_limit(path, limit))
                    expected |= {name for name in names if name.startswith(root + "/")}
                    total += size
                free = disk_free(folder)
                if total > free:
                    raise DiskFullError(
                        errno.ENOSPC,
                        (
                            f"Not enough space on the disk of {folder} to unpack {root}: it needs "
                            f"{human_size(total)} and {human_size(free)} are free. "
                            "Free some space, or point COURSE_DATA_DIR at a larger disk, "
                            "then load again."
                        ),
                    )
                for path in paths:
                    _for_path(path, _extract, path, staging)
                wanted = len(expected)
            else:
                (staging / root).mkdir()
                for path in paths:
                    shutil.copyfile(path, staging / root / path.name)
                wanted = len({path.name for path in paths})
            if not (staging / root).is_dir():
                found = sorted(entry.name for entry in staging.iterdir())
                raise ArchiveError(
                    f"{[p.name for p in paths]} do not contain {root}/ (found {found})."
                )
            # the marker, written last, comes only after the tree was counted against the
            # archives' member lists
            count = count_files(staging / root)
            if count != wanted:
                raise ArchiveError(
                    f"{[p.name for p in paths]} list {wanted} files under {root}/ "
                    f"but {count} were unpacked."
                )
            target = folder / root
            (folder / MARKER_NAME).unlink(missing_ok=True)
            if target.exists():  # an unmarked tree (a killed run's, or a damaged one) goes
                aside = Path(tempfile.mkdtemp(prefix=".stale-", dir=folder))
                os.replace(target, aside / root)
            # a whole staged tree: moved by a folder rename, not atomic_write (one file)
            os.replace(staging / root, target)
            if marker is not None:
                write_marker(folder, {**marker, "files": count})
        except OSError as error:
            if is_disk_full(error) and not isinstance(error, DiskFullError):
                raise disk_full_error(error, folder, f"unpacking {root}") from error
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            clean_leftovers(folder)
    return folder / root


def _for_path(path: Path, function, *args):
    """Run ``function``; an ArchiveError it raises records ``path`` (to be set aside)."""
    try:
        return function(*args)
    except ArchiveError as error:
        error.path = path
        raise


def count_files(folder: Path) -> int:
    """Files (not folders) under ``folder``, at any depth."""
    return sum(len(files) for _, _, files in os.walk(folder))


def _plan(path: Path, limit: int) -> tuple[list[str], int]:
    """The member file names of an archive and their total size; refuses unsafe archives."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                entries = [
                    (info.filename, info.file_size, not info.is_dir())
                    for info in archive.infolist()
                ]
        elif _is_tar(path):
            with tarfile.open(path) as archive:
                entries = [
                    (member.name, member.size if member.isfile() else 0, not member.isdir())
                    for member in archive
                ]
        else:
            raise ArchiveError(f"{path.name} is neither a zip nor a tar archive (truncated?).")
    except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as error:
        if is_disk_full(error):
            raise
        raise ArchiveError(
            f"{path.name} cannot be read ({error}); it is truncated or corrupt."
        ) from error
    names, total = [], 0
    for name, size, is_file in entries:
        clean = posixpath.normpath(name.replace("\\", "/"))
        if clean.startswith("/") or clean == ".." or clean.startswith("../") or ":" in clean[:2]:
            raise UnsafeArchiveError(
                f"{path.name}: entry {name!r} points outside the folder it unpacks to; refused. "
                "The archive is not the official one: delete it and fetch it again."
            )
        total += size
        if is_file:
            names.append(clean)
    if total > limit:
        raise UnsafeArchiveError(
            f"{path.name} would unpack to {human_size(total)}, more than its limit of "
            f"{human_size(limit)}; refused (not the official archive?). "
            "Delete it and fetch it again."
        )
    return names, total


def _is_tar(path: Path) -> bool:
    return path.name.endswith(
        (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
    ) or tarfile.is_tarfile(path)


def _extract(path: Path, staging: Path) -> None:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(staging)
        else:
            with tarfile.open(path) as archive:
                archive.extractall(staging, filter="data")
    except tarfile.FilterError as error:
        raise UnsafeArchiveError(
            f"{path.name}: {error}; refused. The archive is not the official "
            "one: delete it and fetch it again."
        ) from error
    except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as error:
        if is_disk_full(error):
            raise
        raise ArchiveError(
            f"{path.name} cannot be unpacked ({error}); it is truncated or corrupt."
        ) from error
