"""The one loop behind the scripts that write a generated cell into every notebook.

``instructor/setup_cell.py`` (the first code cell) and ``instructor/assignment_config.py`` (the
``# ASSIGNMENT CONFIG`` raw cell) differ only in which cell they own and what it must say; how a
stale cell is found, rewritten or reported (``--check``) is here, once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import nbformat


def regenerate(
    paths: list[Path],
    cell_of: Callable,
    source_of: Callable[[Path], str],
    check: bool,
    metadata: dict | None = None,
) -> int:
    """Rewrite (or, with ``check``, only report) each notebook's generated cell.

    ``cell_of(notebook, path)`` returns the cell the script owns, or raises ``ValueError`` saying
    what is wrong with the notebook; ``source_of(path)`` is what that cell must say; ``metadata``
    (nested keys, e.g. Colab's form view) what its metadata must hold besides. Returns the
    exit status: 1 if a notebook is broken, or if ``check`` and one differs; else 0.
    """
    stale, broken = [], []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        try:
            cell = cell_of(notebook, path)
        except ValueError as error:
            broken.append(str(error))
            continue
        source = source_of(path)
        if cell.source != source or not holds(cell.metadata, metadata or {}):
            stale.append(path)
            if not check:
                cell.source = source
                merge(cell.metadata, metadata or {})
                nbformat.write(notebook, path)
    for path in stale:
        print(f"{'differs' if check else 'updated'}: {path}")
    for message in broken:
        print(f"error: {message}", file=sys.stderr)
    return 1 if broken or (check and stale) else 0


def holds(metadata: dict, wanted: dict) -> bool:
    """Whether ``metadata`` has every (nested) key of ``wanted`` with its value."""
    return all(
        holds(metadata.get(key) or {}, value)
        if isinstance(value, dict)
        else metadata.get(key) == value
        for key, value in wanted.items()
    )


def merge(metadata: dict, wanted: dict) -> None:
    """Write every (nested) key of ``wanted`` into ``metadata``, keeping its other keys."""
    for key, value in wanted.items():
        if isinstance(value, dict):
            metadata[key] = metadata.get(key) or {}
            merge(metadata[key], value)
        else:
            metadata[key] = value
