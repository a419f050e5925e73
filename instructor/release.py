"""Build the course release in dist/, offline: student notebooks, autograders, the course wheel.

    python -m instructor.release [--out dist] [notebooks/*.ipynb]       (what `make release` runs)

    python -m instructor.release --students-url https://github.com/<org>/<repo>/blob/main/students

dist/
    students/     <stem>.ipynb for every master notebook (solutions, model answers and hidden
                  tests removed by `otter assign`), neural_codes_course-<version>.whl and
                  README.md, the students' guide (open, set up, check, hand in; with a students
                  URL its Colab links, and the setup cells install the wheel from there): what
                  students get, complete on its own.
    autograder/   <stem>-autograder.zip (otter's autograder: all tests incl. hidden ones) and
                  <stem>-questions.json (names, points, manual or not): PRIVATE, for `make grade`.

Otter writes the student notebook; the course adjusts it afterwards, as otter 7 has no option
for it: otter's init cell becomes the hidden grading cell below the setup cell, one call,
``grader = grading.start("<stem>")`` (helpers.session.grading: installs otter-grader when missing
without touching the runtime's packages, never ends in a traceback), and the hand-in section and
cell become the course's hand-in, the same words for Colab and Jupyter
(``grading.hand_in(grader, "<stem>")``: on Colab, what to download; locally, the HTML copy and the
zip; otter's own PDF route needs LaTeX or a headless browser).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import nbformat
import yaml

from helpers.session import grading
from instructor import assignment_config, generated_cells, setup_cell

ROOT = Path(__file__).resolve().parent.parent

WHEEL = grading.WHEEL
PUBLIC_TESTS = grading.PUBLIC_TESTS  # helpers/_public_tests/t<stem>/<question>.py, wheel only


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


def init_cell_source(stem: str) -> str:
    """The student notebook's grading cell, a hidden form: one call into the course package.

    ``helpers.session.grading.start`` installs otter-grader when it is missing (leaving the
    runtime's packages as they are), finds the public tests (the notebook's metadata, else the
    course wheel) and returns otter's ``Notebook``, or a stand-in that says why the checks are
    unavailable; it never ends in a traceback.
    """
    return (
        "# @title Grading tools: the grader.check cells below (double-click to see the code)\n"
        "from helpers.session import grading\n"
        "\n"
        f'grader = grading.start("{stem}")'
    )


def handin_cell_source(stem: str) -> str:
    """The student notebook's last cell: ``helpers.session.grading.hand_in`` (see its docs)."""
    return (
        "# Run all cells first and save; see the hand-in steps above.\n"
        "from helpers.session import grading\n"
        "\n"
        f'grading.hand_in(grader, "{stem}")'
    )


def handin_text() -> str:
    """The hand-in section's text (otter's export-cell heading, rewritten: one voice)."""
    return "## Hand in\n\n" + assignment_config.HANDIN


def adjust_student_notebook(path: Path, stem: str) -> None:
    """Replace otter's init cell with the grading cell, below the setup cell; make the hand-in
    section and cell say and do the course's hand-in (:func:`handin_cell_source`)."""
    notebook = nbformat.read(path, as_version=4)
    init = next(cell for cell in notebook.cells if _is_otter_init(cell))
    notebook.cells.remove(init)
    init.source = init_cell_source(stem)
    generated_cells.merge(init.metadata, setup_cell.HIDDEN)
    setup_index = next((i for i, cell in enumerate(notebook.cells) if _is_setup(cell)), -1)
    notebook.cells.insert(setup_index + 1, init)
    index, export = next(
        (i, cell)
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and "grader.export(" in cell.source
    )
    export.source = handin_cell_source(stem)
    heading = notebook.cells[index - 1]
    if heading.cell_type == "markdown" and heading.source.startswith("## Submission"):
        heading.source = handin_text()
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


# ---- the students' folder: the guide, the Colab links, the setup cell's wheel URL

GITHUB, COLAB = "https://github.com/", "https://colab.research.google.com/github/"


def students_url(given: str | None) -> str | None:
    """Where the students' folder is published: ``--students-url``, else ``[tool.course]
    students-url`` of pyproject.toml, else None; a GitHub folder address,
    ``https://github.com/<org>/<repo>/blob/<branch>/<folder>`` (what Colab can open)."""
    if given is None:
        with open(ROOT / "pyproject.toml", "rb") as file:
            given = tomllib.load(file).get("tool", {}).get("course", {}).get("students-url")
    if given is None:
        return None
    url = given.rstrip("/")
    if not url.startswith(GITHUB) or "/blob/" not in url:
        raise SystemExit(
            f"students-url {given!r}: give the GitHub address of the published students folder, "
            f"{GITHUB}<org>/<repo>/blob/<branch>/<folder> (Colab opens notebooks from GitHub)."
        )
    return url


def colab_link(url: str, stem: str) -> str:
    """The *Open in Colab* address of student notebook ``stem`` published under ``url``."""
    return f"{COLAB}{url.removeprefix(GITHUB)}/{stem}.ipynb"


def wheel_url(url: str, wheel: str) -> str:
    """The download address of the course wheel published under ``url`` (pip installs it)."""
    return f"{url.replace('/blob/', '/raw/', 1)}/{wheel}"


def point_setup_cells_at(students: Path, wheel_address: str) -> None:
    """Make the student notebooks' setup cells install the published wheel (it has the public
    tests) when none is beside the notebook, instead of the repository (which has none)."""
    for path in sorted(students.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cell = next((cell for cell in notebook.cells if _is_setup(cell)), None)
        if cell is None:
            continue
        cell.source = "\n".join(
            f'COURSE_URL = "{wheel_address}"' if line.startswith("COURSE_URL = ") else line
            for line in cell.source.splitlines()
        )
        nbformat.write(notebook, path)


def title_of(path: Path) -> str:
    """A notebook's title: the first heading of its first markdown cell (else its stem)."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def student_guide(students: Path, wheel: str, url: str | None) -> str:
    """The students' one-page guide, ``dist/students/README.md``: open, set up, check, hand in."""
    rows = [
        f"| [`{path.name}`]({path.name}) | {title_of(path)} | "
        + (f"[Open in Colab]({colab_link(url, path.stem)}) |" if url else "upload it to Colab |")
        for path in sorted(students.glob("*.ipynb"))
    ]
    return "\n".join(
        [
            "# The course notebooks: how to work on them",
            "",
            f"This folder has one notebook per assignment and the course package `{wheel}`.",
            "",
            "| Notebook | What it is about | Colab |",
            "| --- | --- | --- |",
            *rows,
            "",
            "## On Colab",
            "",
            "1. Open the notebook with its *Open in Colab* link above"
            + (
                ""
                if url
                else " (or in Colab: File > Upload notebook), and upload the course package "
                f"`{wheel}` in the Files pane on the left"
            )
            + ". Then File > Save a copy in Drive, so your work is kept.",
            "2. Runtime > Change runtime type: pick a GPU (T4).",
            "3. Runtime > Run all. The first cell, *Setup*, installs the course package (a "
            "minute); the second, *Grading tools*, gets the checks ready. Tick `USE_DRIVE` in the "
            "Setup cell to keep trained models on Google Drive, so a disconnected runtime loses "
            "no training (Colab asks to connect to Drive). The course package may also be put in "
            "`MyDrive/neural-codes-course/` with `USE_DRIVE` ticked.",
            "",
            "## In Jupyter on your computer",
            "",
            "1. Put the notebooks and the course package in one folder, with Python 3.11 or newer "
            f"and JupyterLab: `pip install {wheel} jupyterlab`, then `jupyter lab` in that folder.",
            "2. Open a notebook and Run > Run All Cells. The *Setup* cell installs the course "
            "package from this folder if it is not installed yet.",
            "",
            "## Check your answers",
            "",
            "Write your code where a cell shows `...` (keep the function's name and arguments), "
            'then run the `grader.check("q...")` cell below it: it runs the question\'s public '
            "tests and says which fail. Passing them does not guarantee full marks: there are "
            "hidden tests too. Written answers go in the cells that say _Type your answer here_.",
            "",
            "## How it is graded",
            "",
            "The grader runs your notebook from top to bottom again, on a machine without "
            "internet, in the *grading* profile: the same steps on a few pictures (the `grading=` "
            "sizes in the notebook's settings cell) and one epoch per training run, so a cell "
            "that only works on your own run's files or data fails there. Then hidden tests call "
            "your functions on their own inputs. Your written answers and figures are read from "
            "the outputs of your own run, the notebook you hand in.",
            "",
            "## Hand in",
            "",
            assignment_config.HANDIN,
            "",
        ]
    )


def masters_linked(students: Path) -> list[str]:
    """Links in the students' folder (guide, notebooks) that point at the master notebooks."""
    found = []
    for path in sorted(students.glob("*")):
        if path.suffix in (".md", ".ipynb"):
            text = path.read_text(encoding="utf-8")
            found += [f"{path.name}: {link}" for link in re.findall(r"\S*notebooks/\S*", text)]
    return found


def finish_students_folder(students: Path, wheel: Path, url: str | None) -> Path:
    """The guide (and, with a URL, the setup cells' wheel address); fails if a link in the folder
    points at the master notebooks."""
    if url:
        point_setup_cells_at(students, wheel_url(url, wheel.name))
    guide = students / "README.md"
    guide.write_text(student_guide(students, wheel.name, url), encoding="utf-8")
    leaks = masters_linked(students)
    if leaks:
        raise SystemExit("The students' folder links to master notebooks: " + "; ".join(leaks))
    return guide


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

    from instructor.grading import GRADER_VERSION, grading_profile, verdicts

    name = verdicts.hidden_module_name(stem)
    hidden = hidden or ROOT / "instructor" / "grading" / "hidden" / f"{name}.py"
    if not hidden.is_file():
        return False
    grading = ROOT / "instructor" / "grading"
    config = {
        "notebook": stem,
        "profile": grading_profile(profile),
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
    parser.add_argument(
        "--students-url",
        help="GitHub address where dist/students is published (https://github.com/<org>/<repo>/"
        "blob/<branch>/<folder>): Colab links in its README.md; default: [tool.course] "
        "students-url of pyproject.toml",
    )
    args = parser.parse_args(argv)
    url = students_url(args.students_url)
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
        "students/README.md",
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
    guide = finish_students_folder(args.out / "students", wheel, url)
    print(f"student guide: {guide}" + ("" if url else " (no --students-url: no Colab links)"))
    print(f"Give students {args.out / 'students'}; keep {args.out / 'autograder'} private.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
