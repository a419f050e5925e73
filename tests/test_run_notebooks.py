"""scripts/run_notebooks.py: a run that hangs after saving, or dies, never blocks the runner."""

import importlib.util
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts/run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_notebooks)


def _fake_child(result_file, result, then):
    """A child that writes a result file (or not) and then does ``then`` (Python code)."""
    write = (
        ""
        if result is None
        else (
            f"import json, pathlib; pathlib.Path({str(result_file)!r}).write_text("
            f"json.dumps({result!r}));"
        )
    )
    return [sys.executable, "-c", write + then]


def test_a_run_that_saves_then_hangs_is_stopped_after_the_grace_and_its_result_kept(tmp_path):
    path = tmp_path / "01_x.ipynb"
    result = {"ok": True, "seconds": 1.5, "figures": ["mAP 0.5"], "error": ""}
    command = _fake_child(
        run_notebooks.result_path(path, tmp_path), result, "import time; time.sleep(600)"
    )  # the hang after the last cell
    start = time.monotonic()
    outcome = run_notebooks.run_isolated(path, tmp_path, command, exit_grace=1, poll=0.1)
    assert time.monotonic() - start < 30
    assert outcome == (True, 1.5, ["mAP 0.5"], "")


def test_a_run_that_dies_without_a_result_is_a_failure_with_its_exit_status(tmp_path):
    path = tmp_path / "02_x.ipynb"
    command = _fake_child(None, None, "raise SystemExit(3)")
    ok, _, figures, error = run_notebooks.run_isolated(path, tmp_path, command, poll=0.1)
    assert not ok and figures == [] and "exit status 3" in error


def test_a_run_that_never_saves_is_stopped_at_the_notebook_timeout(tmp_path):
    path = tmp_path / "03_x.ipynb"
    command = _fake_child(None, None, "import time; time.sleep(600)")
    start = time.monotonic()
    ok, _, _, error = run_notebooks.run_isolated(
        path, tmp_path, command, notebook_timeout=1, poll=0.1
    )
    assert time.monotonic() - start < 30
    assert not ok and "no result after 1 s" in error


@pytest.mark.slow  # end-to-end (make check)
def test_a_real_notebook_runs_in_a_child_and_reports_its_headline(tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("from helpers.session.report import MARKER\nx = 6 * 7"),
            nbformat.v4.new_code_cell("print(MARKER + f' answer {x}')"),
        ]
    )
    path = tmp_path / "04_tiny.ipynb"
    nbformat.write(notebook, path)
    out = tmp_path / "out"
    monkeypatch.chdir(ROOT)
    status = run_notebooks.main([str(path), "--out", str(out), "--cell-timeout", "120"])
    assert status == 0
    executed = nbformat.read(out / path.name, 4)
    assert executed.cells[1].outputs[0]["text"].strip().endswith("answer 42")
    assert (out / "04_tiny.html").is_file() and not list(out.glob(".*.result.json"))
