"""A student notebook's grading tools: ``grader`` (otter-grader's checks) and the hand-in.

The released notebook's grading cell is ``grader = grading.start("<stem>")`` and its last cell
``grading.hand_in(grader, "<stem>")``. Neither ends in a traceback: when the checks cannot run
(no network to install otter-grader, no public tests) ``start`` prints one line saying why and
what to do, and returns a stand-in whose ``check``, ``check_all`` and ``export`` say so.

Installing otter-grader must leave the runtime's own packages as they are. Otter-grader 7 declares
``ipywidgets>=8.1.5`` and would replace Colab's ipywidgets 7.7.1 (its widget front end), so it is
installed with ``--no-deps``, together with :data:`OTTER_RUNTIME`, the packages it imports when a
notebook starts it, checks and exports, that a Colab runtime lacks, each only if missing and also
with ``--no-deps``. Everything else it imports (IPython, nbformat, nbconvert, pandas, PyYAML,
Jinja2, requests, ipywidgets 7 or 8) is part of any Jupyter or Colab runtime.
``scripts/compat.sh`` proves it on Colab's set: ``pip freeze`` is the same before and after.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.session.paths import on_colab

#: The otter-grader the released notebooks are written for (= the `local` extra's pin).
OTTER = "otter-grader==7.0.0"
#: What otter-grader 7.0.0 imports at import / check / export time beyond a Jupyter or Colab
#: runtime, pinned (found by importing otter installed with --no-deps in a venv with Colab's
#: packages and adding what was missing until check and export ran; wrapt < 2 is otter's bound).
OTTER_RUNTIME = (
    "dill==0.4.1",
    "fica==0.4.1",
    "ipylab==1.1.0",
    "python-frontmatter==1.3.0",
    "wrapt==1.17.3",
)
PUBLIC_TESTS = "_public_tests"  # helpers/_public_tests/t<stem>/<question>.py, in the wheel only
WHEEL = "neural_codes_course-*.whl"

#: The hand-in, in the words of the notebook's hand-in section and of its last cell.
RUN_ALL = (
    "Run every cell from the top first (Runtime > Run all on Colab, Run > Run All Cells in "
    "Jupyter), then save."
)
HAND_IN_LOCAL = (
    "In Jupyter on your computer, the notebook's last cell writes an HTML copy of the notebook and "
    "a zip with the executed notebook and that HTML copy: hand in the zip."
)
HAND_IN_COLAB = (
    "On Colab, hand in the executed notebook itself: File > Download > Download .ipynb, and hand "
    "in that .ipynb file."
)


def missing_requirements() -> list[str]:
    """``OTTER`` and the :data:`OTTER_RUNTIME` pins whose distribution is not installed."""
    missing = []
    for requirement in (OTTER, *OTTER_RUNTIME):
        try:
            importlib.metadata.version(requirement.split("==")[0])
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def install_otter() -> str | None:
    """Install otter-grader without touching installed packages; None, or why it failed."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    pip = subprocess.run(command + missing_requirements(), capture_output=True, text=True)
    importlib.invalidate_caches()
    if pip.returncode == 0:
        return None
    last = (pip.stderr.strip().splitlines() or ["?"])[-1]
    return (
        f"otter-grader could not be installed ({last}). "
        "Connect to the internet, then run this cell again."
    )


def public_tests(stem: str) -> Path | None:
    """The course wheel's public tests of notebook ``stem``, or None (not installed from one)."""
    try:
        folder = importlib.resources.files("helpers") / PUBLIC_TESTS / f"t{stem}"
    except ModuleNotFoundError:
        return None
    return Path(str(folder)) if folder.is_dir() else None


def _kernel_notebook() -> Path | None:
    """The notebook file the kernel runs, as Jupyter (``JPY_SESSION_NAME``) or VS Code say."""
    try:
        from IPython import get_ipython

        namespace = get_ipython().user_ns if get_ipython() is not None else {}
    except ImportError:
        namespace = {}
    for name in (namespace.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")):
        if name and name.endswith(".ipynb") and Path(name).is_file():
            return Path(name)
    return None


def _assignment_of(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["metadata"]["otter"]["assignment_name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_notebook(stem: str, folder: Path | None = None) -> Path | None:
    """This notebook's file: the kernel's notebook; else ``<stem>.ipynb`` in the working folder;
    else the one ``.ipynb`` there whose otter metadata names assignment ``stem`` (renamed)."""
    found = _kernel_notebook()
    if found is not None:
        return found
    folder = folder or Path.cwd()
    if (folder / f"{stem}.ipynb").is_file():
        return folder / f"{stem}.ipynb"
    named = [path for path in sorted(folder.glob("*.ipynb")) if _assignment_of(path) == stem]
    return named[0] if len(named) == 1 else None


class Unavailable:
    """Stands in for otter's ``Notebook`` when the checks cannot run: says why, never raises."""

    def __init__(self, why: str):
        self.why = why

    def check(self, *args, **kwargs) -> None:
        print("This check is unavailable.", self.why)

    check_all = check

    def export(self, *args, **kwargs) -> None:
        print("No hand-in zip.", self.why)


def start(stem: str, tests_dir: str | Path | None = None):
    """otter's ``Notebook`` for notebook ``stem`` (installing otter-grader when missing), or an
    :class:`Unavailable` stand-in that says why, after printing one line.

    The public tests come from the notebook file's metadata when the file is found here (locally),
    else from the course wheel (on Colab the notebook lives in Drive, out of the runtime's reach).
    """
    why = install_otter() if importlib.util.find_spec("otter") is None else None
    notebook = None if on_colab() else find_notebook(stem)
    tests = Path(tests_dir) if tests_dir else (None if notebook else public_tests(stem))
    if not why and notebook is None and tests is None:
        why = (
            "The public tests are missing: this notebook's file is not in this folder and the "
            f"installed course package has none. Upload {WHEEL} from the course release next to "
            f"this notebook, run `%pip install --no-deps --force-reinstall {WHEEL}`, then run "
            "this cell again."
        )
    if not why:
        try:
            import otter

            options = {"tests_dir": str(tests)} if tests else {}
            return otter.Notebook(str(notebook) if notebook else None, **options)
        except Exception as error:  # whatever stops otter: one line, no traceback
            why = f"otter could not start ({type(error).__name__}: {error})."
    print("The grader.check cells are unavailable.", why)
    return Unavailable(why)


def cells_not_run(notebook: Path) -> int:
    """Code cells of the SAVED notebook that have no execution count (the hand-in cell aside).

    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "n.ipynb"
    >>> cells = [{"cell_type": "code", "execution_count": 1, "source": "x = 1"},
    ...          {"cell_type": "code", "execution_count": None, "source": "y = 2"},
    ...          {"cell_type": "code", "execution_count": None, "source": "hand_in(g, 'n')"}]
    >>> _ = path.write_text(json.dumps({"cells": cells}))
    >>> cells_not_run(path)
    1
    """
    import json

    with open(notebook, encoding="utf-8") as saved:
        cells = json.load(saved).get("cells", [])
    return sum(
        cell.get("cell_type") == "code"
        and cell.get("execution_count") is None
        and "hand_in(" not in "".join(cell.get("source", ""))
        for cell in cells
    )


def hand_in(grader, stem: str) -> Path | None:
    """The notebook's last cell: on Colab, say what to download; locally, write the HTML copy and
    the zip to hand in (returned). Chosen by where the notebook runs, not by its file's name."""
    if on_colab():
        print(f"{RUN_ALL} {HAND_IN_COLAB}")
        return None
    notebook = find_notebook(stem)
    if notebook is None:
        print(
            f"This notebook's file was not found in {Path.cwd()}. Save it there (File > Save "
            f"Notebook As... {stem}.ipynb), then run this cell again."
        )
        return None
    not_run = cells_not_run(notebook)
    if not_run:  # e.g. saved before Run all finished: the zip holds the file as last saved
        print(
            f"Warning: the saved notebook has {not_run} code cells that have not run. Save it "
            "now (File > Save), then run this cell again."
        )
    html = notebook.with_suffix(".html")
    converted = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--log-level", "ERROR", notebook.name],
        cwd=notebook.parent,
        capture_output=True,
        text=True,
    )
    if converted.returncode != 0:
        last = (converted.stderr.strip().splitlines() or ["?"])[-1]
        print(f"The HTML copy could not be written ({last}); hand in {notebook.name} itself.")
        return None
    before = set(Path.cwd().glob("*.zip"))
    grader.export(os.path.relpath(notebook), pdf=False, files=[os.path.relpath(html)])
    made = sorted(set(Path.cwd().glob("*.zip")) - before)
    if made:
        print(f"Hand in {made[-1].name} (it holds {notebook.name} and {html.name}).")
    return made[-1] if made else None
