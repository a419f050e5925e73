"""The first code cell of every notebook, generated from one place: pyproject.toml.

A hidden cell (a Colab form showing its title and the ``USE_DRIVE`` checkbox; collapsed in
JupyterLab) that does only what must run before the course's ``helpers`` package exists, and never
ends in a traceback. In order:

1. with ``USE_DRIVE`` ticked on Colab, Google Drive is mounted (before anything is looked for in
   it);
2. ``helpers`` is importable (``make lab`` installed the checkout; or an earlier run) -> use it;
3. else a course wheel ``neural_codes_course-*.whl`` (from a release) beside the notebook, or in
   the course folder of Drive, else ``COURSE_URL`` (``[project.urls] Repository`` of
   pyproject.toml at the tag ``v<version>``; a release with a students URL puts the published
   wheel there) -> ``pip install`` it, naming the installed TensorFlow, Keras and numpy at their
   versions so that pip can add what is missing but never replaces Colab's own;
4. if that fails, one message naming what to do, shown without a traceback (an exception whose
   ``_render_traceback_`` returns the message: IPython prints only that, and "Run all" stops);
5. ``session.setup_notebook(use_drive=USE_DRIVE)``.

    python -m instructor.setup_cell notebooks/*.ipynb           # rewrite the first code cell
    python -m instructor.setup_cell --check notebooks/*.ipynb   # exit 1 if any differs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

from helpers.session import paths
from instructor.generated_cells import regenerate

ROOT = Path(__file__).resolve().parent.parent
WHEEL_GLOB = "neural_codes_course-*.whl"
# One definition of the Drive folders: the course's own (the cell writes them in as text).
DRIVE_MOUNT, DRIVE_COURSE_FOLDER = str(paths.DRIVE_MOUNT), str(paths.DRIVE_FOLDER)


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def repository_url() -> str:
    """The repository URL, read from ``pyproject.toml`` (its only definition)."""
    return _project()["urls"]["Repository"]


def course_url() -> str:
    """What pip installs when no wheel is found: the repository at this version's tag."""
    return f"git+{repository_url()}@v{_project()['version']}"


#: The generated cells' metadata: a Colab form (only its title and the checkbox show) and a cell
#: whose code JupyterLab keeps collapsed.
HIDDEN = {"cellView": "form", "jupyter": {"source_hidden": True}}
TITLE = "# @title Setup: run this cell first (double-click to see its code)"


def setup_cell_source() -> str:
    """Only what must run before ``helpers`` exists: find the course wheel (beside the notebook,
    else in Drive, mounted first when ``USE_DRIVE``), else ``COURSE_URL``, and pip-install it
    with the installed TensorFlow, Keras and numpy named at their versions (never replaced); a
    failure is one message, no traceback. The rest is ``helpers.session.setup_notebook``."""
    return f'''\
{TITLE}
USE_DRIVE = False  # @param {{type:"boolean"}}
COURSE_URL = "{course_url()}"
import glob
import subprocess
import sys
from importlib import invalidate_caches, metadata, util

if USE_DRIVE and "google.colab" in sys.modules:  # mount Drive first: the wheel may be there
    from google.colab import drive

    drive.mount("{DRIVE_MOUNT}")
if util.find_spec("helpers") is None:  # install the course's wheel, else COURSE_URL
    wheels = glob.glob("{WHEEL_GLOB}") or glob.glob("{DRIVE_COURSE_FOLDER}/{WHEEL_GLOB}")
    keep = [f"{{d.name}}=={{d.version}}" for d in metadata.distributions()]
    keep = [pin for pin in keep if pin.split("==")[0] in ("tensorflow", "keras", "numpy")]
    pip = [sys.executable, "-m", "pip", "install", "-q", max(wheels, default=COURSE_URL), *keep]
    pip = subprocess.run(pip, capture_output=True, text=True)
    if pip.returncode != 0:  # one message, no traceback
        why = (pip.stderr.strip().splitlines() or ["?"])[-1]
        msg = (f"Could not install the course package ({{why}}). Put {WHEEL_GLOB} next to "
               "this notebook (Colab: Files pane), or in MyDrive/neural-codes-course and tick "
               "USE_DRIVE, or set COURSE_URL; then run this cell again.")
        raise type("CourseNotInstalled", (Exception,), {{"_render_traceback_": lambda e: [msg]}})()
    invalidate_caches()
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
    return regenerate(args.notebooks, first_code_cell, lambda path: source, args.check, HIDDEN)


if __name__ == "__main__":
    sys.exit(main())
