"""Every master notebook's ``# ASSIGNMENT CONFIG`` raw cell (otter-grader 7), from one template.

The notebook authors write a placeholder first cell (a raw cell ``# ASSIGNMENT CONFIG`` and
``name: <notebook stem>``); this script writes the whole configuration into it, the same for every
notebook except the name. ``make release`` runs ``--check`` first, so a notebook whose config was
edited by hand, or has none, stops the release with the file named.

    python -m instructor.assignment_config notebooks/*.ipynb           # write the config cells
    python -m instructor.assignment_config --check notebooks/*.ipynb   # exit 1 if any differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

from helpers.session import grading
from instructor.generated_cells import regenerate

MARKER = "# ASSIGNMENT CONFIG"

# What the student is told in the hand-in section, in the words the hand-in cell prints (both
# from helpers.session.grading), for Jupyter and for Colab alike.
HANDIN = f"{grading.RUN_ALL} {grading.HAND_IN_LOCAL} {grading.HAND_IN_COLAB}"


def config_for(stem: str) -> dict:
    """The otter-assign configuration of the notebook ``<stem>.ipynb``.

    - ``run_tests: false``: otter assign would otherwise run the whole notebook (all trainings)
      once per release; ``tests/test_grading.py`` grades a master notebook instead.
    - ``export_cell``: no PDF (otter's PDF needs a LaTeX install or a headless browser), the HTML
      copy instead (written by the released notebook's hand-in cell,
      helpers.session.grading.hand_in); ``run_tests: false``, since it would re-run the whole
      notebook a second time; the check-all cell just above runs the public tests.
    - ``tests.files: false``: tests travel in the notebook's metadata, so the student notebook is
      one self-contained file.
    """
    return {
        "name": stem,
        "init_cell": True,
        "check_all_cell": True,
        "export_cell": {
            "pdf": False,
            "run_tests": False,
            "force_save": False,
            "files": [f"{stem}.html"],
            "instructions": HANDIN,
        },
        "run_tests": False,
        "solutions_pdf": False,
        "template_pdf": False,
        "generate": {"pdf": False, "show_stdout": True, "show_hidden": False, "zips": False},
        "tests": {"files": False, "ok_format": True},
        "files": [],
    }


def config_source(stem: str) -> str:
    return MARKER + "\n" + yaml.safe_dump(config_for(stem), sort_keys=False, width=100).rstrip()


def config_cell(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The notebook's first cell, which must be the ``# ASSIGNMENT CONFIG`` raw cell."""
    first = notebook.cells[0] if notebook.cells else None
    if first is None or first.cell_type != "raw" or not first.source.startswith(MARKER):
        raise ValueError(
            f"{path}: the first cell must be a raw cell starting with {MARKER!r} and "
            f"'name: {path.stem}' (the otter master-notebook format; see notebooks/AUTHORING.md)."
        )
    written = yaml.safe_load(first.source) or {}
    if written.get("name") != path.stem:
        raise ValueError(
            f"{path}: its {MARKER} cell says name: {written.get('name')!r}; "
            f"it must be the file's stem, {path.stem!r}."
        )
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ")
    args = parser.parse_args(argv)
    return regenerate(
        args.notebooks, config_cell, lambda path: config_source(path.stem), args.check
    )


if __name__ == "__main__":
    sys.exit(main())
