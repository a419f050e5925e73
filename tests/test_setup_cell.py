"""The generated setup cell's three ways in, and the Drive option of helpers.session.

Each path runs the cell's real source in a separate Python with IPython (what a notebook kernel
runs), in a throw-away virtual environment that sees this venv's packages (TensorFlow, IPython,
...) but not the course package, so `helpers` is missing until the cell installs it.
"""

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

# Building the course wheel offline needs setuptools >= 77 (SPDX `license`) in this environment:
# the `local` extra pins it; make compat's no-extras venvs may hold Python's bundled older one.
pytest.importorskip(
    "setuptools", minversion="77", reason="setuptools >= 77 (the `local` extra) is not installed"
)

from helpers import session  # noqa: E402
from helpers.session import paths  # noqa: E402
from instructor import release, setup_cell  # noqa: E402

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
    check = subprocess.run(
        [str(bare_venv), "-c", "import helpers"], capture_output=True, cwd=tmp_path
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
    assert "upload neural_codes_course-*.whl" in shown and "set COURSE_URL" in shown
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
