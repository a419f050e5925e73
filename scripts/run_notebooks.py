"""Execute notebooks top to bottom into a build folder, with an HTML export of each.

Used by ``make run``: one fresh kernel per notebook (no hidden state), then one summary line per
notebook with its wall time, pass/fail and the headline figures it reported (the lines that
``helpers.session.report.headline`` produced).

    python scripts/run_notebooks.py --out build notebooks/*.ipynb

Each notebook runs in a child process that saves the executed notebook, its HTML and a small
result file, then leaves at once (``os._exit``), with the kernel killed rather than asked to shut
down. The parent waits for the result file, then gives the child ``--exit-grace`` seconds to end
and kills it otherwise. Why: with Colab's ipykernel 6.17.1 the old in-process runner hung for good
after notebook 01's last cell (a widget), kernel and runner both idle -- a wait on the kernel or
on ZeroMQ's teardown that no cell timeout covers. ``--notebook-timeout`` bounds a whole notebook.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from helpers import session
from helpers.session.report import MARKER


def headlines(notebook) -> list[str]:
    """The headline lines a notebook printed, in order."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines += [
                    ln[len(MARKER) :].strip()
                    for ln in output.get("text", "").splitlines()
                    if ln.startswith(MARKER)
                ]
    return lines


def result_path(path: Path, out_dir: Path) -> Path:
    """Where the child writes ``{"ok", "seconds", "figures", "error"}`` for notebook ``path``."""
    return out_dir / f".{path.stem}.result.json"


def run_one(path: Path, out_dir: Path, cell_timeout: int) -> None:
    """Child side: execute ``path``; save notebook, HTML and result file; kill the kernel."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    # The kernel talks to this process over local (IPC) sockets in a private folder, not over
    # TCP: nothing on the machine can listen in, and ipykernel >= 7 has no warning to print.
    sockets = tempfile.mkdtemp(prefix="course-kernel-")
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=cell_timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    finally:  # a kernel manager passed in is not shut down by the client
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)  # kill: a polite shutdown can hang
        shutil.rmtree(sockets, ignore_errors=True)
    elapsed = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
    result = {"ok": not error, "seconds": elapsed, "figures": headlines(notebook), "error": error}
    partial = result_path(path, out_dir).with_suffix(".partial")
    partial.write_text(json.dumps(result))
    os.replace(partial, result_path(path, out_dir))


def run_isolated(
    path: Path,
    out_dir: Path,
    command: list[str],
    *,
    exit_grace: float = 30,
    notebook_timeout: float | None = None,
    poll: float = 0.5,
) -> tuple[bool, float, list[str], str]:
    """Parent side: run ``command`` (which executes ``path``) and collect its result file.

    Returns ``(ok, seconds, headline figures, error)``. The child is killed ``exit_grace``
    seconds after its result file appears, or when ``notebook_timeout`` seconds have passed.
    """
    result_file = result_path(path, out_dir)
    result_file.unlink(missing_ok=True)
    start = time.monotonic()
    child = subprocess.Popen(command)
    saved_at = None
    note = ""
    while child.poll() is None:
        now = time.monotonic()
        if saved_at is None and result_file.is_file():
            saved_at = now
        if saved_at is not None and now - saved_at > exit_grace:
            note = f"(the run did not exit {exit_grace:.0f} s after saving; stopped)"
            break
        if notebook_timeout is not None and now - start > notebook_timeout:
            note = f"no result after {notebook_timeout:.0f} s; stopped"
            break
        time.sleep(poll)
    if child.poll() is None:
        child.kill()  # the kernel notices its parent is gone and exits too (ipykernel)
        child.wait()
    if not result_file.is_file():
        error = note or f"the run ended (exit status {child.returncode}) without a result"
        return False, time.monotonic() - start, [], error
    result = json.loads(result_file.read_text())
    result_file.unlink()
    if note and result["ok"]:
        print(f"{path.name}: {note}", flush=True)
    return result["ok"], result["seconds"], result["figures"], result["error"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--cell-timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument(
        "--notebook-timeout",
        type=float,
        default=None,
        help="seconds per notebook (default: no limit beyond the cells')",
    )
    parser.add_argument(
        "--exit-grace",
        type=float,
        default=30,
        help="seconds a finished run may take to exit before it is stopped",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # one notebook, in this process; leave without interpreter teardown
        run_one(args.notebooks[0], args.out, args.cell_timeout)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    results = []
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--out",
            str(args.out),
            "--cell-timeout",
            str(args.cell_timeout),
            str(path),
        ]
        results.append(
            (
                path.name,
                *run_isolated(
                    path,
                    args.out,
                    command,
                    exit_grace=args.exit_grace,
                    notebook_timeout=args.notebook_timeout,
                ),
            )
        )

    print(f"\nExecuted notebooks and HTML in {args.out}/")
    smoke = session.smoke_label().strip()
    for name, ok, elapsed, figures, error in results:
        status = "pass" if ok else "FAIL"
        # The smoke-run tag ends every figure of a sample run: say it once per line instead.
        figures = [figure.replace(smoke, "").strip() for figure in figures] if smoke else figures
        summary = "; ".join(figures) if figures else "(no headline figures)"
        if smoke and figures:
            summary = f"{smoke} {summary}"
        print(f"{name:45s} {elapsed:7.1f} s  {status}  {summary}")
        if error:
            print(f"{'':45s} error: {error}")
    return 0 if all(ok for _, ok, *_ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
