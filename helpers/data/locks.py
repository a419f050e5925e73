"""One inter-process lock per data-set folder, and the cleaning of what killed processes left.

:func:`folder_lock` (``<folder>/.lock``, held by every writer) and :func:`clean_leftovers`.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from helpers.session.messages import warn

# Two notebooks loading one data set must not write over each other, so every writer holds
# the folder's FileLock: an OS lock released when its process dies, never left held. Readers
# of a finished tree need none: trees are moved into place whole and marked complete last.
# Leftovers can only come from a process that died holding the lock, so whoever takes the
# lock next may remove them.
LOCK_NAME = ".lock"
#: Name patterns of temporary files and folders of an unfinished write (all carry a unique part).
LEFTOVER_PATTERNS = (".unpacking-*", ".building-*", ".stale-*", "*.part", "*.tmp")
#: Seconds to wait quietly before saying that another process holds the lock.
_QUIET_WAIT = 2.0
_locks: dict[str, FileLock] = {}
_guard = threading.Lock()


class CacheNotWritableError(PermissionError):
    """The data cache cannot be written (a read-only folder or file system): which, what to do."""


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str | None = None) -> Iterator[Path]:
    """Hold ``folder``'s inter-process lock (folder created if missing); re-entrant in one thread.

    ``what`` names what is being prepared, for the message shown while waiting.

    Raises
    ------
    CacheNotWritableError
        If the folder or its lock file cannot be created.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _guard:  # one FileLock object per path, so nested use in a thread re-enters it
            lock = _locks.setdefault(os.fspath(folder / LOCK_NAME), FileLock(folder / LOCK_NAME))
        try:
            lock.acquire(timeout=_QUIET_WAIT)
        except Timeout:
            warn(
                f"Waiting for another process that is preparing {what or folder} "
                f"(it holds {folder / LOCK_NAME})."
            )
            lock.acquire()
    except OSError as error:
        if isinstance(error, PermissionError) or error.errno in (errno.EROFS, errno.EACCES):
            raise CacheNotWritableError(
                f"The data cache {folder} cannot be written ({error.strerror or error}). Make it "
                "writable, or point COURSE_DATA_DIR at a writable folder."
            ) from error
        raise
    try:
        yield folder
    finally:
        lock.release()


def clean_leftovers(folder: str | os.PathLike) -> list[str]:
    """Remove temporary files and folders of unfinished writes in ``folder``; return their names.

    Call it only while holding :func:`folder_lock` of ``folder``: then no live process owns them.
    """
    removed = []
    folder = Path(folder)
    for pattern in LEFTOVER_PATTERNS:
        for path in folder.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed
