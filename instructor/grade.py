"""Grade every submission in a folder with otter's autograders; write grades.csv there.

    python -m instructor.grade SUBMISSIONS [--autograders dist/autograder]  (`make grade`)

A submission is a notebook (``*.ipynb``) or a hand-in zip made by the notebook's last cell. Each
is graded by ``otter run`` (no Docker) in a fresh kernel, in a child process with
``COURSE_PROFILE`` as set (default ``sample``), against the autograder of the notebook it belongs
to (its ``otter.assignment_name`` metadata, else its file name). Otter runs every cell even after
an error, so a submission that crashes keeps the points of the questions it got right; a
submission that cannot be graded at all (wrong file, kernel killed, timeout) gets an ``error``
row and the run goes on.

Written into the folder:

- ``grades-<notebook>.csv``, one per assignment found: one row per submission of it; columns
  ``submission, notebook``, one per question of that notebook (the points, ``manual`` for written
  questions), ``total`` (auto-graded points), ``possible`` (auto-graded points possible), ``error``.
  One file per assignment because question names (``q3_1``) repeat across notebooks: one shared
  table would put different questions in one column.
- ``grades.csv``: every submission, one row each: ``submission, notebook, total, possible,
  error`` (also the submissions whose assignment could not be told).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = int(os.environ.get("GRADE_TIMEOUT", "3600"))  # seconds per submission

# Run in the child: grade one submission, print its per-question scores as JSON on the last line.
_CHILD = """
import json, sys
from otter.run import main
results = main(sys.argv[1], autograder=sys.argv[2], output_dir=None, no_logo=True)
scores = {name: [results.get_score(name), results.results[name].possible]
          for name in results.results}
print("OTTER-SCORES " + json.dumps(scores))
"""


def notebook_of(submission: Path) -> nbformat.NotebookNode:
    """The submitted notebook (inside the hand-in zip for a zip)."""
    if submission.suffix == ".zip":
        if not zipfile.is_zipfile(submission):
            raise ValueError(
                f"{submission.name}: not a zip file (hand in the zip that the last "
                "cell makes, or the notebook itself)."
            )
        with zipfile.ZipFile(submission) as archive:
            names = [n for n in archive.namelist() if n.endswith(".ipynb")]
            if len(names) != 1:
                raise ValueError(
                    f"{submission.name}: a hand-in zip holds one notebook; found {names or 'none'}."
                )
            return nbformat.reads(archive.read(names[0]).decode("utf-8"), as_version=4)
    return nbformat.read(submission, as_version=4)


def assignment_of(submission: Path, known: list[str]) -> str:
    """Which notebook a submission answers: its otter metadata, else the start of its file name."""
    name = notebook_of(submission).metadata.get("otter", {}).get("assignment_name")
    if name in known:
        return name
    matches = [stem for stem in known if stem in submission.name]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(
        f"{submission.name}: cannot tell which notebook it answers (no otter "
        f"metadata, and its name matches {matches or 'none'} of {known})."
    )


def grade_one(submission: Path, autograder: Path, stem: str) -> dict[str, list[float]]:
    """Per-question ``[score, possible]`` from ``otter run``, in a child process.

    A notebook without otter's assignment name (a master notebook, or one saved from a copy that
    lost its metadata) is graded from a copy that carries it: otter refuses it otherwise.
    """
    # COURSE_GRADING: the notebooks' interactive widgets are not built in a grading run.
    env = {
        **os.environ,
        "COURSE_PROFILE": os.environ.get("COURSE_PROFILE", "sample"),
        "COURSE_GRADING": "1",
    }
    with tempfile.TemporaryDirectory() as cwd:  # otter writes logs and files where it runs
        if submission.suffix == ".ipynb":
            notebook = nbformat.read(submission, as_version=4)
            notebook.metadata.setdefault("otter", {}).setdefault("assignment_name", stem)
            submission = Path(cwd) / f"{stem}.ipynb"
            nbformat.write(notebook, submission)
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(submission.resolve()), str(autograder.resolve())],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    line = next(
        (line for line in reversed(result.stdout.splitlines()) if line.startswith("OTTER-SCORES ")),
        None,
    )
    if result.returncode != 0 or line is None:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"otter run failed (exit {result.returncode}): {tail}")
    return json.loads(line.removeprefix("OTTER-SCORES "))


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fields, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--autograders", type=Path, default=ROOT / "dist" / "autograder")
    args = parser.parse_args(argv)
    infos = {
        path.name.removesuffix("-questions.json"): json.loads(path.read_text())
        for path in sorted(args.autograders.glob("*-questions.json"))
    }
    if not infos:
        print(f"No autograders in {args.autograders}: run `make release` first.", file=sys.stderr)
        return 1
    submissions = sorted(
        p
        for p in args.submissions.iterdir()
        if p.suffix in (".ipynb", ".zip") and not p.name.startswith(".")
    )
    if not submissions:
        print(f"No submissions (*.ipynb, *.zip) in {args.submissions}.", file=sys.stderr)
        return 1
    rows, columns = [], {}  # columns: notebook -> its question names, in order
    for submission in submissions:
        row = {"submission": submission.name, "notebook": "", "error": ""}
        start = time.perf_counter()
        try:
            stem = assignment_of(submission, list(infos))
            row["notebook"] = stem
            names = columns.setdefault(stem, [q["name"] for q in infos[stem]["questions"]])
            scores = grade_one(submission, args.autograders / f"{stem}-autograder.zip", stem)
            total = possible = 0.0
            for name, question in zip(names, infos[stem]["questions"]):
                if question["manual"]:
                    row[name] = "manual"
                    continue
                score, worth = scores.get(name, [0.0, question["points"] or 0])
                row[name], total, possible = score, total + score, possible + worth
            row["total"], row["possible"] = round(total, 4), round(possible, 4)
        except Exception as error:  # noqa: BLE001 - one broken submission must not stop the class's
            row["error"] = (str(error).splitlines() or [type(error).__name__])[0][:300]
        rows.append(row)
        print(
            f"{submission.name}: {row.get('total', '-')} / {row.get('possible', '-')} "
            f"({time.perf_counter() - start:.0f} s)"
            f"{'  ERROR ' + row['error'] if row['error'] else ''}"
        )
    for stem, names in columns.items():
        write_csv(
            args.submissions / f"grades-{stem}.csv",
            ["submission", "notebook", *names, "total", "possible", "error"],
            [row for row in rows if row["notebook"] == stem],
        )
    out = args.submissions / "grades.csv"
    write_csv(out, ["submission", "notebook", "total", "possible", "error"], rows)
    print(f"wrote {out}" + "".join(f", grades-{stem}.csv" for stem in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
