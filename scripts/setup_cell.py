"""The first code cell of every notebook, generated from one place: pyproject.toml.

On Colab (or any Python without the course installed) the cell pip-installs the ``helpers``
package from the repository named in ``[project.urls] Repository``. The package's requirements are
ranges that Colab's own TensorFlow, Keras and numpy satisfy, so pip leaves those alone and adds
only what is missing. Locally, ``make lab`` has installed the checkout in editable mode and the
cell only imports it: no ``sys.path`` hacks.

    python scripts/setup_cell.py notebooks/*.ipynb           # rewrite the first code cell
    python scripts/setup_cell.py --check notebooks/*.ipynb   # exit 1 if any differs
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def repository_url() -> str:
    """The repository URL, read from ``pyproject.toml`` (its only definition)."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["urls"]["Repository"]


def setup_cell_source() -> str:
    return f'''\
# Setup. On Colab this installs the course's `helpers` package from its repository; TensorFlow,
# Keras and numpy stay as Colab ships them. Locally `make lab` has installed it already.
import importlib.util, subprocess, sys
if importlib.util.find_spec("helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "git+{repository_url()}"], check=True)

from helpers import config
SETUP = config.setup_notebook()  # versions, GPU, profile and data locations'''


def first_code_cell(notebook):
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ")
    args = parser.parse_args(argv)
    source, stale = setup_cell_source(), []
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        cell = first_code_cell(notebook)
        if cell.source != source:
            stale.append(path)
            if not args.check:
                cell.source = source
                nbformat.write(notebook, path)
    for path in stale:
        print(f"{'differs' if args.check else 'updated'}: {path}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
