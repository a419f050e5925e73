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
LaTeX or a headless browser).
"""

from __future__ import annotations

import argparse
import json
import os
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


def adjust_student_notebook(path: Path, stem: str) -> None:
    """Move otter's init cell below the setup cell (as ``init_cell_source``) and make the hand-in
    cell write the HTML copy it zips."""
    notebook = nbformat.read(path, as_version=4)
    init = next(cell for cell in notebook.cells if _is_otter_init(cell))
    notebook.cells.remove(init)
    init.source = init_cell_source(stem)
    setup_index = next((i for i, cell in enumerate(notebook.cells) if _is_setup(cell)), -1)
    notebook.cells.insert(setup_index + 1, init)
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
        "import os\n"
        f'if os.path.exists("{stem}.ipynb"):\n'
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


# ---- the autograder zip's own grading entry (same verdict code as make grade) ----

# The libraries the notebook needs at grading time, pinned as the `local` extra pins them, plus
# the executor (nbclient, ipykernel, nbformat) at this venv's versions.
GRADING_REQUIREMENTS = (
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "matplotlib",
    "scikit-learn",
    "scipy",
    "tqdm",
    "filelock",
    "ipywidgets",
    "nbclient",
    "ipykernel",
    "nbformat",
    "nbconvert",
)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (network allowed).
set -euo pipefail
ROOT=${AUTOGRADER_ROOT:-/autograder}
COURSE="$ROOT/source/course"
if [ -z "${COURSE_PYTHON:-}" ]; then
  # The sandbox (best effort: without it the entry point grades unconfined and says so).
  (apt-get update -qq && apt-get install -y -qq bubblewrap util-linux) || true
  python3.11 -m venv "$ROOT/venv"
  COURSE_PYTHON="$ROOT/venv/bin/python"
fi
"$COURSE_PYTHON" -m pip install --quiet -r "$COURSE/requirements.txt"
"$COURSE_PYTHON" -m pip install --quiet --no-deps "$COURSE"/neural_codes_course-*.whl
cd "$COURSE" && PYTHONPATH="$COURSE" "$COURSE_PYTHON" -m instructor.grading.gradescope \\
  --prepare --root "$ROOT"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission: grades it, writes $ROOT/results/results.json.
set -euo pipefail
ROOT=${AUTOGRADER_ROOT:-/autograder}
COURSE_PYTHON=${COURSE_PYTHON:-$ROOT/venv/bin/python}
cd "$ROOT/source/course"
PYTHONPATH="$ROOT/source/course" exec "$COURSE_PYTHON" -m instructor.grading.gradescope \\
  --root "$ROOT"
"""


def grading_requirements() -> str:
    """``requirements.txt`` of the autograder zip: pins of the `local` extra, else this venv's."""
    import importlib.metadata
    import tomllib

    pins = {}
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in extra["optional-dependencies"]["local"]:
        name, _, version = line.partition("==")
        pins[name.strip().lower()] = version.strip()
    lines = []
    for name in GRADING_REQUIREMENTS:
        version = pins.get(name) or importlib.metadata.version(name)
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def add_grading_entry(
    autograder: Path,
    stem: str,
    master: Path,
    wheel: Path,
    questions: list[dict],
    hidden: Path | None = None,
    profile: str | None = None,
) -> bool:
    """Add to otter's autograder zip what grades with ``make grade``'s verdict code, and make its
    ``setup.sh`` / ``run_autograder`` use it (see instructor/grading/gradescope.py).

    ``hidden``: the notebook's hidden module (default: instructor/grading/hidden/nb<NN>.py);
    without one the zip stays otter's own, and False is returned.
    """
    import zipfile

    from instructor.grading import GRADER_VERSION, verdicts

    name = verdicts.hidden_module_name(stem)
    hidden = hidden or ROOT / "instructor" / "grading" / "hidden" / f"{name}.py"
    if not hidden.is_file():
        return False
    grading = ROOT / "instructor" / "grading"
    config = {
        "notebook": stem,
        "profile": profile or os.environ.get("COURSE_PROFILE", "sample"),
        "grader_version": GRADER_VERSION,
        "questions": questions,
    }
    files = {
        "course/instructor/__init__.py": "",
        "course/instructor/grading/hidden/__init__.py": "",
        f"course/instructor/grading/hidden/{name}.py": hidden.read_text(),
        f"course/master/{stem}.ipynb": master.read_text(),
        "course/requirements.txt": grading_requirements(),
        "course/grading.json": json.dumps(config, indent=1),
    }
    for path in sorted(grading.glob("*.py")):
        files[f"course/instructor/grading/{path.name}"] = path.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        rebuilt = Path(tmp) / autograder.name
        with zipfile.ZipFile(autograder) as old, zipfile.ZipFile(rebuilt, "w") as new:
            for item in old.infolist():
                if item.filename not in ("setup.sh", "run_autograder"):
                    new.writestr(item, old.read(item))
            for path, text in files.items():
                new.writestr(path, text)
            new.write(wheel, f"course/{wheel.name}")
            for path, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
                info = zipfile.ZipInfo(path)
                info.external_attr = 0o755 << 16
                new.writestr(info, text)
        shutil.copyfile(rebuilt, autograder)
    return True


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
    for master in masters:  # the autograder zips grade with make grade's verdict code
        info = json.loads((args.out / "autograder" / f"{master.stem}-questions.json").read_text())
        zip_path = args.out / "autograder" / f"{master.stem}-autograder.zip"
        if not add_grading_entry(zip_path, master.stem, master.resolve(), wheel, info["questions"]):
            print(f"{master.name}: no hidden tests yet; its autograder zip is otter's own")
    print(
        f"wheel: {wheel.relative_to(args.out.parent) if args.out.is_relative_to(ROOT) else wheel}"
    )
    print(f"Give students {args.out / 'students'}; keep {args.out / 'autograder'} private.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
