"""Where things live: the data cache, the mirror, outputs (on Drive when asked), the checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers.session.profile import get_profile


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def repo_root() -> Path | None:
    """The checkout holding this package, or None when installed from a wheel / git URL."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def data_dir() -> Path:
    """The data cache: ``$COURSE_DATA_DIR``, else ``/content/data`` on Colab, else ``<repo>/data``.

    Outside a checkout the fallback is ``~/.cache/neural-codes-course``; created if missing. A
    relative ``$COURSE_DATA_DIR`` is relative to the project root (home outside a checkout),
    never the current directory, so a notebook and ``make`` share one cache.

    Raises
    ------
    NotADirectoryError
        If ``$COURSE_DATA_DIR`` (or a parent of it) is a file.
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        path = Path(env).expanduser()
        if not path.is_absolute():
            path = (repo_root() or Path.home()) / path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise NotADirectoryError(
                f"COURSE_DATA_DIR={env!r} names {path}, which is (or lies under) a file, not a "
                "folder. Point COURSE_DATA_DIR at a folder (it is created if missing), or unset "
                "it."
            ) from None
        return path
    elif on_colab():
        path = Path("/content/data")
    elif repo_root() is not None:
        path = repo_root() / "data"
    else:
        path = Path.home() / ".cache" / "neural-codes-course"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dir() -> Path | None:
    """The local mirror of official archives, ``$COURSE_DATA_MIRROR``, or None when unset.

    Raises
    ------
    FileNotFoundError
        If the variable is set but names no folder (a typo should not silently mean "no mirror").
    """
    env = os.environ.get("COURSE_DATA_MIRROR")
    if not env:
        return None
    path = Path(env).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"COURSE_DATA_MIRROR={env!r} is not a folder. Point it at the folder that holds the "
            "archives and their SHA256SUMS, or unset it."
        )
    return path.resolve()


#: Where Colab mounts Google Drive, and the course's folder on it (outputs only; data stays local).
DRIVE_MOUNT = Path("/content/drive")
DRIVE_FOLDER = DRIVE_MOUNT / "MyDrive" / "neural-codes-course"
_drive_outputs: Path | None = None  # set by setup_notebook(use_drive=True) on Colab


def output_dir(name: str) -> Path:
    """A folder for a notebook's saved models, histories and cached codes (on Drive if asked)."""
    root = _drive_outputs if _drive_outputs is not None else data_dir() / "outputs"
    path = root / get_profile() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def keep_outputs_on_drive(enabled: bool) -> str:
    """Keep outputs on Google Drive (Colab only); return the one line that says where they go.

    On Colab, mounts Drive and points :func:`output_dir` at ``DRIVE_FOLDER/outputs``; data sets
    stay on the fast local disk.
    """
    global _drive_outputs
    if not enabled:
        _drive_outputs = None
        return (
            f"Outputs: {data_dir() / 'outputs'} (set USE_DRIVE = True on Colab to keep them "
            "on Drive)"
        )
    if not on_colab():
        _drive_outputs = None
        return (
            f"USE_DRIVE = True only applies on Colab; here outputs stay in {data_dir() / 'outputs'}"
        )
    if not (DRIVE_MOUNT / "MyDrive").is_dir():  # the setup cell may have mounted it already
        from google.colab import drive  # only exists on Colab

        drive.mount(str(DRIVE_MOUNT))
    _drive_outputs = DRIVE_FOLDER / "outputs"
    _drive_outputs.mkdir(parents=True, exist_ok=True)
    return (
        f"Outputs (checkpoints, models, histories, caches): Google Drive, {_drive_outputs}; "
        f"data stays on the local disk, {data_dir()}"
    )
