"""Execute notebooks top to bottom into a build folder, with an HTML export of each.

Used by ``make run``: one fresh kernel per notebook (no hidden state), then one summary line per
notebook with its wall time, pass/fail and the headline figures it reported (the lines that
``helpers.report.headline`` produced).

    python scripts/run_notebooks.py --out build notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbconvert import HTMLExporter

from helpers import config
from helpers.report import MARKER


def headlines(notebook) -> list[str]:
    """The headline lines a notebook printed, in order."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines += [ln[len(MARKER):].strip() for ln in output.get("text", "").splitlines()
                          if ln.startswith(MARKER)]
    return lines


def run_one(path: Path, out_dir: Path, cell_timeout: int) -> tuple[bool, float, list[str], str]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    elapsed = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
    return not error, elapsed, headlines(notebook), error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--cell-timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)

    results = []
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        results.append((path.name, *run_one(path, args.out, args.cell_timeout)))

    print(f"\nExecuted notebooks and HTML in {args.out}/")
    smoke = config.smoke_label().strip()
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
