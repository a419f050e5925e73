"""Time `make grade` (sandboxed, outside verdicts) on copies of each notebook, per core-hour.

For each notebook: its release (student version + course wheel) is built once, its data cache
prepared once (not timed: `make grade` does it once per run, and reuses it afterwards), then a
folder of ``--copies`` submissions (default 20, each a copy of the master: complete answers, the
slow case; ``--untouched K`` makes K of them the untouched student version) is graded with
``--jobs 1`` and ``--jobs 2`` (results cache off), in the grading profile. Printed: seconds per
grading and gradings per core-hour (gradings / (wall hours x the machine's cores): the machine
is busy for the whole run) per notebook, and over the five notebooks together (a class's hand-in
of every notebook), next to the goal: 300 students x 5 notebooks in one hour on 16 cores is
1500 / 16 = 94 gradings per core-hour.

A notebook without hidden cases yet is graded with none (execution only: what a grading costs).

    .venv/bin/python benchmarks/bench_grading.py [--quick] [--copies N] [--notebooks 03 05]

``--quick``: a built-in two-question notebook, its master and its untouched student version,
jobs 1 (a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from instructor import assignment_config, grade, release  # noqa: E402
from instructor.grading import grading_profile, sandbox  # noqa: E402
from instructor.grading.datacache import prepare_data_cache  # noqa: E402

GOAL = 94.0
EMPTY_HIDDEN = "NOTEBOOK = {stem!r}\nREFERENCE = []\nPRELUDE = ''\n\ndef cases():\n    return []\n"
TINY_HIDDEN = """
from instructor.grading.verdicts import Case, allclose
NOTEBOOK, REFERENCE, PRELUDE = "bench_tiny", ["square"], ""
def cases():
    return [Case("square", "q1", 1, "result = square(3.0)", expected=lambda r, i: r.square(3.0),
                 check=allclose())]
"""


def tiny_master() -> nbformat.NotebookNode:
    from nbformat.v4 import new_code_cell as C
    from nbformat.v4 import new_raw_cell as R

    return nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        cells=[
            R(assignment_config.config_source("bench_tiny")),
            C("import numpy as np"),
            R("# BEGIN QUESTION\nname: q1\npoints: 1"),
            R("# BEGIN SOLUTION"),
            C("def square(x):\n    # BEGIN SOLUTION\n    return x * x\n    # END SOLUTION"),
            R("# END SOLUTION"),
            R("# BEGIN TESTS"),
            C("assert square(2) == 4"),
            R("# END TESTS"),
            R("# END QUESTION"),
        ],
    )


def bench_notebook(
    master: Path, base: Path, copies: int, jobs_list: list[int], hidden_text, untouched: int = 0
):
    stem = master.stem
    dist, hidden, masters = base / "dist", base / "hidden", master.parent
    release.release_notebook(master, dist)
    release.build_wheel(dist / "students")
    hidden.mkdir()
    (hidden / f"{stem}.py").write_text(hidden_text)
    profile = grading_profile()
    data_cache = base / "data-cache"
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    start = time.perf_counter()
    prepare_data_cache(data_cache, [stem], masters, profile, Path(mirror) if mirror else None)
    prepared = time.perf_counter() - start
    data_cache.mkdir(exist_ok=True)
    figures = {}
    for jobs in jobs_list:
        folder = base / f"jobs{jobs}"
        folder.mkdir()
        for index in range(copies):  # every copy a complete answer, but `untouched` of them
            kind = "student" if index < untouched else "master"
            source = dist / "students" / master.name if kind == "student" else master
            shutil.copy(source, folder / f"{stem}_{kind}{index}.ipynb")
        argv = [str(folder), "--autograders", str(dist / "autograder"), "--hidden", str(hidden)]
        argv += ["--masters", str(masters), "--data-cache", str(data_cache)]
        argv += ["--jobs", str(jobs), "--no-cache"]
        start = time.perf_counter()
        assert grade.main(argv) == 0
        seconds = time.perf_counter() - start
        count = copies
        per_core_hour = count / (seconds * (os.cpu_count() or 1) / 3600)
        with open(folder / "grades.csv") as file:
            clean = all(not row["error"] for row in csv.DictReader(file))
        # A master that stops at an error is graded fast and wrongly: not a figure to report.
        for feedback in (folder / "feedback").glob("*_master*.md"):
            clean = clean and "Errors in the notebook's cells" not in feedback.read_text()
        figures[jobs] = (count, seconds, per_core_hour, clean)
    return prepared, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--copies", type=int, default=20, help="submissions per notebook")
    parser.add_argument(
        "--untouched",
        type=int,
        default=0,
        help="how many of them are the untouched student version (fast: its cells fail early)",
    )
    parser.add_argument("--notebooks", nargs="*", default=None, help="stems' prefixes: 03 05")
    parser.add_argument("--jobs", nargs="*", type=int, default=[1, 2])
    args = parser.parse_args()
    problem = sandbox.sandbox_problem()
    if problem:
        print(f"no sandbox: {problem}")
        return 1
    print(
        f"profile {grading_profile()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        if args.quick:
            masters = Path(tmp) / "masters"
            masters.mkdir()
            nbformat.write(tiny_master(), masters / "bench_tiny.ipynb")
            plan = [(masters / "bench_tiny.ipynb", TINY_HIDDEN, "tiny")]
            copies, jobs_list, args.untouched = 2, [1], 1  # the master and the untouched
        else:
            plan = []
            for master in sorted((ROOT / "notebooks").glob("*.ipynb")):
                if args.notebooks and not any(master.stem.startswith(p) for p in args.notebooks):
                    continue
                path = grade.hidden_path(master.stem, grade.HIDDEN_DIR)
                if path is not None:
                    plan.append((master, path.read_text(), "hidden cases"))
                else:
                    text = EMPTY_HIDDEN.format(stem=master.stem)
                    plan.append((master, text, "no cases yet: execution only"))
            if args.notebooks:  # in the order asked
                plan.sort(key=lambda item: [item[0].stem.startswith(p) for p in args.notebooks])
                plan.reverse()
            copies, jobs_list = args.copies, args.jobs
        for index, (master, hidden_text, kind) in enumerate(plan):
            base = Path(tmp) / f"n{index}"
            base.mkdir()
            prepared, figures = bench_notebook(
                master, base, copies, jobs_list, hidden_text, args.untouched
            )
            for jobs, (count, seconds, rate, clean) in figures.items():
                rows.append((master.stem, kind, jobs, count, seconds, rate, prepared, clean))
                print(
                    f"== {master.stem} jobs {jobs}: {count} gradings in {seconds:.0f} s, "
                    f"{rate:.1f} per core-hour",
                    flush=True,
                )
    print()
    print(
        f"{'notebook':40} {'jobs':>4} {'gradings':>8} {'s/grading':>9} {'per core-h':>10} "
        f"{'goal':>5}  data prep s"
    )
    for stem, kind, jobs, count, seconds, rate, prepared, clean in rows:
        print(
            f"{stem[:40]:40} {jobs:>4} {count:>8} {seconds / count:>9.1f} {rate:>10.1f} "
            f"{GOAL:>5.0f}  {prepared:.0f}  ({kind}{'' if clean else ', ERRORS: not valid'})"
        )
    cores = os.cpu_count() or 1
    for jobs in sorted({row[2] for row in rows}):
        mine = [row for row in rows if row[2] == jobs]
        count, seconds = sum(row[3] for row in mine), sum(row[4] for row in mine)
        rate = count / (seconds * cores / 3600)
        print(
            f"{'all ' + str(len(mine)) + ' notebooks':40} {jobs:>4} {count:>8} "
            f"{seconds / count:>9.1f} {rate:>10.1f} {GOAL:>5.0f}  "
            f"({'meets' if rate >= GOAL else 'SHORT of'} the goal)"
        )
    return 0 if all(row[-1] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
