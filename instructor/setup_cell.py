"""The first code cell of every notebook, generated from one place: pyproject.toml.

The cell makes the course's ``helpers`` package importable and never ends in a traceback. In order:

1. ``helpers`` is importable (``make lab`` installed the checkout; or an earlier run) -> use it;
2. a course wheel ``neural_codes_course-*.whl`` (from a release) beside the notebook, or in the
   course folder of a mounted Google Drive -> ``pip install`` it;
3. the course repository (``[project.urls] Repository`` of pyproject.toml, at the tag of this
   version, ``v<version>``) -> ``pip install git+<url>@v<version>``;
4. otherwise stop with a short message naming the two things to do, shown without a traceback
   (an exception whose ``_render_traceback_`` returns the message: IPython prints only that, and
   "Run all" stops there).

pip runs with the installed TensorFlow, Keras and numpy as constraints, so it can add what is
missing but never replaces Colab's own versions.

    python -m instructor.setup_cell notebooks/*.ipynb           # rewrite the first code cell
    python -m instructor.setup_cell --check notebooks/*.ipynb   # exit 1 if any differs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

from instructor.generated_cells import regenerate

ROOT = Path(__file__).resolve().parent.parent
WHEEL_GLOB = "neural_codes_course-*.whl"
DRIVE_COURSE_FOLDER = "/content/drive/MyDrive/neural-codes-course"  # = helpers.session.DRIVE_FOLDER


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def repository_url() -> str:
    """The repository URL, read from ``pyproject.toml`` (its only definition)."""
    return _project()["urls"]["Repository"]


def course_url() -> str:
    """What pip installs when no wheel is found: the repository at this version's tag."""
    return f"git+{repository_url()}@v{_project()['version']}"


def setup_cell_source() -> str:
    return f'''\
# Setup: make the course's `helpers` importable (installed already; else a course wheel beside
# this notebook or in Drive's MyDrive/neural-codes-course; else COURSE_URL), never replacing
# TensorFlow, Keras or numpy; then print versions, GPU, profile and where data and outputs go.
USE_DRIVE = False  # set True on Colab to keep checkpoints/models/caches on Google Drive
COURSE_URL = "{course_url()}"
import glob
import importlib.metadata
import importlib.util
import subprocess
import sys
import tempfile

if importlib.util.find_spec("helpers") is None:
    class CourseNotInstalled(Exception):
        def _render_traceback_(self):  # Jupyter shows this message, no traceback
            return [str(self)]
    wheels = (sorted(glob.glob("{WHEEL_GLOB}"))
              or sorted(glob.glob("{DRIVE_COURSE_FOLDER}/{WHEEL_GLOB}")))
    keep = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    keep.writelines(f"{{d.metadata['Name']}}=={{d.version}}\\n"  # pip may add, never replace
                    for d in importlib.metadata.distributions()
                    if d.metadata["Name"].lower() in ("tensorflow", "keras", "numpy"))
    keep.close()
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", keep.name,
                          (wheels or [COURSE_URL])[-1]], capture_output=True, text=True)
    if pip.returncode != 0:
        raise CourseNotInstalled(
            "Could not install the course package "
            f"({{(pip.stderr.strip().splitlines() or ['?'])[-1]}}).\\n"
            "Do one of these, then run this cell again:\\n"
            "  1. upload {WHEEL_GLOB} from the course release next to this notebook "
            "(on Colab: the Files pane), or\\n"
            "  2. set COURSE_URL above to where the course repository can be installed from.")
    importlib.invalidate_caches()

from helpers import session
SETUP = session.setup_notebook(use_drive=USE_DRIVE)'''


def ruff_formatted(source: str) -> str:
    """``source`` as ``ruff format`` leaves it: `make test` checks the notebooks with ruff."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "cell.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ruff format failed on a generated cell: {result.stderr.strip()}")
    return result.stdout.rstrip("\n")


def first_code_cell(notebook, path: Path):
    """The notebook's first code cell (the setup cell)."""
    cell = next((cell for cell in notebook.cells if cell.cell_type == "code"), None)
    if cell is None:
        raise ValueError(f"{path}: has no code cell to hold the setup cell.")
    return cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ")
    args = parser.parse_args(argv)
    source = ruff_formatted(setup_cell_source())
    return regenerate(args.notebooks, first_code_cell, lambda path: source, args.check)


if __name__ == "__main__":
    sys.exit(main())
