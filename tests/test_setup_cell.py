"""The generated setup cell's three ways in, and the Drive option of helpers.session; the
released notebook's grading cell (helpers.session.grading) and hand-in, on Colab and locally.

Each path runs the cell's real source in a separate Python with IPython (what a notebook kernel
runs), in a throw-away virtual environment that sees this venv's packages (TensorFlow, IPython,
...) but not the course package, so `helpers` is missing until the cell installs it.
"""

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

# Building the course wheel offline needs setuptools >= 77 (SPDX `license`) in this environment:
# the `local` extra pins it; make compat's no-extras venvs may hold Python's bundled older one.
pytest.importorskip(
    "setuptools", minversion="77", reason="setuptools >= 77 (the `local` extra) is not installed"
)

from helpers import session  # noqa: E402
from helpers.session import grading, paths  # noqa: E402
from instructor import assignment_config, release, setup_cell  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# The cell, run as a notebook kernel runs it: IPython shows an error as its traceback would.
RUNNER = """
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
result = shell.run_cell(open(sys.argv[1]).read())
print("SETUP-IN-NAMESPACE", "SETUP" in shell.user_ns)
print("CELL-FAILED", result.error_in_exec is not None)
"""


@pytest.fixture
def bare_venv(tmp_path_factory):
    """A new venv with pip whose sys.path adds this venv's packages, minus the course itself."""
    base = tmp_path_factory.mktemp("bare")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ours = Path(next(p for p in sys.path if p.endswith("site-packages")))
    overlay = base / "overlay"
    overlay.mkdir()
    # Everything but the course: its metadata, .pth hooks (editable install) and the `helpers`
    # folder itself (a regular install, as in `make compat`'s venvs).
    for entry in ours.iterdir():
        if "neural_codes_course" in entry.name or entry.suffix == ".pth" or entry.name == "helpers":
            continue
        (overlay / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "course_test_deps.pth").write_text(str(overlay) + "\n")
    return venv / "bin" / "python"


def run_cell(python, folder, source):
    cell = folder / "setup_cell.py"
    cell.write_text(source)
    runner = folder / "runner.py"
    runner.write_text(RUNNER)
    # A student's runtime: none of this harness's pip settings (make compat's PIP_CONSTRAINT).
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(
        {
            "PIP_NO_INDEX": "1",
            "COURSE_PROFILE": "sample",
            "COURSE_DATA_DIR": str(folder / "data"),
            "PYTHONPATH": "",
        }
    )
    return subprocess.run(
        [str(python), str(runner), str(cell)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # end-to-end (make check)
def test_cell_uses_the_installed_package_without_calling_pip(tmp_path):
    # Had the cell called pip, the course URL (no network here) would have failed it.
    result = run_cell(sys.executable, tmp_path, setup_cell.setup_cell_source())
    assert "SETUP-IN-NAMESPACE True" in result.stdout, result.stdout + result.stderr
    assert "CELL-FAILED False" in result.stdout


@pytest.mark.slow  # end-to-end (make check)
def test_cell_installs_the_course_wheel_beside_the_notebook_without_network(bare_venv, tmp_path):
    no_path = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    check = subprocess.run(
        [str(bare_venv), "-c", "import helpers"], capture_output=True, cwd=tmp_path, env=no_path
    )
    assert check.returncode != 0, "the bare venv must not see the course package"
    wheel = release.build_wheel(tmp_path)
    assert wheel.name.startswith("neural_codes_course-") and wheel.parent == tmp_path
    result = run_cell(bare_venv, tmp_path, setup_cell.setup_cell_source())
    assert "SETUP-IN-NAMESPACE True" in result.stdout, result.stdout + result.stderr
    assert "Profile: sample" in result.stdout
    where = subprocess.run(
        [str(bare_venv), "-c", "import helpers; print(helpers.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=no_path,
    )
    assert str(bare_venv.parent.parent) in where.stdout  # installed into the venv, from the wheel


@pytest.mark.slow  # end-to-end (make check)
def test_cell_without_package_wheel_or_url_stops_with_the_two_things_to_do(bare_venv, tmp_path):
    source = setup_cell.setup_cell_source()
    url_line = next(line for line in source.splitlines() if line.startswith("COURSE_URL = "))
    source = source.replace(url_line, f'COURSE_URL = "{tmp_path / "no-such-repository"}"')
    result = run_cell(bare_venv, tmp_path, source)
    shown = result.stdout + result.stderr
    assert "CELL-FAILED True" in shown and "SETUP-IN-NAMESPACE False" in shown
    assert "Put neural_codes_course-*.whl next to" in shown and "set COURSE_URL" in shown
    assert "Traceback" not in shown and 'File "' not in shown


def test_cell_pins_no_version_of_tensorflow_keras_or_numpy_and_names_the_tagged_url():
    source = setup_cell.setup_cell_source()
    project = setup_cell._project()
    assert f'COURSE_URL = "git+{project["urls"]["Repository"]}@v{project["version"]}"' in source
    assert "tensorflow==" not in source and "numpy==" not in source
    assert "session.setup_notebook(use_drive=USE_DRIVE)" in source and "USE_DRIVE = False" in source


def test_use_drive_outside_colab_says_it_only_applies_on_colab(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    line = session.keep_outputs_on_drive(True)
    assert "only applies on Colab" in line
    assert session.output_dir("nb") == tmp_path / "outputs" / session.get_profile() / "nb"


def test_use_drive_on_colab_mounts_drive_and_moves_outputs_but_not_data(monkeypatch, tmp_path):
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(paths, "DRIVE_MOUNT", tmp_path / "drive")
    monkeypatch.setattr(paths, "DRIVE_FOLDER", tmp_path / "drive" / "MyDrive" / "course")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "local"))
    try:
        line = session.keep_outputs_on_drive(True)
        assert mounted == [str(tmp_path / "drive")]
        expected = (
            tmp_path / "drive" / "MyDrive" / "course" / "outputs" / session.get_profile() / "nb"
        )
        assert session.output_dir("nb") == expected and expected.is_dir()
        assert session.data_dir() == tmp_path / "local" and "Google Drive" in line
    finally:
        session.keep_outputs_on_drive(False)
    assert session.output_dir("nb") == tmp_path / "local" / "outputs" / session.get_profile() / "nb"


# ---- the first cells a student sees: short, hidden (Colab form, collapsed in JupyterLab)


def visible_lines(source: str) -> int:
    return len([line for line in source.splitlines() if line.strip()])


def test_setup_cell_is_a_short_colab_form_with_a_drive_checkbox():
    source = setup_cell.ruff_formatted(setup_cell.setup_cell_source())
    lines = source.splitlines()
    assert lines[0].startswith("# @title ") and len(lines) <= 32
    assert 'USE_DRIVE = False  # @param {type:"boolean"}' in lines
    assert max(map(len, lines)) <= 100
    lint = subprocess.run(  # as `make lint` checks the notebooks (E402: imports after settings)
        [sys.executable, "-m", "ruff", "check", "--ignore", "E402", "--stdin-filename", "c", "-"],
        input=source + "\n",  # a cell has no final newline; a file does
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_notebook_holds_the_setup_cell_hidden(path):
    cell = setup_cell.first_code_cell(nbformat.read(path, as_version=4), path)
    assert cell.source == setup_cell.ruff_formatted(setup_cell.setup_cell_source())
    assert cell.metadata["cellView"] == "form" and cell.metadata["jupyter"]["source_hidden"]


def test_grading_and_hand_in_cells_are_one_call_each():
    init = release.init_cell_source("01_demo")
    assert init.startswith("# @title ") and visible_lines(init) == 3
    assert 'grader = grading.start("01_demo")' in init
    assert visible_lines(release.handin_cell_source("01_demo")) == 3
    assert "Download .ipynb" in release.handin_text() and "hand in the zip" in release.handin_text()


def fake_colab(monkeypatch, on_mount=lambda path: None):
    """A ``google.colab`` module whose ``drive.mount`` records its calls (and runs ``on_mount``)."""
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=lambda path: (mounted.append(path), on_mount(path)))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.drive", colab.drive)
    return mounted


def test_the_setup_cell_mounts_drive_before_it_looks_for_the_wheel_there(monkeypatch, tmp_path):
    drive = tmp_path / "drive"
    wheel = drive / "MyDrive" / "neural-codes-course" / "neural_codes_course-0.1.0-py3-none-any.whl"

    def mount(path):  # Drive's files appear only once it is mounted
        wheel.parent.mkdir(parents=True)
        wheel.write_text("")

    mounted = fake_colab(monkeypatch, mount)
    calls = []
    monkeypatch.setattr(
        subprocess,
        "run",
        lambda args, **kw: (calls.append(args), types.SimpleNamespace(returncode=0))[1],
    )
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "helpers" else real_find_spec(name, *a),
    )
    monkeypatch.chdir(tmp_path)
    source = setup_cell.setup_cell_source().replace(setup_cell.DRIVE_MOUNT, str(drive))
    source = source.replace("USE_DRIVE = False", "USE_DRIVE = True")
    exec(source.split("from helpers import session")[0], {})  # up to the course's own code
    assert mounted == [str(drive)]
    (args,) = calls
    assert str(wheel) in args and args[1:4] == ["-m", "pip", "install"]
    pins = [arg for arg in args if "==" in arg]  # what pip must leave at its version
    assert all(pin.split("==")[0] in ("tensorflow", "keras", "numpy") for pin in pins)


# ---- the grading cell: helpers.session.grading.start


PUBLIC_Q9 = {
    "q9": {
        "name": "q9",
        "points": 2,
        "suites": [
            {
                "cases": [
                    {"code": ">>> assert total([1, 2]) == 3\n", "hidden": False, "locked": False}
                ],
                "scored": True,
                "setup": "",
                "teardown": "",
                "type": "doctest",
            }
        ],
    }
}


def not_on_colab(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def test_without_network_start_says_otter_could_not_be_installed(monkeypatch, tmp_path, capsys):
    not_on_colab(monkeypatch)
    monkeypatch.chdir(tmp_path)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "otter" else real_find_spec(name, *a),
    )
    calls = []

    def offline_pip(args, **kwargs):
        calls.append(args)
        stderr = "ERROR: No matching distribution found for otter-grader"
        return types.SimpleNamespace(returncode=1, stderr=stderr)

    monkeypatch.setattr(grading.subprocess, "run", offline_pip)
    monkeypatch.setattr(
        grading, "missing_requirements", lambda: [grading.OTTER, *grading.OTTER_RUNTIME]
    )
    grader = grading.start("09_demo")
    (args,) = calls
    assert "--no-deps" in args and grading.OTTER in args and "ipywidgets" not in " ".join(args)
    start = capsys.readouterr().out
    assert start.strip() == (
        "The grader.check cells are unavailable. otter-grader could not be "
        "installed (ERROR: No matching distribution found for otter-grader). "
        "Connect to the internet, then run this cell again."
    )
    grader.check("q9")
    grader.check_all()
    grader.export(pdf=False)
    check, check_all, export = capsys.readouterr().out.splitlines()
    assert check.startswith("This check is unavailable. otter-grader could not be installed")
    assert check_all.startswith("This check is unavailable.")
    assert export.startswith("No hand-in zip. otter-grader could not be installed")


def test_without_public_tests_start_says_what_to_do(monkeypatch, tmp_path, capsys):
    not_on_colab(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(grading, "public_tests", lambda stem: None)  # installed from the repository
    grader = grading.start("09_demo")
    start = capsys.readouterr().out
    assert start.count("\n") == 1 and "The grader.check cells are unavailable" in start
    assert "public tests are missing" in start and "this cell again" in start
    assert "%pip install --no-deps --force-reinstall neural_codes_course-*.whl" in start
    grader.check("q9")
    assert capsys.readouterr().out.startswith("This check is unavailable.")


def test_the_minimal_otter_install_is_the_local_extras_pin():
    import tomllib

    local = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert grading.OTTER in local["local"]
    assert all(pin.count("==") == 1 for pin in grading.OTTER_RUNTIME)


@pytest.mark.slow  # a fresh Python that imports otter (make check)
def test_start_on_colab_runs_the_wheels_public_tests(tmp_path):
    tests = tmp_path / "wheel" / "helpers"
    tests.mkdir(parents=True)
    release.write_public_tests(tests, {"09_demo": PUBLIC_Q9})
    work = tmp_path / "work"
    work.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), work / "09_demo.ipynb")  # ignored on Colab
    script = f"""
from helpers.session import grading
grading.public_tests = lambda stem: grading.Path({str(tests / "_public_tests" / "t09_demo")!r})
grader = grading.start("09_demo")
total = sum
print("-- right:", grader.check("q9"))
total = len
print("-- wrong:", grader.check("q9"))
"""
    env = {**os.environ, "COLAB_RELEASE_TAG": "test"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    start, right, wrong = done.stdout.split("-- ")
    assert start == ""  # nothing to say
    assert right.strip() == "right: q9 results: All test cases passed!"
    assert "wrong: q9 results:" in wrong and "assert total([1, 2]) == 3" in wrong


# ---- the hand-in cell: helpers.session.grading.hand_in, chosen by where the notebook runs


class RecordingGrader:
    def __init__(self):
        self.exports = []

    def export(self, nb_path, **kwargs):
        self.exports.append((nb_path, kwargs))
        Path(Path(nb_path).stem + "_2026.zip").write_text("")


def student_notebook(path: Path, assignment: str) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("total = sum")])
    notebook.metadata["otter"] = {"assignment_name": assignment}
    nbformat.write(notebook, path)
    return path


def test_hand_in_on_colab_says_what_to_download_even_beside_the_notebook(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    student_notebook(tmp_path / "09_demo.ipynb", "09_demo")  # its name matches: still Colab's way
    grader = RecordingGrader()
    assert grading.hand_in(grader, "09_demo") is None
    said = capsys.readouterr().out
    assert grading.HAND_IN_COLAB in said and grading.RUN_ALL in said
    assert grader.exports == [] and not list(tmp_path.glob("*.zip"))
    # The hand-in section of a released notebook says the same words.
    assert grading.HAND_IN_COLAB in release.handin_text()
    assert grading.HAND_IN_LOCAL in release.handin_text()


@pytest.mark.slow  # runs nbconvert (make check)
def test_hand_in_locally_finds_a_renamed_notebook_and_zips_it_with_its_html(
    monkeypatch, tmp_path, capsys
):
    not_on_colab(monkeypatch)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    student_notebook(tmp_path / "other.ipynb", "08_other")
    renamed = student_notebook(tmp_path / "09_demo (1).ipynb", "09_demo")
    grader = RecordingGrader()
    made = grading.hand_in(grader, "09_demo")
    ((nb_path, options),) = grader.exports
    assert nb_path == renamed.name and options["files"] == ["09_demo (1).html"]
    assert (tmp_path / "09_demo (1).html").is_file() and made.name.endswith(".zip")
    assert made.name in capsys.readouterr().out


def test_find_notebook_prefers_the_kernels_notebook_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    student_notebook(tmp_path / "09_demo.ipynb", "09_demo")
    elsewhere = student_notebook(tmp_path / "renamed.ipynb", "09_demo")
    monkeypatch.setenv("JPY_SESSION_NAME", str(elsewhere))
    assert grading.find_notebook("09_demo") == elsewhere
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert grading.find_notebook("09_demo") == tmp_path / "09_demo.ipynb"
    (tmp_path / "09_demo.ipynb").unlink()
    assert grading.find_notebook("09_demo") == elsewhere  # the one with its assignment name
    assert json.loads(elsewhere.read_text())["metadata"]["otter"]["assignment_name"] == "09_demo"


# ---- the students' folder: complete on its own, with its guide and Colab links

URL = "https://github.com/example-org/course-2026/blob/main/students"


def test_students_url_must_be_a_github_folder():
    assert release.students_url(URL + "/") == URL
    with pytest.raises(SystemExit, match="GitHub address"):
        release.students_url("https://example.org/students")


def test_the_guide_names_each_notebook_with_its_colab_link_and_no_master(tmp_path):
    students = tmp_path / "students"
    students.mkdir()
    wheel = students / "neural_codes_course-0.1.0-py3-none-any.whl"
    wheel.write_text("")
    setup = nbformat.v4.new_code_cell(setup_cell.ruff_formatted(setup_cell.setup_cell_source()))
    for stem, title in (("01_first", "Neural codes"), ("02_second", "Transfer learning")):
        cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nIntro."), setup]
        nbformat.write(nbformat.v4.new_notebook(cells=cells), students / f"{stem}.ipynb")
    guide = release.finish_students_folder(students, wheel, URL).read_text()
    for stem, title in (("01_first", "Neural codes"), ("02_second", "Transfer learning")):
        link = f"https://colab.research.google.com/github/example-org/course-2026/blob/main/students/{stem}.ipynb"
        assert f"`{stem}.ipynb`" in guide and title in guide and f"({link})" in guide
        cell = nbformat.read(students / f"{stem}.ipynb", as_version=4).cells[1]
        assert f'COURSE_URL = "{URL.replace("/blob/", "/raw/")}/{wheel.name}"' in cell.source
    assert "## On Colab" in guide and "## In Jupyter on your computer" in guide
    assert assignment_config.HANDIN in guide and wheel.name in guide
    assert release.masters_linked(students) == []
    (students / "NOTES.md").write_text("[solutions](../notebooks/01_first.ipynb)")
    with pytest.raises(SystemExit, match="master notebooks"):
        release.finish_students_folder(students, wheel, URL)


@pytest.mark.slow  # otter assign and a wheel build (make check)
def test_the_release_writes_a_complete_students_folder(tmp_path):
    from tests.test_grading import tiny_master

    master = tmp_path / "masters" / "tiny_assignment.ipynb"
    master.parent.mkdir()
    nbformat.write(tiny_master(), master)
    out = tmp_path / "dist"
    assert release.main([str(master), "--out", str(out), "--students-url", URL]) == 0
    students = out / "students"
    names = sorted(path.name for path in students.iterdir())
    assert names == [
        "README.md",
        "neural_codes_course-0.1.0-py3-none-any.whl",
        "tiny_assignment.ipynb",
    ]
    guide = (students / "README.md").read_text()
    assert (
        f"{release.COLAB}example-org/course-2026/blob/main/students/tiny_assignment.ipynb" in guide
    )
    assert release.masters_linked(students) == []
    student = nbformat.read(students / "tiny_assignment.ipynb", as_version=4)
    (init,) = [cell for cell in student.cells if "grading.start(" in cell.source]
    assert init.metadata["cellView"] == "form" and init.metadata["jupyter"]["source_hidden"]
    (heading,) = [cell for cell in student.cells if cell.source.startswith("## Hand in")]
    assert heading.source == release.handin_text()


def test_use_drive_does_not_mount_drive_twice(monkeypatch, tmp_path):
    mounted = fake_colab(monkeypatch)
    (tmp_path / "drive" / "MyDrive").mkdir(parents=True)  # the setup cell mounted it
    monkeypatch.setattr(paths, "DRIVE_MOUNT", tmp_path / "drive")
    monkeypatch.setattr(paths, "DRIVE_FOLDER", tmp_path / "drive" / "MyDrive" / "course")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "local"))
    try:
        assert "Google Drive" in session.keep_outputs_on_drive(True) and mounted == []
    finally:
        session.keep_outputs_on_drive(False)
