"""Atomic file writes: a file appears under its final name complete, or not at all.

``atomic_write`` (a context manager yielding an open temporary file), and its two everyday
uses ``write_json_atomic`` and ``save_npy_atomic``. Standard library and numpy only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    suffix: str = ".partial",
    encoding: str | None = None,
) -> Iterator[IO]:
    """Write ``path`` through a temporary file in its folder, renamed into place on success.

    The temporary file (``.<name>.<random><suffix>``) is flushed, fsync'd and ``os.replace``d
    onto ``path``; on any exception it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder must exist.
    mode : {"wb", "w"}
        Binary or text.
    suffix : str
        End of the temporary file's name (e.g. ``".tmp"``, which a folder's leftover cleaning
        recognises).
    encoding : str, optional
        Text mode only; UTF-8 by default.

    Yields
    ------
    file object
        Open on the temporary file; its ``name`` is the temporary file's path.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_write(target, "w") as file:
    ...     _ = file.write("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['a.txt'])
    """
    if mode not in ("wb", "w"):
        raise ValueError(
            f"atomic_write writes whole files: mode must be 'wb' or 'w', got {mode!r}."
        )
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            errno.ENOENT,
            f"Cannot write {path.name}: its folder {folder} does not exist (create it first)",
            os.fspath(folder),
        )
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    os.close(handle)  # reopened by name, so the file object's .name is the temporary path
    try:
        text = {"encoding": encoding or "utf-8"} if mode == "w" else {}
        with open(temporary, mode, **text) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(
    path: str | os.PathLike,
    value,
    *,
    indent: int | None = 1,
    sort_keys: bool = False,
    suffix: str = ".partial",
) -> None:
    """Write ``value`` as JSON to ``path`` with :func:`atomic_write`.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> write_json_atomic(target, {"b": 1})
    >>> json.loads(target.read_text())
    {'b': 1}
    """
    with atomic_write(path, "w", suffix=suffix) as file:
        json.dump(value, file, indent=indent, sort_keys=sort_keys)


def save_npy_atomic(
    path: str | os.PathLike, array: np.ndarray, *, suffix: str = ".partial"
) -> None:
    """``np.save`` (no pickles) to ``path`` with :func:`atomic_write`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.npy"
    >>> save_npy_atomic(target, np.arange(3))
    >>> np.load(target).tolist()
    [0, 1, 2]
    """
    with atomic_write(path, "wb", suffix=suffix) as file:
        np.save(file, np.asarray(array), allow_pickle=False)
