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
import shutil
import subprocess
import sys
import tempfile
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
