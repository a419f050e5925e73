"""make check: each released student notebook, solutions filled in, runs clean in a browser.

For every master notebook: ``otter assign`` (``instructor.release``) makes the student version,
each answer cell gets its master cell's solution as a student's finished answer would read (the
solution markers and prompts gone), and headless Chromium (Playwright) opens it in a JupyterLab
served from a temporary folder, runs Run > Run All Cells and waits for every code cell to have
run. Then the page must show no error output, the setup and otter init cells collapsed, notebook
01's retrieval explorer as live widgets and a progress bar. A full-height screenshot of each
notebook goes to build/browser/<stem>.png.

The kernel imports the course from this checkout (PYTHONPATH): the released wheel installed in a
throw-away venv would test the packaging too, but costs a TensorFlow-sized install per run, and
the wheel's contents are tested in tests/test_grading.py already. Everything the run writes (lab
settings, kernels' connection files, the trust database, IPython history, the data cache and
outputs, Chromium's profile) stays in pytest's temporary folder, except the screenshots.

One test per notebook; they run one after the other on one worker (make check's --dist
loadfile), or side by side with ``-n 2 --dist load`` (each worker starts its own JupyterLab).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter", reason="otter-grader (the `local` extra) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the `dev` extra)")

from otter.assign.solutions import replace_solutions  # noqa: E402

from instructor import release  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "browser"
MASTERS = [
    pytest.param(path, id=path.stem) for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
]
# Debian's Chromium (Playwright's own browser download needs the network); COURSE_CHROMIUM
# points elsewhere.
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we may be root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK_TIMEOUT = 15 * 60  # seconds for Run All Cells of one notebook (sample profile)
POLL = 3.0
ANSWER_TAG = "otter_answer_cell"  # otter assign's tag on the student's answer cells


# ---- the student notebook with the solutions filled in ----

_MARKER_LINE = re.compile(r"^\s*# (BEGIN|END) SOLUTION( NO PROMPT)?\s*$")
_SOLUTION_SUFFIX = re.compile(r"\s*# SOLUTION( NO PROMPT)?\s*$")


def finished_answer(master_source: str) -> str:
    """A master solution cell as a student's finished answer: the ``# BEGIN/END SOLUTION`` lines
    and the ``# BEGIN PROMPT`` ... ``# END PROMPT`` block (the student's starting point) gone, the
    ``# SOLUTION`` suffixes stripped from the lines they end."""
    kept, in_prompt = [], False
    for line in master_source.splitlines():
        if line.rstrip().endswith("# BEGIN PROMPT"):
            in_prompt = True
        elif in_prompt:
            in_prompt = not line.rstrip().endswith("# END PROMPT")
        elif not _MARKER_LINE.match(line):
            kept.append(_SOLUTION_SUFFIX.sub("", line))
    return "\n".join(kept)


def fill_solutions(student, master) -> tuple[object, int]:
    """A copy of ``student`` whose code answer cells hold the master's solutions; the count filled.

    Otter keeps a cell's id from the master to the student version, so each answer cell is paired
    with its master cell by id; that the pairing is right is checked by stripping the master cell
    with otter's own function, which must give the student cell back. Written answers (markdown
    answer cells) stay as they are.
    """
    masters = {cell.id: cell for cell in master.cells}
    filled = nbformat.from_dict(json.loads(json.dumps(student)))
    count = 0
    for index, cell in enumerate(filled.cells):
        if cell.cell_type != "code" or ANSWER_TAG not in cell.metadata.get("tags", []):
            continue
        source = masters.get(cell.id)
        assert source is not None, f"cell {index} ({cell.id}): an answer cell with no master cell"
        stripped = "\n".join(replace_solutions(source.source.splitlines(), "python"))
        assert stripped == cell.source, f"cell {index} ({cell.id}) is not its master cell stripped"
        cell.source = finished_answer(source.source)
        assert "SOLUTION" not in cell.source and "PROMPT" not in cell.source, cell.source
        count += 1
    return filled, count


def test_a_finished_answer_drops_markers_and_prompt_and_keeps_the_solution():
    master = (
        'X = {"a": ...}\n'  # an ordinary line stays
        '""" # BEGIN PROMPT\n'
        "flip = ...\n"
        '"""  # END PROMPT\n'
        "# BEGIN SOLUTION NO PROMPT\n"
        "flip = 1\n"
        "# END SOLUTION\n"
        "def f(x):\n"
        "    # BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    # END SOLUTION\n"
        "    return y  # SOLUTION\n"
    )
    assert (
        finished_answer(master)
        == 'X = {"a": ...}\nflip = 1\ndef f(x):\n    y = x + 1\n    return y'
    )


# ---- JupyterLab and Chromium ----


@dataclass
class Lab:
    url: str
    token: str
    root: Path  # what JupyterLab serves
    base: Path  # the temporary folder of this lab: root, settings, data, log
    log: Path

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        for kernel in self.api("GET", "kernels") or []:
            self.api("DELETE", f"kernels/{kernel['id']}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab on a free localhost port with a token, serving a temporary folder; stopped (its
    kernels too) at the end, whatever happened."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "served"
    root.mkdir()
    # Every cell in the page, not only those in view (JupyterLab 4 renders a window of cells by
    # default): the checks and the screenshot see the whole notebook.
    tracker = base / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "get notified about Jupyter news?" toast over the screenshot (nor a request for it).
    notices = base / "settings" / "@jupyterlab" / "apputils-extension"
    notices.mkdir(parents=True)
    (notices / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = {
        **os.environ,
        "COURSE_PROFILE": "sample",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "COURSE_DATA_DIR": str(base / "data"),  # a fresh cache: a student's first run
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_DATA_DIR": str(base / "jupyter-data"),  # the notebook-trust database, too
        "IPYTHONDIR": str(base / "ipython"),
    }
    env.pop("COURSE_GRADING", None)  # a student's run
    port, token = _free_port(), secrets.token_hex(16)
    log = base / "lab.log"
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        # window.jupyterapp: the page's own notebook model (execution counts, output types).
        "--LabApp.expose_app_in_browser=True",
    ]
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    found = Lab(f"http://127.0.0.1:{port}", token, root, base, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                found.api("GET", "status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield found
    finally:
        try:
            found.shut_down_kernels()
        except OSError:
            pass
        os.killpg(server.pid, signal.SIGTERM)  # the server, and with it its kernels
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (set COURSE_CHROMIUM)")
    # Chromium's crash reports and GTK settings go under HOME, whatever its profile folder.
    home = tmp_path_factory.mktemp("chromium-home")
    env = {**os.environ, "HOME": str(home)}
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env.pop(name, None)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env
        )
        try:
            yield chromium
        finally:
            chromium.close()


# ---- what the page shows ----

# One entry per cell of the open notebook, from the page's notebook model (cell type, execution
# count, outputs) and from its DOM (input collapsed or not, stderr texts, widgets, progress bars).
PAGE_STATE_JS = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const count = (node, selector) => node.querySelectorAll(selector).length;
  const cells = panel.content.widgets.map((cell, index) => {
    const model = cell.model, node = cell.node, outputs = [];
    if (model.type === 'code') {
      for (let j = 0; j < model.outputs.length; j++) {
        const out = model.outputs.get(j).toJSON();
        const text = out.output_type === 'stream' ? [].concat(out.text).join('')
          : out.output_type === 'error' ? [].concat(out.traceback).join('\\n')
          : [].concat((out.data || {})['text/plain'] || '').join('');
        outputs.push({type: out.output_type, name: out.name || '', ename: out.ename || '',
                      evalue: out.evalue || '', text: text.slice(-4000)});
      }
    }
    const editor = node.querySelector('.jp-InputArea-editor');
    return {
      index, type: model.type, id: model.id,
      head: model.sharedModel.getSource().split('\\n')[0].slice(0, 90),
      source: model.sharedModel.getSource(),
      count: model.type === 'code' ? model.executionCount : null,
      outputs,
      inputHidden: cell.inputHidden,
      placeholder: count(node, '.jp-InputPlaceholder'),
      editorVisible: !!(editor && editor.offsetParent !== null),
      stderr: [...node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
      )].map(e => e.textContent),
      outputText: [...node.querySelectorAll('.jp-OutputArea-output')]
        .map(e => e.textContent).join('\\n').slice(-4000),
      widgets: count(node, '.jp-OutputArea-output .jupyter-widgets'),
      dropdowns: count(node, '.widget-dropdown select'),
      sliders: count(node, '.widget-slider'),
      widgetImages: count(node, '.widget-output img'),
      progress: count(node, '.widget-hprogress, .widget-vprogress, progress'),
    };
  });
  return {status: kernel ? kernel.status : 'none', cells};
}
"""


def _where(stem: str, cell: dict) -> str:
    return f"{stem}, cell {cell['index']} ({cell['id']}: {cell['head']!r})"


def _clean(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def error_outputs(stem: str, cells: list[dict]) -> list[str]:
    """Every error the page shows, one line each with its cell.

    An error is an output of type ``error`` (an exception escaped the cell: Run All stops there)
    or a stderr output with a Python traceback in it (an exception a library caught and printed,
    e.g. in a callback or a thread, and went on). Other stderr text is not an error: TensorFlow's
    and Keras' warnings, tqdm's text bars and pip's notes go there too.
    """
    found = []
    for cell in cells:
        errors = [out for out in cell["outputs"] if out["type"] == "error"]
        for out in errors:
            found.append(f"{_where(stem, cell)}: {out['ename']}: {out['evalue']}")
        for text in cell["stderr"]:  # JupyterLab shows an error output as stderr too: once only
            shown = any(f"{out['ename']}: {out['evalue']}" in _clean(text) for out in errors)
            if "Traceback (most recent call last)" in text and not shown:
                found.append(f"{_where(stem, cell)}: traceback on stderr:\n{_clean(text)[-1500:]}")
    return found


def test_errors_are_error_outputs_and_printed_tracebacks_not_warnings():
    def cell(index, outputs=(), stderr=()):
        return {"index": index, "id": f"c{index}", "head": "x", "outputs": list(outputs),
                "stderr": list(stderr)}  # fmt: skip

    error = {"type": "error", "ename": "SyntaxError", "evalue": "invalid syntax"}
    warning = "W0000 ... UserWarning: ImageNet weights unavailable\n  warnings.warn(...)"
    printed = "Exception in thread Thread-3:\nTraceback (most recent call last):\n  ...\nOSError"
    shown = "RuntimeError   Traceback (most recent call last)\n...\nSyntaxError: invalid syntax"
    cells = [
        cell(0, [error], stderr=[shown]),  # how JupyterLab shows an error output
        cell(1, stderr=[warning]),
        cell(2, stderr=[printed]),
        cell(3),
    ]
    found = error_outputs("09_demo", cells)
    assert len(found) == 2
    assert found[0] == "09_demo, cell 0 (c0: 'x'): SyntaxError: invalid syntax"
    assert found[1].startswith("09_demo, cell 2 (c2: 'x'): traceback on stderr:")


def run_all_cells(page, stem: str) -> tuple[dict, float]:
    """Run > Run All Cells, then wait until the kernel is idle with every code cell run (or an
    error stopped the run). Returns the final page state and the seconds it took."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    start, idle_polls = time.monotonic(), 0
    while True:
        time.sleep(POLL)
        state = page.evaluate(PAGE_STATE_JS)
        code = [cell for cell in state["cells"] if cell["type"] == "code"]
        idle = state["status"] == "idle"
        idle_polls = idle_polls + 1 if idle else 0
        if idle and all(cell["count"] is not None for cell in code):
            return state, time.monotonic() - start
        if idle_polls >= 3 and error_outputs(stem, state["cells"]):
            return state, time.monotonic() - start  # Run All stopped at the error
        if time.monotonic() - start > NOTEBOOK_TIMEOUT:
            waiting = next(cell for cell in code if cell["count"] is None)
            pytest.fail(
                f"{stem}: not done after {NOTEBOOK_TIMEOUT} s (kernel {state['status']}); "
                f"first cell not run: {_where(stem, waiting)}"
            )


def screenshot(page, path: Path) -> None:
    """The whole notebook in one image: the file browser closed and the page made as tall as the
    notebook (JupyterLab scrolls inside a fixed-size page, so a plain full-page screenshot would
    show only one screen of it)."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    height = page.evaluate(
        """() => {
          const node = window.jupyterapp.shell.currentWidget.content.node;
          const boxes = [node, ...node.querySelectorAll('.jp-WindowedPanel-outer')];
          boxes.forEach(box => { box.scrollTop = 0; });
          const content = Math.max(...boxes.map(box => box.scrollHeight));
          return content + node.getBoundingClientRect().top + window.innerHeight
            - node.getBoundingClientRect().bottom;
        }"""
    )
    page.set_viewport_size({"width": 1280, "height": min(int(height) + 20, 32000)})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path), full_page=True)


# ---- the check ----


@pytest.mark.slow  # end-to-end (make check)
@pytest.mark.parametrize("master_path", MASTERS)
def test_released_notebook_with_solutions_runs_clean_in_jupyterlab(master_path, lab, browser):
    stem = master_path.stem
    release.release_notebook(master_path, lab.base / "dist")
    student = nbformat.read(lab.base / "dist" / "students" / f"{stem}.ipynb", as_version=4)
    filled, answers = fill_solutions(student, nbformat.read(master_path, as_version=4))
    assert answers > 0, f"{stem}: no code answer cells found to fill in"
    nbformat.write(filled, lab.root / f"{stem}.ipynb")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # ?reset: a fresh workspace with only this notebook open.
        page.goto(f"{lab.url}/lab/tree/{stem}.ipynb?reset&token={lab.token}")
        page.wait_for_function(
            "() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " return p && p.sessionContext && p.sessionContext.session"
            " && p.sessionContext.session.kernel"
            " && p.sessionContext.session.kernel.status === 'idle'; }",
            timeout=120_000,
        )
        state, seconds = run_all_cells(page, stem)
        print(f"{stem}: Run All Cells took {seconds:.0f} s")
    finally:  # the screenshot is kept on failure too: it shows how far the run got
        try:
            screenshot(page, SCREENSHOTS / f"{stem}.png")
        except sync_api.Error:  # the page never showed the notebook: what it did show
            page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"))
        finally:
            context.close()
            lab.shut_down_kernels()
    cells = state["cells"]
    print(
        f"{stem}: {len(cells)} cells, {answers} answers filled in, "
        f"{sum(len(c['stderr']) for c in cells)} stderr outputs, "
        f"{sum(c['progress'] for c in cells)} progress bars, "
        f"{sum(c['widgets'] for c in cells)} widget elements, "
        f"collapsed {[c['index'] for c in cells if c['inputHidden']]}"
    )

    assert len(cells) == len(filled.cells), f"{stem}: the page shows {len(cells)} cells"
    assert [cell["id"] for cell in cells] == [cell.id for cell in filled.cells], (
        f"{stem}: the page's cells are not the notebook's"
    )
    errors = error_outputs(stem, cells)
    assert not errors, f"{stem}: error output in the page:\n" + "\n".join(errors)
    not_run = [_where(stem, c) for c in cells if c["type"] == "code" and c["count"] is None]
    assert not not_run, f"{stem}: {len(not_run)} code cells never ran, the first: {not_run[0]}"

    # Each public check of a filled-in answer passes (otter says "passed" for each question).
    failed = [
        f"{_where(stem, cell)}: {cell['outputText'].strip()[-300:]!r}"
        for cell in cells
        if cell["head"].startswith("grader.check(") and "passed" not in cell["outputText"]
    ]
    assert not failed, f"{stem}: public checks that do not pass:\n" + "\n".join(failed)

    # The setup cell (the first code cell) and the grading cell (grading.start): input collapsed,
    # placeholder shown, editor not; no other cell collapsed.
    code = [cell for cell in cells if cell["type"] == "code"]
    init = next((c for c in code if "grading.start(" in c["source"]), None)
    assert init is not None, f"{stem}: no grading cell (grading.start) in the page"
    setup = code[0]
    assert "setup_notebook(" in setup["source"], f"{stem}: first code cell is not the setup cell"
    for cell in (setup, init):
        assert cell["inputHidden"] and cell["placeholder"] == 1 and not cell["editorVisible"], (
            f"{_where(stem, cell)}: not shown collapsed (input hidden {cell['inputHidden']}, "
            f"{cell['placeholder']} placeholders, editor visible {cell['editorVisible']})"
        )
    collapsed = [c["index"] for c in cells if c["inputHidden"]]
    assert collapsed == [setup["index"], init["index"]], f"{stem}: collapsed cells {collapsed}"

    if stem.startswith("01_"):
        explorer = next(c for c in cells if "retrieval_explorer(" in c["source"])
        assert explorer["widgets"] > 0 and explorer["dropdowns"] == 1, (
            f"{_where(stem, explorer)}: the retrieval explorer is not rendered as widgets "
            f"({explorer['widgets']} widget elements, {explorer['dropdowns']} dropdowns); the "
            f"output reads {explorer['outputText'][-300:]!r}"
        )
        assert explorer["sliders"] == 2 and explorer["widgetImages"] >= 1, (
            f"{_where(stem, explorer)}: {explorer['sliders']} sliders (query, k) and "
            f"{explorer['widgetImages']} figures in the explorer, expected 2 and at least 1"
        )
        # tqdm.auto's notebook bar (an ipywidgets FloatProgress), e.g. "decoding" on the first
        # load of the data (the data cache is fresh here).
        bars = [_where(stem, c) for c in cells if c["progress"]]
        assert bars, f"{stem}: no progress bar (.widget-hprogress / <progress>) in the page"
