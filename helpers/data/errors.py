"""The data layer's errors, and the disk checks behind a clear "disk full" message."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class ArchiveError(ValueError):
    """An archive that is truncated, corrupt or not what the registry says it is."""


class UnsafeArchiveError(ArchiveError):
    """An archive with an entry pointing outside its folder, or that unpacks past the size limit."""


class DiskFullError(OSError):
    """No space left on the device of the data cache; the message says where and what to do."""


def is_disk_full(error: BaseException) -> bool:
    """True for the OS errors of a full disk or an exhausted quota."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_error(error: OSError, folder: Path, doing: str) -> DiskFullError:
    """A :class:`DiskFullError` naming the folder, the operation and the remedy."""
    try:
        free = f"{human_size(disk_free(folder))} free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        error.errno,
        f"No space left on the disk of {folder} while {doing} "
        f"({free}). Free some space, or point COURSE_DATA_DIR at a larger disk, "
        "then load again.",
    )


def human_size(count: int) -> str:
    """A byte count for a message: ``'2.48 GB'``, ``'3.0 MB'``, ``'5,000 bytes'``."""
    if count >= 1e9:
        return f"{count / 1e9:.2f} GB"
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count:,} bytes"


def disk_free(folder: Path) -> int:
    """Free bytes on the file system of ``folder`` (or of its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free
