"""helpers.session, helpers.session.report and the project's own wiring (pins, setup cell)."""

import random
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from helpers import session
from helpers.session import report, setup

ROOT = Path(__file__).resolve().parent.parent


def test_profile_defaults_to_full_when_unset(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert session.get_profile() == "full"
    assert session.by_profile(full=100, sample=2) == 100
    assert session.smoke_label() == ""


def test_sample_profile_picks_sample_sizes_and_labels_figures(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", " Sample ")
    assert session.is_sample()
    assert session.by_profile(full=100, sample=2) == 2
    assert "smoke-run" in session.smoke_label()


def test_grading_profile_is_a_smoke_run_with_its_own_sizes_and_one_epoch(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "grading")
    monkeypatch.delenv("COURSE_MAX_EPOCHS", raising=False)
    assert session.is_sample()  # generated samples may stand in, no download is tried
    assert session.by_profile(full=100, sample=20, grading=5) == 5
    assert session.by_profile(full=100, sample=20) == 20  # no grading size: the sample's
    assert session.by_profile(full=100, sample=20, grading=0) == 0  # a falsy size is a size
    assert [session.epochs(60, 2), session.epochs(60, 2, grading=3), session.epochs(5, 0)] == [
        1,
        2,  # never more than the sample profile's
        0,
    ]
    assert "grading profile: smoke-run" in session.smoke_label()
    monkeypatch.setenv("COURSE_PROFILE", "sample")
    assert [session.by_profile(100, 20, grading=5), session.epochs(60, 2)] == [20, 2]


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    with pytest.raises(ValueError, match=r"'quick' is not a profile.*full, sample, grading"):
        session.get_profile()


def test_data_dir_follows_the_environment_then_colab_then_the_repo(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    assert session.data_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert session.data_dir() == ROOT / "data"
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-2026")
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: None)  # /content is not writable here
    assert session.data_dir() == Path("/content/data")


def test_mirror_unset_is_none_and_a_wrong_path_is_an_error(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    assert session.mirror_dir() is None
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="COURSE_DATA_MIRROR"):
        session.mirror_dir()
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path))
    assert session.mirror_dir() == tmp_path.resolve()


def test_seed_everything_repeats_python_numpy_and_keras_draws():
    import keras

    def draws():
        session.seed_everything(7)
        return (random.random(), np.random.rand(), float(keras.random.uniform((1,), seed=None)[0]))

    first, second = draws(), draws()
    assert first == second
    session.seed_everything(8)
    assert random.random() != first[0]


@pytest.mark.parametrize(
    "tf_version, keras_version, ok",
    [
        ("2.21.0", "3.15.1", True),
        ("2.19.0", "3.10.0", True),
        ("2.16.1", "3.0.0", False),
        ("2.15.0", "2.15.0", False),
        ("2.21.0", "2.15.0", False),
        ("2.10.0rc1", "3.1", False),
    ],
)
def test_versions_older_than_the_course_needs_fail_early(tf_version, keras_version, ok):
    if ok:
        session.check_versions(tf_version, keras_version)
    else:
        with pytest.raises(RuntimeError, match="Unsupported"):
            session.check_versions(tf_version, keras_version)


def test_setup_notebook_reports_profile_and_data_locations(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "sample")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    info = session.setup_notebook(seed=3)
    printed = capsys.readouterr().out
    assert info["profile"] == "sample" and info["data_dir"] == tmp_path and info["mirror"] is None
    assert "Profile: sample" in printed and str(tmp_path) in printed
    assert re.search(r"TensorFlow 2\.\d+", printed)


def test_headline_states_value_reference_and_smoke_tag(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "sample")
    line = report.headline("mAP of layer 6 codes", 0.3214, reference=0.323)
    assert line.startswith(report.MARKER)
    assert "mAP of layer 6 codes: 0.321 (reference 0.323)" in line and "smoke-run" in line
    assert "nan" in report.headline("mAP", float("nan"))


def _pins(requirements):
    return dict(
        re.match(r"([A-Za-z0-9_.\-]+)==(\S+)$", r).groups() for r in requirements if "==" in r
    )


def test_environment_yml_pins_the_same_versions_as_pyproject():
    with open(ROOT / "pyproject.toml", "rb") as file:
        local = tomllib.load(file)["project"]["optional-dependencies"]["local"]
    yml_lines = (ROOT / "environment.yml").read_text().splitlines()
    yml = [line.strip().removeprefix("- ").strip() for line in yml_lines]
    assert _pins(local) and _pins(local) == _pins(yml)
    assert "python=3.11" in yml


def test_runtime_requirements_are_ranges_that_colab_already_satisfies():
    with open(ROOT / "pyproject.toml", "rb") as file:
        runtime = tomllib.load(file)["project"]["dependencies"]
    heavy = [r for r in runtime if re.match(r"(tensorflow|keras|numpy)\b", r)]
    assert len(heavy) == 3 and not any("==" in r or "<" in r for r in heavy)


def test_every_notebook_starts_with_the_generated_setup_cell():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    result = subprocess.run(
        [sys.executable, "-m", "instructor.setup_cell", "--check", *map(str, notebooks)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with open(ROOT / "pyproject.toml", "rb") as file:
        url = tomllib.load(file)["project"]["urls"]["Repository"]
    assert url in (ROOT / "notebooks" / notebooks[0].name).read_text()


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in (ROOT / "notebooks").glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        executed = [
            i
            for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" and (c.outputs or c.execution_count)
        ]
        assert not executed, f"{path.name}: cells {executed} carry outputs; clear them"


def test_max_epochs_caps_the_profile_choice_and_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.delenv("COURSE_MAX_EPOCHS", raising=False)
    assert session.epochs(full=100, sample=2) == 100
    monkeypatch.setenv("COURSE_MAX_EPOCHS", "7")
    assert session.epochs(full=100, sample=2) == 7
    assert session.epochs(full=3, sample=2) == 3
    monkeypatch.setenv("COURSE_MAX_EPOCHS", "0")
    with pytest.raises(ValueError, match="COURSE_MAX_EPOCHS"):
        session.epochs(full=100, sample=2)


def test_readme_lists_every_notebook_with_a_colab_link_to_the_same_repository():
    with open(ROOT / "pyproject.toml", "rb") as file:
        url = tomllib.load(file)["project"]["urls"]["Repository"]
    repository = url.removeprefix("https://github.com/")
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        link = (
            f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/{path.name}"
        )
        assert link in readme, f"README has no Colab link for {path.name}"


@pytest.mark.skipif(setup.nvidia_device_present(), reason="only for machines without a GPU")
def test_setup_notebook_writes_nothing_to_stderr_on_a_machine_without_gpu(tmp_path):
    # Outside `make` (which sets TF_CPP_MIN_LOG_LEVEL=3): a plain TensorFlow start and GPU query
    # writes C++ lines to stderr here (oneDNN, CUDA drivers, cuInit); setup_notebook must not.
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(COURSE_PROFILE="sample", COURSE_DATA_DIR=str(tmp_path))

    def stderr_of(code):
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stderr

    plain = stderr_of("import tensorflow as tf; tf.config.list_physical_devices('GPU')")
    assert plain.strip(), "TensorFlow printed nothing: this test can no longer tell"
    assert stderr_of("from helpers import session; session.setup_notebook()") == ""
