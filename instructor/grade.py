"""Grade every submission in a folder in the sandbox, with verdicts decided outside it.

    python -m instructor.grade SUBMISSIONS [--jobs N] [--trusted]   (`make grade`)

A submission is a notebook (``*.ipynb``) or a hand-in zip made by the notebook's last cell. Which
notebook it answers comes from its ``otter.assignment_name`` metadata, else its file name. Each
is run by :mod:`instructor.grading` in a bubblewrap sandbox (own uid, no network, limits) against
the released course wheel (``dist/students``, unpacked: the course as a student has it, not this
checkout) and a data cache prepared once beforehand (files it can read, never change); the
notebook's hidden cases (``instructor/grading/hidden/nb<NN>.py``) are scored here, outside the
sandbox. A notebook without such a module gets an ``error`` row per submission, and the run goes
on.

Where no sandbox can run (``bwrap`` missing, no namespaces) it refuses unless ``--trusted`` says
every submission comes from a trusted author (then they run unconfined, with rlimits only).

Parallel and incremental: ``--jobs`` sandboxes at a time (each its own uid, TensorFlow threads =
cores / jobs); a result is kept in ``SUBMISSIONS/.grading/results/<key>.json`` and reused only for
the same key: a hash of the submission's bytes, the notebook's autograder zip, hidden module,
master notebook and course wheel, the profile and :data:`instructor.grading.GRADER_VERSION`.

Written into the folder:

- ``grades-<notebook>.csv``: one row per submission of that notebook: ``submission, notebook``,
  one column per question (points, ``manual`` for written ones), ``total``, ``possible`` (auto-
  graded points), ``code`` (a limit the run broke: timeout, memory, processes, output,
  disk, kernel-died), ``message`` (its sentence), ``flags`` (suspicious code, for a human to
  look at; never a verdict), ``error`` (why it could not be graded).
- ``grades.csv``: every submission: ``submission, notebook, total, possible, code, flags, error``.
- ``feedback/<submission>.md``: per question its points, per case passed / failed and why (never
  a hidden case's code or expected values), the run's code and message; and
  ``feedback/<submission>.html``, the hand-in rendered, to read the written answers.
- ``grades-summary.md`` and ``grades-<notebook>.png``: the distribution of each question's scores.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import importlib.util
import json
import os
import queue
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from instructor.grading import DEFAULT_PROFILE, GRADER_VERSION, grading_profile, sandbox, verdicts
from instructor.grading.datacache import prepare_data_cache

ROOT = Path(__file__).resolve().parent.parent
HIDDEN_DIR = ROOT / "instructor" / "grading" / "hidden"
TIMEOUT = int(os.environ.get("GRADE_TIMEOUT", "3600"))  # seconds per submission
UID_BASE = sandbox.UID_BASE  # the jobs run as free uids from here up (sandbox.reserve_uids)
STATE = ".grading"  # hidden folder in the submissions folder: results cache, data cache
# Codes whose results are not kept: they depend on the machine's load, not on the submission.
NOT_CACHED = ("timeout",)


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


def digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "little") + data)
    return hasher.hexdigest()


def file_digest(path: Path | None) -> str:
    return digest(path.read_bytes()) if path is not None and path.is_file() else "-"


# ---- one notebook's grading inputs ----


@dataclasses.dataclass
class Assignment:
    """What grading one notebook's submissions needs; ``problem`` when it cannot be graded."""

    stem: str
    questions: list[dict]
    hidden: verdicts.Hidden | None = None
    problem: str = ""
    key: str = ""  # the notebook's part of every cache key
    course_cells: frozenset[str] = frozenset()


def hidden_path(stem: str, hidden_dir: Path) -> Path | None:
    """``hidden_dir/nb<NN>.py`` (or ``hidden_dir/<stem>.py``) when it exists."""
    for name in (verdicts.hidden_module_name(stem), stem):
        path = hidden_dir / f"{name}.py"
        if path.is_file():
            return path
    return None


def load_module(path: Path):
    name = f"_grading_hidden_{digest(str(path))[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_assignment(
    stem: str, info: dict, autograders: Path, hidden_dir: Path, masters: Path, wheel: Path | None
) -> Assignment:
    """A notebook's questions, hidden cases (expected values computed) and cache-key part."""
    assignment = Assignment(stem, info["questions"])
    path = hidden_path(stem, hidden_dir)
    if path is None:
        assignment.problem = (
            f"no hidden tests for {stem}: {hidden_dir / verdicts.hidden_module_name(stem)}.py "
            "is missing (write it as instructor/grading/hidden/nb03.py is written)"
        )
        return assignment
    master = masters / f"{stem}.ipynb"
    try:
        module = load_module(path)
        assignment.hidden = verdicts.load_hidden(module, master)
    except Exception as error:  # noqa: BLE001 - one notebook's broken module must not stop others
        assignment.problem = f"hidden tests of {stem} ({path.name}) do not load: {error}"[:300]
        return assignment
    assignment.key = digest(
        file_digest(autograders / f"{stem}-autograder.zip"),
        path.read_bytes(),
        file_digest(master),
        file_digest(wheel),
    )
    student = wheel.parent / f"{stem}.ipynb" if wheel is not None else None
    if student is not None and student.is_file():  # cells the course wrote are never flagged
        cells = nbformat.read(student, as_version=4).cells
        assignment.course_cells = frozenset(c.source for c in cells if c.cell_type == "code")
    return assignment


# ---- grading ----


def run_grading(
    submission: Path, assignment: Assignment, setup: verdicts.Setup, uid: int
) -> verdicts.Result:
    """Grade one submission (the seam tests replace)."""
    return verdicts.grade(
        submission, assignment.hidden, setup, uid=uid, course_cells=assignment.course_cells
    )


def record_of(result: verdicts.Result, assignment: Assignment) -> dict:
    """What is kept of a grading: plain data, enough for the CSVs and the feedback."""
    data = result.to_json()
    data["log"] = data["log"][-2000:]
    data["public"] = [c.name for c in assignment.hidden.cases if c.public]
    data["case_questions"] = {c.name: c.question for c in assignment.hidden.cases}
    data["case_points"] = {c.name: c.points for c in assignment.hidden.cases}
    return data


def row_of(submission: Path, stem: str, record: dict, questions: list[dict]) -> dict:
    row = {"submission": submission.name, "notebook": stem, "error": record.get("error", "")}
    if row["error"]:
        return row
    total = possible = 0.0
    for question in questions:
        name = question["name"]
        if question["manual"]:
            row[name] = "manual"
            continue
        score = float(record["scores"].get(name, 0.0))
        row[name], total, possible = score, total + score, possible + (question["points"] or 0)
    row["total"], row["possible"] = round(total, 4), round(possible, 4)
    row["code"], row["message"] = record.get("code", ""), record.get("message", "")
    row["flags"] = " ".join(record.get("flags", []))
    return row


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fields, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# ---- feedback ----


def feedback_markdown(row: dict, record: dict, questions: list[dict]) -> str:
    """One submission's feedback: points per question, each case passed / failed and why.

    Only case names, their points and the reasons the checks gave are shown: never a case's code,
    inputs or expected values.
    """
    lines = [f"# Feedback: {row['submission']}", "", f"Notebook: `{row['notebook']}`", ""]
    if row.get("error"):
        return "\n".join([*lines, f"**Not graded:** {row['error']}", ""])
    lines += [f"**Auto-graded points: {row['total']} / {row['possible']}**", ""]
    if record.get("code"):
        lines += [f"**Run stopped ({record['code']}):** {record.get('message', '')}", ""]
    reasons, owner = record.get("reasons", {}), record.get("case_questions", {})
    public, points = set(record.get("public", [])), record.get("case_points", {})
    for question in questions:
        name = question["name"]
        if question["manual"]:
            lines += [f"## {name}: written answer, graded by reading ({question['points']} points)"]
            lines.append("")
            continue
        lines += [f"## {name}: {row.get(name, 0)} / {question['points']} points", ""]
        lines += ["| case | points | result |", "|---|---|---|"]
        for case, why in reasons.items():
            if owner.get(case) != name:
                continue
            kind = "public" if case in public else "hidden"
            verdict = "passed" if not why else "failed: " + why.replace("|", "/").replace("\n", " ")
            lines.append(f"| `{case}` ({kind}) | {points.get(case, '')} | {verdict} |")
        lines.append("")
    if record.get("errors"):
        lines += ["## Errors in the notebook's cells", ""]
        lines += [f"- cell {e['cell']}: `{e['error']}`" for e in record["errors"][:20]]
        lines.append("")
    if record.get("render"):
        lines += [f"(The notebook could not be rendered as HTML: {record['render']})", ""]
    if record.get("flags"):
        lines += [f"Flagged for a human to look at: {', '.join(record['flags'])}", ""]
    return "\n".join(lines)


def render_html(submission: Path, dest: Path) -> str:
    """The submitted notebook as HTML (outputs' raw HTML and scripts sanitized); "" or why not."""
    try:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter()
        exporter.sanitize_html = True
        body, _ = exporter.from_notebook_node(notebook_of(submission))
        dest.write_text(body)
        return ""
    except Exception as error:  # noqa: BLE001 - a notebook nbconvert cannot render: say so
        return f"{type(error).__name__}: {error}"[:300]


def write_summary(folder: Path, columns: dict[str, list[dict]], rows: list[dict]) -> Path:
    """``grades-summary.md`` and a ``grades-<notebook>.png`` per notebook (score histograms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["# Grades summary", ""]
    for stem, questions in columns.items():
        mine = [row for row in rows if row.get("notebook") == stem]
        graded = [row for row in mine if not row.get("error")]
        auto = [q for q in questions if not q["manual"]]
        lines += [f"## {stem}", "", f"{len(mine)} submissions, {len(graded)} graded.", ""]
        lines += [
            "| question | points | mean | min | max | full marks |",
            "|---|---|---|---|---|---|",
        ]
        for question in auto:
            values = [float(row[question["name"]]) for row in graded]
            if values:
                full = sum(v >= (question["points"] or 0) for v in values)
                lines.append(
                    f"| {question['name']} | {question['points']} | "
                    f"{sum(values) / len(values):.2f} | {min(values):g} | {max(values):g} | "
                    f"{full} |"
                )
        codes = [row.get("code") for row in graded if row.get("code")]
        if codes:
            lines += ["", "Runs stopped: " + ", ".join(f"{c} {codes.count(c)}" for c in set(codes))]
        errors = [row for row in mine if row.get("error")]
        if errors:
            lines += ["", f"Not graded: {len(errors)} (see the `error` column)."]
        if graded and auto:
            figure, axes = plt.subplots(
                1, len(auto) + 1, figsize=(2.6 * (len(auto) + 1), 2.6), squeeze=False
            )
            for axis, question in zip(axes[0], auto):
                axis.hist([float(row[question["name"]]) for row in graded], bins=10)
                axis.set_title(f"{question['name']} (/{question['points']})", fontsize=9)
            axes[0][-1].hist([float(row["total"]) for row in graded], bins=10, color="tab:orange")
            axes[0][-1].set_title(f"total (/{graded[0]['possible']})", fontsize=9)
            figure.tight_layout()
            figure.savefig(folder / f"grades-{stem}.png", dpi=80)
            plt.close(figure)
            lines += ["", f"![scores of {stem}](grades-{stem}.png)"]
        lines.append("")
    path = folder / "grades-summary.md"
    path.write_text("\n".join(lines))
    return path


# ---- the run ----


def find_wheel(students: Path) -> Path | None:
    wheels = sorted(students.glob("neural_codes_course-*.whl"))
    return wheels[-1] if wheels else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--autograders", type=Path, default=ROOT / "dist" / "autograder")
    parser.add_argument(
        "--students", type=Path, help="the release's student folder (default: beside autograders)"
    )
    parser.add_argument("--hidden", type=Path, default=HIDDEN_DIR, help="hidden-test modules")
    parser.add_argument("--masters", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--jobs", type=int, default=0, help="sandboxes at a time (default: cores)")
    parser.add_argument(
        "--trusted", action="store_true", help="run without the sandbox (trusted authors only)"
    )
    parser.add_argument(
        "--data-cache", type=Path, help="a prepared data cache (default: SUBMISSIONS/.grading/)"
    )
    parser.add_argument("--no-cache", action="store_true", help="regrade every submission")
    parser.add_argument("--uid-base", type=int, default=UID_BASE)
    parser.add_argument(
        "--profile",
        help=f"the profile submissions run in (default: $COURSE_GRADING_PROFILE or "
        f"{DEFAULT_PROFILE})",
    )
    args = parser.parse_args(argv)
    try:
        profile = grading_profile(args.profile)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    folder = args.submissions
    infos = {
        path.name.removesuffix("-questions.json"): json.loads(path.read_text())
        for path in sorted(args.autograders.glob("*-questions.json"))
    }
    if not infos:
        print(f"No autograders in {args.autograders}: run `make release` first.", file=sys.stderr)
        return 1
    submissions = sorted(
        p for p in folder.iterdir() if p.suffix in (".ipynb", ".zip") and not p.name.startswith(".")
    )
    if not submissions:
        print(f"No submissions (*.ipynb, *.zip) in {folder}.", file=sys.stderr)
        return 1
    problem = None if args.trusted else sandbox.sandbox_problem()
    if problem:
        print(f"Cannot grade untrusted submissions here: {problem}", file=sys.stderr)
        return 2
    students = args.students or args.autograders.parent / "students"
    wheel = find_wheel(students)
    if wheel is None:
        print(f"No course wheel in {students}: run `make release` first.", file=sys.stderr)
        return 1
    jobs = args.jobs or os.cpu_count() or 1
    cores = os.cpu_count() or 1

    state = folder / STATE
    (state / "results").mkdir(parents=True, exist_ok=True)
    feedback = folder / "feedback"
    feedback.mkdir(exist_ok=True)
    stems, rows_by_name, todo = {}, {}, []
    for submission in submissions:
        try:
            stems[submission] = assignment_of(submission, list(infos))
        except Exception as error:  # noqa: BLE001 - one broken submission must not stop the class
            rows_by_name[submission.name] = {
                "submission": submission.name,
                "notebook": "",
                "error": (str(error).splitlines() or [type(error).__name__])[0][:300],
            }
    assignments = {
        stem: load_assignment(stem, infos[stem], args.autograders, args.hidden, args.masters, wheel)
        for stem in sorted(set(stems.values()))
    }
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    mirror = Path(mirror) if mirror and Path(mirror).is_dir() else None
    data_cache = args.data_cache or state / f"data-{profile}"
    gradable = [stem for stem, a in assignments.items() if not a.problem]
    with tempfile.TemporaryDirectory(prefix="grading-course-") as site:
        setup = verdicts.Setup(
            venv=Path(sys.prefix),
            course_site=verdicts.unpack_wheel(wheel, Path(site) / "course"),
            profile=profile,
            limits=sandbox.Limits(seconds=TIMEOUT),
            cell_timeout=min(1800.0, TIMEOUT),
            threads=max(1, cores // jobs),
            data_cache=data_cache,
            mirror=mirror,
            trusted=args.trusted,
        )
        records, keys = {}, {}
        for submission, stem in stems.items():
            assignment = assignments[stem]
            if assignment.problem:
                records[submission] = {"error": assignment.problem}
                continue
            keys[submission] = digest(
                GRADER_VERSION, profile, submission.read_bytes(), assignment.key
            )
            cached = state / "results" / f"{keys[submission]}.json"
            if cached.is_file() and not args.no_cache:
                records[submission] = json.loads(cached.read_text())
            else:
                todo.append(submission)
        if todo:
            need = sorted({stems[s] for s in todo if stems[s] in gradable})
            if args.data_cache is None or not data_cache.exists():
                prepare_data_cache(data_cache, need, args.masters, profile, mirror)
            records.update(
                grade_all(todo, stems, assignments, setup, jobs, args.uid_base, feedback)
            )
            for submission in todo:
                record = records[submission]
                if not record.get("error") and record.get("code") not in NOT_CACHED:
                    path = state / "results" / f"{keys[submission]}.json"
                    path.write_text(json.dumps(record))
    print(f"{len(todo)} graded, {len(keys) - len(todo)} unchanged (from the results cache)")

    columns = {stem: infos[stem]["questions"] for stem in assignments}
    for submission, stem in stems.items():
        record = records[submission]
        row = row_of(submission, stem, record, infos[stem]["questions"])
        html = feedback / f"{submission.name}.html"
        if not html.exists():  # a graded submission's was rendered by its job (grade_all)
            why = render_html(submission, html)
            if why:
                record = {**record, "render": why}
        text = feedback_markdown(row, record, infos[stem]["questions"])
        (feedback / f"{submission.name}.md").write_text(text)
        rows_by_name[submission.name] = row
    for submission in submissions:  # those whose notebook could not be told: why, for them too
        if submission not in stems:
            text = feedback_markdown(rows_by_name[submission.name], {}, [])
            (feedback / f"{submission.name}.md").write_text(text)
    rows = [rows_by_name[s.name] for s in submissions]
    for stem, questions in columns.items():
        write_csv(
            folder / f"grades-{stem}.csv",
            ["submission", "notebook", *(q["name"] for q in questions)]
            + ["total", "possible", "code", "message", "flags", "error"],
            [row for row in rows if row["notebook"] == stem],
        )
    out = folder / "grades.csv"
    write_csv(out, ["submission", "notebook", "total", "possible", "code", "flags", "error"], rows)
    summary = write_summary(folder, columns, rows)
    print(f"wrote {out}, {summary.name}, feedback/" + "".join(f", grades-{s}.csv" for s in columns))
    return 0


def grade_all(
    todo: list[Path],
    stems: dict[Path, str],
    assignments: dict[str, Assignment],
    setup: verdicts.Setup,
    jobs: int,
    uid_base: int,
    feedback: Path | None = None,
) -> dict[Path, dict]:
    """Grade ``todo`` with ``jobs`` sandboxes at a time (a uid each); a progress bar with ETA.

    With ``feedback``, each job also renders its submission's HTML there (while the other jobs'
    sandboxes compute, rather than one after another at the end)."""
    from tqdm.auto import tqdm

    uids: queue.Queue[int] = queue.Queue()
    reserved = sandbox.reserve_uids(jobs, uid_base)
    for uid in reserved:
        uids.put(uid)
    lock, bars = threading.Lock(), []

    def one(submission: Path) -> dict:
        uid = uids.get()
        start = time.perf_counter()
        try:
            assignment = assignments[stems[submission]]
            result = run_grading(submission, assignment, setup, uid)
            record = record_of(result, assignment)
        except Exception as error:  # noqa: BLE001 - one broken submission must not stop the class
            record = {"error": (str(error).splitlines() or [type(error).__name__])[0][:300]}
        finally:
            uids.put(uid)
        if feedback is not None:
            why = render_html(submission, feedback / f"{submission.name}.html")
            if why:
                record["render"] = why
        with lock:
            if bars:
                bars[0].set_postfix_str(f"{submission.name} {time.perf_counter() - start:.0f} s")
        return record

    records = {}
    try:
        run_pool(todo, one, jobs, records, tqdm, bars)
    finally:
        for handle in reserved.values():
            handle.close()
    return records


def run_pool(todo, one, jobs, records, tqdm, bars) -> None:
    with tqdm(total=len(todo), unit="submission", desc="grading", file=sys.stderr) as bar:
        bars.append(bar)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(one, submission): submission for submission in todo}
            for future in as_completed(futures):
                submission = futures[future]
                records[submission] = record = future.result()
                score = sum(record.get("scores", {}).values())
                extra = record.get("error") or record.get("code") or ""
                bar.write(f"{submission.name}: {score:g}{'  ' + extra if extra else ''}")
                bar.update()


if __name__ == "__main__":
    sys.exit(main())
