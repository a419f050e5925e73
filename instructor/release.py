"""Build the course release in dist/, offline: student notebooks, autograders, the course wheel.

    python -m instructor.release [--out dist] [notebooks/*.ipynb]       (what `make release` runs)

dist/
    students/     <stem>.ipynb for every master notebook (solutions, model answers and hidden
                  tests removed by `otter assign`) and neural_codes_course-<version>.whl:
                  what students get (upload both to Colab, or put them beside each other).
    autograder/   <stem>-autograder.zip (otter's autograder: all tests incl. hidden ones) and
                  <stem>-questions.json (names, points, manual or not): PRIVATE, for `make grade`.

Otter writes the student notebook; two things are adjusted afterwards, because otter 7 has no
option for them: its init cell moves below the course's setup cell, installs otter-grader
when it is missing (Colab does not ship it) and never ends in a traceback (no network, or no
public tests reachable: one message, and the check cells say they are unavailable), and the
hand-in cell writes the notebook's HTML copy before otter zips it (otter's own PDF route needs
LaTeX or a headless browser). The setup and init cells are shown collapsed (JupyterLab's
``jupyter.source_hidden``, Colab's ``cellView: "form"``): students run them, not read them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

from instructor import assignment_config

ROOT = Path(__file__).resolve().parent.parent
OTTER_PIN = "otter-grader==7.0.0"


WHEEL = "neural_codes_course-*.whl"
PUBLIC_TESTS = "_public_tests"  # helpers/_public_tests/t<stem>/<question>.py, in the wheel only


def public_tests_package(stem: str) -> str:
    """The wheel's package of a notebook's public tests (a stem may start with a digit)."""
    return f"t{stem}"


def write_public_tests(package_dir: Path, tests_by_notebook: dict[str, dict]) -> None:
    """Public tests as otter OK-format test files, one package per notebook.

    Otter 7 on Colab refuses tests kept in the notebook's metadata (it cannot read the notebook
    file there), so the student notebook's init cell points otter at these files when the wheel
    is installed.
    """
    root = package_dir / PUBLIC_TESTS
    root.mkdir()
    (root / "__init__.py").write_text(
        '"""Public tests of the student notebooks (make release)."""\n'
    )
    for stem, tests in tests_by_notebook.items():
        folder = root / public_tests_package(stem)
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for question, test in tests.items():
            public = {
                **test,
                "suites": [
                    {**suite, "cases": [case for case in suite["cases"] if not case.get("hidden")]}
                    for suite in test["suites"]
                ],
            }
            (folder / f"{question}.py").write_text(f"OK_FORMAT = True\n\ntest = {public!r}\n")


def build_wheel(dest: Path, public_tests: dict[str, dict] | None = None) -> Path:
    """Build the ``helpers`` wheel into ``dest`` without network or build isolation.

    Built from a copy of the package sources in a temporary folder, so setuptools' ``build/`` and
    ``*.egg-info`` never land in the checkout. ``public_tests`` ({notebook stem: otter metadata
    tests}) go into the wheel as ``helpers/_public_tests``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(
            ROOT / "helpers",
            source / "helpers",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", PUBLIC_TESTS),
        )
        if public_tests:
            write_public_tests(source / "helpers", public_tests)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        before = set(dest.glob("*.whl"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "-w",
                str(dest),
                str(source),
            ],
            check=True,
        )
    built = sorted(set(dest.glob("neural_codes_course-*.whl")) - before) or sorted(
        dest.glob("neural_codes_course-*.whl")
    )
    return built[-1]


def questions_of(master: nbformat.NotebookNode) -> list[dict]:
    """Every ``# BEGIN QUESTION`` config of a master notebook: name, points, manual."""
    found = []
    for cell in master.cells:
        if cell.cell_type == "raw" and cell.source.lstrip().upper().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(cell.source) or {}
            found.append(
                {
                    "name": str(config["name"]),
                    "points": config.get("points"),
                    "manual": bool(config.get("manual", False)),
                }
            )
    return found


def _is_otter_init(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith("# Initialize Otter")


def _is_setup(cell) -> bool:
    return cell.cell_type == "code" and "session.setup_notebook(" in cell.source


# The student notebook's otter init cell (see init_cell_source); __NAME__ placeholders are filled
# in by plain replacement, so the cell's own braces stay as they are.
INIT_CELL_TEMPLATE = """\
# Initialize Otter: the grader.check cells below and the hand-in cell at the end.
# Colab does not ship otter-grader: it is installed once (it leaves TensorFlow, Keras and numpy).
import importlib.resources, importlib.util, os, subprocess, sys
no_checks = None  # why grader.check cannot run here, if it cannot
if importlib.util.find_spec("otter") is None:
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "__OTTER__"],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        no_checks = ("otter-grader could not be installed "
                     f"({(pip.stderr.strip().splitlines() or ['?'])[-1]}). "
                     "Connect to the internet, then run this cell again.")
# The public tests: in this notebook's metadata when its file is in this folder; else (on Colab,
# where the notebook lives in Drive) in the course wheel's helpers package.
tests = (importlib.resources.files("helpers") / "__TESTS__" / "__PACKAGE__"
         if importlib.util.find_spec("helpers") else None)
here, in_wheel = os.path.exists("__NOTEBOOK__"), tests is not None and tests.is_dir()
if not (no_checks or here or in_wheel):
    no_checks = ("The public tests are missing: this notebook's file is not in this folder and the "
                 "installed course package has none. Upload __WHEEL__ from the course release "
                 "next to this notebook, run `%pip install --no-deps --force-reinstall __WHEEL__`, "
                 "then run this cell again.")
if not no_checks:
    try:
        import otter
        grader = otter.Notebook("__NOTEBOOK__" if here else None,
                                **({"tests_dir": str(tests)} if in_wheel else {}))
    except Exception as error:  # whatever stops otter: one line, no traceback
        no_checks = f"otter could not start ({type(error).__name__}: {error})."
if no_checks:  # a hand-written stand-in (otter has no mode without tests): says why, never raises
    class NoChecks:
        def check(self, *args, **kwargs): print("This check is unavailable.", no_checks)
        def export(self, *args, **kwargs): print("No hand-in zip.", no_checks)
        check_all = check
    grader = NoChecks()
    print("The grader.check cells are unavailable.", no_checks)"""


def init_cell_source(stem: str) -> str:
    """The student notebook's otter init cell; it never ends in a traceback.

    When otter-grader cannot be installed (no network) or the public tests cannot be found (the
    notebook file is not in the working folder, as on Colab, and the installed ``helpers`` has no
    ``_public_tests``, as when installed from the repository URL), it prints one message saying
    what is missing and what to do, and ``grader`` becomes a stand-in whose ``check``,
    ``check_all`` and ``export`` print that they are unavailable instead of raising.
    """
    fill = {
        "__OTTER__": OTTER_PIN,
        "__TESTS__": PUBLIC_TESTS,
        "__WHEEL__": WHEEL,
        "__PACKAGE__": public_tests_package(stem),
        "__NOTEBOOK__": f"{stem}.ipynb",
    }
    source = INIT_CELL_TEMPLATE
    for placeholder, value in fill.items():
        source = source.replace(placeholder, value)
    return source


def collapse_source(cell) -> None:
    """Show a code cell collapsed (its output stays visible): JupyterLab and Jupyter Notebook 7
    read ``jupyter.source_hidden``, Colab reads ``cellView: "form"``."""
    cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    cell.metadata["cellView"] = "form"


def adjust_student_notebook(path: Path, stem: str) -> None:
    """Move otter's init cell below the setup cell (as ``init_cell_source``), show both collapsed,
    and make the hand-in cell write the HTML copy it zips, warning when the saved file has code
    cells that have not run (after Run all without saving, otter zips the file as last saved)."""
    notebook = nbformat.read(path, as_version=4)
    init = next(cell for cell in notebook.cells if _is_otter_init(cell))
    notebook.cells.remove(init)
    init.source = init_cell_source(stem)
    setup_index = next((i for i, cell in enumerate(notebook.cells) if _is_setup(cell)), -1)
    notebook.cells.insert(setup_index + 1, init)
    for cell in (notebook.cells[setup_index], init) if setup_index >= 0 else (init,):
        collapse_source(cell)
    export = next(
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "grader.export(" in cell.source
    )
    call = next(line for line in export.source.splitlines() if line.startswith("grader.export("))
    export.source = (
        "# Save the notebook first (File > Save), then run this cell: it writes an HTML copy "
        "of the\n"
        "# saved notebook and the zip to hand in (executed notebook + HTML).\n"
        "import json\n"
        "import os\n"
        f'if os.path.exists("{stem}.ipynb"):\n'
        f'    with open("{stem}.ipynb", encoding="utf-8") as saved:\n'
        "        not_run = sum(\n"
        '            cell["cell_type"] == "code" and cell.get("execution_count") is None\n'
        '            and "grader.export(" not in "".join(cell["source"])\n'
        '            for cell in json.load(saved)["cells"]\n'
        "        )\n"
        "    if not_run:  # e.g. saved before Run all finished: the zip holds the file as saved\n"
        '        print("Warning: the saved notebook has", not_run, "code cells that have "\n'
        '              "not run.", "Save it now (File > Save), then run this cell again.")\n'
        '    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", '
        '"--log-level", "ERROR",\n'
        f'                    "{stem}.ipynb"], check=True)\n'
        f"    {call}\n"
        "else:  # on Colab the notebook lives in Drive, not in the runtime's folder\n"
        f'    print("{stem}.ipynb is not in this folder (on Colab it lives in Drive). '
        'After Run all, "\n'
        '          "hand in the notebook itself: File > Download > Download .ipynb.")'
    )
    nbformat.validate(notebook)
    nbformat.write(notebook, path)


def release_notebook(master_path: Path, out: Path) -> dict:
    """Run ``otter assign`` on one master notebook and file its outputs under ``out``."""
    stem = master_path.stem
    master = nbformat.read(master_path, as_version=4)
    questions = questions_of(master)
    if not questions:
        raise SystemExit(f"{master_path}: no '# BEGIN QUESTION' cells; not a master notebook yet.")
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / stem
        subprocess.run(
            [
                sys.executable,
                "-m",
                "otter",
                "assign",
                "--no-run-tests",
                "--no-pdfs",
                str(master_path),
                str(result),
            ],
            check=True,
            cwd=master_path.parent,
        )
        student = out / "students" / f"{stem}.ipynb"
        student.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(result / "student" / f"{stem}.ipynb", student)
        zips = sorted((result / "autograder").glob(f"{stem}-autograder_*.zip"))
        autograder = out / "autograder" / f"{stem}-autograder.zip"
        autograder.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(zips[-1], autograder)
    adjust_student_notebook(student, stem)
    info = {"notebook": stem, "questions": questions}
    (out / "autograder" / f"{stem}-questions.json").write_text(json.dumps(info, indent=1))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    masters = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if assignment_config.main(["--check", *map(str, masters)]) != 0:
        print(
            "The ASSIGNMENT CONFIG cells differ from the template: run "
            "`python -m instructor.assignment_config notebooks/*.ipynb` and commit.",
            file=sys.stderr,
        )
        return 1
    # Files of an earlier release go (only the kinds this script writes; nothing else is deleted).
    for pattern in (
        "students/*.ipynb",
        "students/neural_codes_course-*.whl",
        "autograder/*-autograder.zip",
        "autograder/*-questions.json",
    ):
        for old in args.out.glob(pattern):
            old.unlink()
    public_tests = {}
    for master in masters:
        info = release_notebook(master.resolve(), args.out)
        points = sum(q["points"] or 0 for q in info["questions"])
        print(f"{master.name}: {len(info['questions'])} questions, {points} points")
        student = nbformat.read(args.out / "students" / master.name, as_version=4)
        public_tests[master.stem] = student.metadata.get("otter", {}).get("tests", {})
    wheel = build_wheel(args.out / "students", public_tests)
    print(
        f"wheel: {wheel.relative_to(args.out.parent) if args.out.is_relative_to(ROOT) else wheel}"
    )
    print(f"Give students {args.out / 'students'}; keep {args.out / 'autograder'} private.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
