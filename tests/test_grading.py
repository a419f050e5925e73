"""make release / make grade: student versions leak nothing, grading scores what it should.

The leak check covers every master notebook in notebooks/. The grading checks use a tiny
otter-format notebook built here (seconds per submission), and grade one real notebook (05, the
quickest) end to end once.
"""

import ast
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

# The grading tools are the `local` extra (otter-grader); `make compat` installs the course without
# extras, as a student's Colab does, so there these tests have nothing to test.
pytest.importorskip("otter", reason="otter-grader (the `local` extra) is not installed")
import yaml  # noqa: E402
from nbformat.v4 import new_code_cell as C  # noqa: E402
from nbformat.v4 import new_markdown_cell as M  # noqa: E402
from nbformat.v4 import new_raw_cell as R  # noqa: E402

from instructor import assignment_config, grade, release  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MASTERS = [pytest.param(path, id=path.stem) for path in NOTEBOOKS]


# ---- what a master notebook keeps secret, read here with plain loops (not via release.py) ----


def _raw_config(cell, marker):
    if cell.cell_type == "raw" and cell.source.lstrip().upper().startswith(marker):
        return yaml.safe_load(cell.source) or {}
    return None


def question_points(master):
    """{question name: (points, manual)} from the master's BEGIN QUESTION cells."""
    found = {}
    for cell in master.cells:
        config = _raw_config(cell, "# BEGIN QUESTION")
        if config is not None:
            found[config["name"]] = (config.get("points", 0), bool(config.get("manual")))
    return found


def split_lines(master):
    """(secret, public) lines of a master notebook.

    Secret: the lines of solution regions, model answers and hidden tests. Public: every other
    line (e.g. a solution cell's signature and docstring, a public test, an ordinary cell).
    """
    secret, public, block = [], [], []
    for cell in master.cells:
        if cell.cell_type == "raw":
            head = cell.source.strip().upper()
            for kind in ("SOLUTION", "TESTS"):
                if head.startswith(f"# BEGIN {kind}"):
                    block.append(kind)
                elif head.startswith(f"# END {kind}"):
                    block.pop()
            continue
        lines = cell.source.splitlines()
        if block and block[-1] == "SOLUTION" and cell.cell_type == "markdown":
            secret += lines  # a model answer
        elif block and block[-1] == "SOLUTION":
            inside = False
            for line in lines:
                if line.strip().startswith("# END SOLUTION"):
                    inside = False
                elif inside:
                    secret.append(line)
                elif line.rstrip().endswith("# SOLUTION"):
                    secret.append(line.rsplit("# SOLUTION", 1)[0].split("=", 1)[-1])
                elif line.strip().startswith("# BEGIN SOLUTION"):
                    inside = True
                else:
                    public.append(line)
        elif block and block[-1] == "TESTS" and "hidden: true" in cell.source.lower():
            secret += cell.source.split("# END TEST CONFIG", 1)[-1].splitlines()
        else:
            public += lines
    return secret, public


def normalised(line):
    """A line as ast.unparse writes it (otter rewrites test code so), or as it is."""
    line = line.strip()
    try:
        return ast.unparse(ast.parse(line)) or line  # a comment unparses to ""
    except SyntaxError:
        return line


def all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_strings(value)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Release each master notebook once (per notebook; None when it cannot be released)."""
    out, cache = tmp_path_factory.mktemp("dist"), {}

    def get(path):
        if path not in cache:
            cache[path] = release.release_notebook(path, out)
        return out, cache[path]

    return get


@pytest.mark.parametrize("master_path", MASTERS)
def test_student_version_holds_no_solution_model_answer_or_hidden_test(master_path, released):
    master = nbformat.read(master_path, as_version=4)
    questions = question_points(master)
    assert questions, (
        f"{master_path.name} has no '# BEGIN QUESTION' cells: it is not an otter "
        "master notebook yet (see notebooks/AUTHORING.md)."
    )
    out, info = released(master_path)
    student = nbformat.read(out / "students" / master_path.name, as_version=4)
    shown = {
        line.strip().removeprefix(">>> ").removeprefix("... ").strip()  # doctest prompts
        for text in all_strings(student)  # cell sources and the public tests (metadata)
        for line in text.splitlines()
    }
    secret, public = split_lines(master)
    allowed = {line.strip() for line in public}  # also shown elsewhere, e.g. in a public test
    secrets = {line.strip() for line in secret} - allowed
    secrets = {line for line in secrets if len(line) > 8}
    assert secrets, f"{master_path.name}: no solution lines found"
    shown |= {normalised(line) for line in shown}
    leaked = sorted(line for line in secrets if line in shown or normalised(line) in shown)
    assert not leaked, f"{master_path.name}: these reach the student version: {leaked[:5]}"
    assert {q["name"] for q in info["questions"]} == set(questions)
    answer_cells = [c for c in student.cells if "otter_answer_cell" in c.metadata.get("tags", [])]
    assert len(answer_cells) >= len(questions)
    assert all("..." in c.source or "Type your answer here" in c.source for c in answer_cells)


@pytest.mark.parametrize("master_path", MASTERS)
def test_every_master_notebook_has_the_generated_assignment_config(master_path):
    assert assignment_config.main(["--check", str(master_path)]) == 0


def test_assignment_config_script_fills_a_placeholder_and_check_finds_stale_ones(tmp_path):
    path = tmp_path / "07_demo.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[R("# ASSIGNMENT CONFIG\nname: 07_demo"), C("1")])
    nbformat.write(notebook, path)
    assert assignment_config.main(["--check", str(path)]) == 1
    assert assignment_config.main([str(path)]) == 0
    written = yaml.safe_load(nbformat.read(path, as_version=4).cells[0].source)
    assert written["name"] == "07_demo" and written["export_cell"]["pdf"] is False
    assert written["export_cell"]["files"] == ["07_demo.html"] and written["check_all_cell"]
    assert assignment_config.main(["--check", str(path)]) == 0
    wrong = tmp_path / "08_other.ipynb"
    shutil.copy(path, wrong)  # a name that is not the file's stem is an error, not rewritten
    assert assignment_config.main([str(wrong)]) == 1


# ---- grading a tiny otter notebook: untouched student, one NotImplementedError, a crash
# (the master's full marks: notebook 05 below)

KERNEL = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def tiny_master(
    q2_solution="    return sum(values)", between="SQUARES = [square(i) for i in range(3)]"
):
    return nbformat.v4.new_notebook(
        metadata=KERNEL,
        cells=[
            R(assignment_config.config_source("tiny_assignment")),
            M("# A tiny assignment"),
            C("import numpy as np"),
            R("# BEGIN QUESTION\nname: q1\npoints: 2"),
            M("Write `square`."),
            R("# BEGIN SOLUTION"),
            C(
                'def square(x):\n    """x squared."""\n'
                "    # BEGIN SOLUTION\n    return x * x\n    # END SOLUTION"
            ),
            R("# END SOLUTION"),
            R("# BEGIN TESTS"),
            C("assert square(3) == 9"),
            C(
                '""" # BEGIN TEST CONFIG\nhidden: true\npoints: 1\n""" # END TEST CONFIG\n'
                "np.testing.assert_allclose(square(np.arange(4.0)), [0, 1, 4, 9])"
            ),
            R("# END TESTS"),
            R("# END QUESTION"),
            C(between),
            R("# BEGIN QUESTION\nname: q2\npoints: 3"),
            M("Write `total`."),
            R("# BEGIN SOLUTION"),
            C(
                f'def total(values):\n    """The sum."""\n'
                f"    # BEGIN SOLUTION\n{q2_solution}\n    # END SOLUTION"
            ),
            R("# END SOLUTION"),
            R("# BEGIN TESTS"),
            C("assert total([1, 2]) == 3"),
            C(
                '""" # BEGIN TEST CONFIG\nhidden: true\npoints: 2\n""" # END TEST CONFIG\n'
                "assert total(range(10)) == 45"
            ),
            R("# END TESTS"),
            R("# END QUESTION"),
            R("# BEGIN QUESTION\nname: q3\nmanual: true\npoints: 2"),
            M("**Why?**"),
            R("# BEGIN SOLUTION"),
            M("**Answer:** because the model answer says so"),
            R("# END SOLUTION"),
            R("# END QUESTION"),
        ],
    )


# The tiny assignment's hidden cases, in the format of instructor/grading/hidden/nb03.py.
TINY_HIDDEN = """
import numpy as np
from instructor.grading.verdicts import Case, allclose

NOTEBOOK = "tiny_assignment"
REFERENCE = ["square", "total"]
PRELUDE = "import numpy as np\\n"
SECRET_INPUT = np.array([0.0, 1.0, 2.0, 31.0])


def cases():
    return [
        Case("square_worked", "q1", 1, "result = square(3)", public=True,
             expected=lambda ref, i: ref.square(3), check=allclose()),
        Case("square_secret_vector", "q1", 1, "result = square(x) + 0 * 7.0625",
             inputs={"x": SECRET_INPUT},
             expected=lambda ref, i: ref.square(i["x"]), check=allclose()),
        Case("total_worked", "q2", 1, "result = total([1, 2])", public=True,
             expected=lambda ref, i: ref.total([1, 2]), check=allclose()),
        Case("total_secret_range", "q2", 2, "result = total(range(10))",
             expected=lambda ref, i: ref.total(range(10)), check=allclose()),
    ]
"""
TINY_HIDDEN_CODE = ("square(x) + 0 * 7.0625", "total(range(10))")  # never in the feedback


def tiny_release(base):
    """Release the tiny assignment into base/dist; its master in base/masters, its hidden
    module in base/hidden. Returns the arguments grade.main needs besides the folder."""
    masters = base / "masters"
    masters.mkdir()
    master_path = masters / "tiny_assignment.ipynb"
    nbformat.write(tiny_master(), master_path)
    out = base / "dist"
    release.release_notebook(master_path, out)
    release.build_wheel(out / "students")
    (base / "hidden").mkdir()
    (base / "hidden" / "tiny_assignment.py").write_text(TINY_HIDDEN)
    return [
        "--autograders", str(out / "autograder"),
        "--hidden", str(base / "hidden"),
        "--masters", str(masters),
    ]  # fmt: skip


def tiny_submissions(base, out):
    submissions = base / "submissions"
    submissions.mkdir()
    shutil.copy(out / "students" / "tiny_assignment.ipynb", submissions / "student_untouched.ipynb")
    nbformat.write(
        tiny_master(q2_solution="    raise NotImplementedError"),
        submissions / "tiny_assignment_q2_raises.ipynb",
    )
    nbformat.write(
        tiny_master(between="raise RuntimeError('the student broke this cell')\ndel square"),
        submissions / "tiny_assignment_crash.ipynb",
    )
    (submissions / "tiny_assignment_garbage.zip").write_bytes(b"not a zip")
    return submissions


needs_sandbox = pytest.mark.skipif(
    grade.sandbox.sandbox_problem() is not None,
    reason=f"no sandbox here: {grade.sandbox.sandbox_problem()}",
)


@pytest.fixture(scope="module")
def tiny_grades(tmp_path_factory):
    if grade.sandbox.sandbox_problem() is not None:
        pytest.skip(f"no sandbox here: {grade.sandbox.sandbox_problem()}")
    base = tmp_path_factory.mktemp("tiny")
    options = tiny_release(base)
    submissions = tiny_submissions(base, base / "dist")
    assert grade.main([str(submissions), *options, "--jobs", "1"]) == 0
    rows = read_grades(submissions / "grades-tiny_assignment.csv")
    summary = read_grades(submissions / "grades.csv")
    # A submission whose assignment cannot be graded at all is in the summary only.
    rows.update({name: row for name, row in summary.items() if name not in rows})
    for row in rows.values():
        row["_folder"] = submissions
        row["_options"] = options
    return rows


def read_grades(path):
    with open(path) as file:
        return {row["submission"]: row for row in csv.DictReader(file)}


@pytest.mark.slow  # end-to-end (make check)
def test_the_untouched_student_version_scores_nothing_on_code_questions(tiny_grades):
    row = tiny_grades["student_untouched.ipynb"]
    assert (float(row["q1"]), float(row["q2"]), row["q3"]) == (0, 0, "manual")
    assert float(row["total"]) == 0 and float(row["possible"]) == 5  # 2 + 3; q3 is manual
    assert row["notebook"] == "tiny_assignment"


@pytest.mark.slow  # end-to-end (make check)
def test_one_not_implemented_solution_loses_exactly_that_questions_points(tiny_grades):
    row = tiny_grades["tiny_assignment_q2_raises.ipynb"]
    assert (float(row["q1"]), float(row["q2"])) == (2, 0) and float(row["total"]) == 2


@pytest.mark.slow  # end-to-end (make check)
def test_a_crash_keeps_the_points_before_it_and_the_run_goes_on(tiny_grades):
    crash = tiny_grades["tiny_assignment_crash.ipynb"]
    assert float(crash["q1"]) == 2 and crash["error"] == ""  # `del square` never ran
    garbage = tiny_grades["tiny_assignment_garbage.zip"]
    assert garbage["error"] and garbage["total"] == ""
    feedback = garbage["_folder"] / "feedback" / "tiny_assignment_garbage.zip.md"
    assert "not a zip file" in feedback.read_text()
    assert len(tiny_grades) == 4  # every submission has its row


@pytest.mark.slow  # end-to-end (make check)
def test_the_summary_has_every_submission_with_the_assignment_files_totals(tiny_grades):
    summary = read_grades(tiny_grades["tiny_assignment_garbage.zip"]["_folder"] / "grades.csv")
    assert set(summary) == set(tiny_grades)
    for name, row in summary.items():
        assert "q1" not in row  # question columns live in the per-assignment file only
        assert [row[k] for k in ("notebook", "total", "possible", "error")] == [
            tiny_grades[name][k] for k in ("notebook", "total", "possible", "error")
        ]


def fake_assignments(tmp_path, questions):
    """Autograder folders for notebooks ``questions`` ({stem: [(name, points, manual)]}), with a
    hidden module per notebook (cases named ``<question>_case``), masters and a course wheel."""
    autograders, masters, hidden = tmp_path / "autograder", tmp_path / "masters", tmp_path / "h"
    for folder in (autograders, masters, hidden, tmp_path / "students"):
        folder.mkdir()
    with zipfile.ZipFile(
        tmp_path / "students" / "neural_codes_course-0-py3-none-any.whl", "w"
    ) as w:
        w.writestr("helpers/__init__.py", "")
    for stem, items in questions.items():
        (autograders / f"{stem}-questions.json").write_text(
            json.dumps(
                {
                    "notebook": stem,
                    "questions": [{"name": n, "points": p, "manual": m} for n, p, m in items],
                }
            )
        )
        nbformat.write(nbformat.v4.new_notebook(), masters / f"{stem}.ipynb")
        cases = ", ".join(
            f"Case({n + '_case'!r}, {n!r}, {p}, 'result = 1', check=lambda g, e, r: None)"
            for n, p, m in items
            if not m
        )
        (hidden / f"{stem}.py").write_text(
            "from instructor.grading.verdicts import Case\n"
            f"NOTEBOOK, REFERENCE, PRELUDE = {stem!r}, [], ''\n"
            f"def cases():\n    return [{cases}]\n"
        )
    options = ["--autograders", str(autograders), "--hidden", str(hidden), "--masters"]
    return [*options, str(masters), "--trusted", "--jobs", "2"]


def fake_grading(scored, calls):
    """A stand-in for run_grading: the scores ``scored[stem]``, each call noted in ``calls``."""

    def run(submission, assignment, setup, uid):
        calls.append(submission.name)
        reasons = {case.name: "" for case in assignment.hidden.cases}
        return grade.verdicts.Result(dict(scored[assignment.stem]), reasons)

    return run


def test_two_assignments_in_one_folder_keep_their_same_named_questions_apart(tmp_path, monkeypatch):
    # Both notebooks have a question "q1"; run_grading is replaced (no sandbox run): this is only
    # about how the rows are laid out.
    options = fake_assignments(
        tmp_path, {"first": [("q1", 2, False), ("q2", 1, True)], "second": [("q1", 5, False)]}
    )
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for stem in ("first", "second"):
        notebook = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": stem}})
        nbformat.write(notebook, submissions / f"{stem}_alice.ipynb")
    scored = {"first": {"q1": 1.5}, "second": {"q1": 4.0}}
    monkeypatch.setattr(grade, "run_grading", fake_grading(scored, []))
    assert grade.main([str(submissions), *options]) == 0
    first = read_grades(submissions / "grades-first.csv")["first_alice.ipynb"]
    second = read_grades(submissions / "grades-second.csv")["second_alice.ipynb"]
    assert (first["q1"], first["q2"], first["total"], first["possible"]) == (
        "1.5",
        "manual",
        "1.5",
        "2.0",
    )
    assert (second["q1"], second["total"], second["possible"]) == ("4.0", "4.0", "5.0")
    assert "q2" not in second
    summary = read_grades(submissions / "grades.csv")
    assert {name: row["total"] for name, row in summary.items()} == {
        "first_alice.ipynb": "1.5",
        "second_alice.ipynb": "4.0",
    }
    assert (submissions / "grades-summary.md").exists() and (
        submissions / "grades-first.png"
    ).exists()


def test_a_notebook_without_hidden_tests_gets_an_error_row_and_the_others_are_graded(
    tmp_path, monkeypatch
):
    options = fake_assignments(
        tmp_path, {"01_a": [("q1_1", 2, False)], "02_b": [("q2_1", 3, False)]}
    )
    (tmp_path / "h" / "02_b.py").unlink()
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for stem in ("01_a", "02_b"):
        nbformat.write(nbformat.v4.new_notebook(), submissions / f"{stem}_bob.ipynb")
    scored = {"01_a": {"q1_1": 2.0}}
    monkeypatch.setattr(grade, "run_grading", fake_grading(scored, []))
    assert grade.main([str(submissions), *options]) == 0
    summary = read_grades(submissions / "grades.csv")
    assert summary["01_a_bob.ipynb"]["total"] == "2.0" and summary["01_a_bob.ipynb"]["error"] == ""
    error = summary["02_b_bob.ipynb"]["error"]
    assert "no hidden tests for 02_b" in error and "nb02.py is missing" in error
    assert "Not graded" in (submissions / "feedback" / "02_b_bob.ipynb.md").read_text()


def test_without_a_sandbox_it_refuses_and_says_what_to_install_unless_trusted(
    tmp_path, monkeypatch, capsys
):
    options = fake_assignments(tmp_path, {"01_a": [("q1_1", 2, False)]})
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), submissions / "01_a_eve.ipynb")
    monkeypatch.setattr(grade.sandbox.shutil, "which", lambda name: None)  # no bwrap
    monkeypatch.setattr(grade, "run_grading", fake_grading({"01_a": {"q1_1": 2.0}}, []))
    untrusted = [o for o in options if o != "--trusted"]
    assert grade.main([str(submissions), *untrusted]) == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err
    assert not (submissions / "grades.csv").exists()
    assert grade.main([str(submissions), *options]) == 0


def test_a_rerun_regrades_only_changed_submissions_and_a_new_grader_version_regrades_all(
    tmp_path, monkeypatch
):
    options = fake_assignments(tmp_path, {"01_a": [("q1_1", 2, False)]})
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for name in ("ann", "ben", "cat"):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {name!r}")])
        nbformat.write(notebook, submissions / f"01_a_{name}.ipynb")
    calls = []
    monkeypatch.setattr(grade, "run_grading", fake_grading({"01_a": {"q1_1": 2.0}}, calls))

    def run():
        calls.clear()
        assert grade.main([str(submissions), *options]) == 0
        return sorted(calls)

    everyone = ["01_a_ann.ipynb", "01_a_ben.ipynb", "01_a_cat.ipynb"]
    assert run() == everyone
    assert run() == []
    changed = nbformat.read(submissions / "01_a_ben.ipynb", as_version=4)
    changed.cells[0].source += "\ny = 1"
    nbformat.write(changed, submissions / "01_a_ben.ipynb")
    assert run() == ["01_a_ben.ipynb"]
    # A cached result is found by its key only: the file named by another key is never read.
    keys = {p.stem for p in (submissions / ".grading" / "results").glob("*.json")}
    assert len(keys) == 4  # three first gradings + ben's new one

    def sha(*parts):  # sha256 over length-prefixed parts, as the README describes the key
        hasher = hashlib.sha256()
        for part in parts:
            part = part if isinstance(part, bytes) else part.encode()
            hasher.update(len(part).to_bytes(8, "little") + part)
        return hasher.hexdigest()

    def file_sha(path):
        return sha(path.read_bytes()) if path.exists() else "-"

    notebook_part = sha(
        "-",  # no autograder zip in this folder
        (tmp_path / "h" / "01_a.py").read_bytes(),
        file_sha(tmp_path / "masters" / "01_a.ipynb"),
        file_sha(tmp_path / "students" / "neural_codes_course-0-py3-none-any.whl"),
    )
    ann = sha(
        grade.GRADER_VERSION,
        "grading",
        (submissions / "01_a_ann.ipynb").read_bytes(),
        notebook_part,
    )
    assert ann in keys
    (tmp_path / "h" / "01_a.py").write_text((tmp_path / "h" / "01_a.py").read_text() + "\n# v2\n")
    assert run() == everyone  # a changed hidden module: every key changes
    monkeypatch.setattr(grade, "GRADER_VERSION", "999")
    assert run() == everyone
    monkeypatch.setenv("COURSE_GRADING_PROFILE", "sample")
    assert run() == everyone
    assert run() == []


def test_the_feedback_shows_case_names_and_reasons_never_hidden_code(tmp_path, monkeypatch):
    options = fake_assignments(tmp_path, {"01_a": [("q1_1", 2, False), ("q1_2", 1, True)]})
    (tmp_path / "h" / "01_a.py").write_text(
        "import numpy as np\n"
        "from instructor.grading.verdicts import Case, allclose\n"
        "NOTEBOOK, REFERENCE, PRELUDE = '01_a', [], ''\n"
        "def cases():\n"
        "    return [Case('worked', 'q1_1', 1, 'result = f(2)', public=True,"
        " expected=lambda r, i: 4, check=allclose()),\n"
        "            Case('hidden_big', 'q1_1', 1, 'result = f(secret_input_8812)',"
        " inputs={'secret_input_8812': np.array([8812.0])},"
        " expected=lambda r, i: 77654321.0, check=allclose())]\n"
    )
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), submissions / "01_a_dan.ipynb")

    def run(submission, assignment, setup, uid):
        got = {"worked": {"value": np.array(4.0)}, "hidden_big": {"value": np.array(1.0)}}
        reasons = {
            case.name: case.check(got[case.name], assignment.hidden.expected[case.name], None) or ""
            for case in assignment.hidden.cases
        }
        return grade.verdicts.Result({"q1_1": 1.0}, reasons, "memory", "too much memory")

    monkeypatch.setattr(grade, "run_grading", run)
    assert grade.main([str(submissions), *options]) == 0
    text = (submissions / "feedback" / "01_a_dan.ipynb.md").read_text()
    assert "`worked` (public) | 1 | passed" in text
    assert "`hidden_big` (hidden) | 1 | failed: value: values differ" in text
    assert "memory" in text and "too much memory" in text and "written answer" in text
    for secret in ("secret_input_8812", "8812", "77654321", "result = f("):
        assert secret not in text
    assert (submissions / "feedback" / "01_a_dan.ipynb.html").read_text().startswith("<!DOCTYPE")


@needs_sandbox
@pytest.mark.slow  # end-to-end (make check)
def test_two_jobs_give_the_same_grades_as_one_and_feedback_has_no_hidden_code(tiny_grades):
    folder, options = (
        tiny_grades["student_untouched.ipynb"]["_folder"],
        tiny_grades["student_untouched.ipynb"]["_options"],
    )
    again = folder.parent / "again"
    shutil.copytree(folder, again, ignore=shutil.ignore_patterns(".grading", "grades*", "feedback"))
    assert grade.main([str(again), *options, "--jobs", "2"]) == 0
    for name in ("grades.csv", "grades-tiny_assignment.csv"):
        assert (again / name).read_text() == (folder / name).read_text()
    for path in (folder / "feedback").glob("*.md"):
        text = path.read_text()
        assert not any(code in text for code in TINY_HIDDEN_CODE), path.name
        assert "31" not in text  # an input of a hidden case
    raises = (folder / "feedback" / "tiny_assignment_q2_raises.ipynb.md").read_text()
    assert "`square_secret_vector` (hidden) | 1 | passed" in raises
    assert "`total_secret_range` (hidden) | 2 | failed: NotImplementedError" in raises
    assert (folder / "grades-summary.md").exists() and (
        folder / "grades-tiny_assignment.png"
    ).exists()


@needs_sandbox
@pytest.mark.slow  # end-to-end (make check)
@pytest.mark.parametrize(
    "master_path",
    [
        pytest.param(
            path,
            id=path.stem,
            marks=pytest.mark.skipif(
                not grade.verdicts.has_hidden_module(path.stem),
                reason=f"no hidden tests for {path.stem} yet",
            ),
        )
        for path in NOTEBOOKS
    ],
)
def test_make_grade_gives_a_real_master_full_marks_and_its_student_version_zero(
    tmp_path, master_path
):
    questions = question_points(nbformat.read(master_path, as_version=4))
    full = sum(points for points, manual in questions.values() if not manual)
    release.release_notebook(master_path, tmp_path / "dist")
    release.build_wheel(tmp_path / "dist" / "students")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(master_path, submissions)
    shutil.copy(
        tmp_path / "dist" / "students" / master_path.name,
        submissions / f"student_{master_path.name}",
    )
    autograders = tmp_path / "dist" / "autograder"
    assert grade.main([str(submissions), "--autograders", str(autograders), "--jobs", "2"]) == 0
    rows = read_grades(submissions / f"grades-{master_path.stem}.csv")
    row, student = rows[master_path.name], rows[f"student_{master_path.name}"]
    assert row["error"] == "" and row["code"] == "", row
    assert float(row["total"]) == float(row["possible"]) == full
    assert float(student["total"]) == 0
    manual = [name for name, (_, is_manual) in questions.items() if is_manual]
    assert manual and all(row[name] == "manual" for name in manual)


def offline_venv(base):
    """A new venv whose sys.path adds this venv's packages, minus the course itself (as the
    bare_venv fixture of tests/test_setup_cell.py): offline, and the same pinned versions."""
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ours = Path(next(p for p in sys.path if p.endswith("site-packages")))
    overlay = base / "overlay"
    overlay.mkdir()
    for entry in ours.iterdir():
        if "neural_codes_course" in entry.name or entry.suffix == ".pth" or entry.name == "helpers":
            continue
        (overlay / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "course_test_deps.pth").write_text(str(overlay) + "\n")
    return venv / "bin" / "python"


@needs_sandbox
@pytest.mark.slow  # end-to-end (make check)
def test_the_autograder_zip_grades_offline_in_a_fresh_venv_as_make_grade_does(
    tiny_grades, tmp_path
):
    base = tiny_grades["student_untouched.ipynb"]["_folder"].parent
    dist = base / "dist"
    wheel = sorted((dist / "students").glob("neural_codes_course-*.whl"))[-1]
    info = json.loads((dist / "autograder" / "tiny_assignment-questions.json").read_text())
    autograder = tmp_path / "tiny_assignment-autograder.zip"
    shutil.copy(dist / "autograder" / "tiny_assignment-autograder.zip", autograder)
    assert release.add_grading_entry(
        autograder,
        "tiny_assignment",
        base / "masters" / "tiny_assignment.ipynb",
        wheel,
        info["questions"],
        hidden=base / "hidden" / "tiny_assignment.py",
        profile="sample",
    )
    root = tmp_path / "autograder"  # Gradescope's /autograder
    with zipfile.ZipFile(autograder) as archive:
        archive.extractall(root / "source")
        assert {"setup.sh", "run_autograder", "course/requirements.txt"} <= set(archive.namelist())
    python = offline_venv(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PIP_NO_INDEX": "1",  # no network: every pin must already be there
        "AUTOGRADER_ROOT": str(root),
        "COURSE_PYTHON": str(python),
        # The overlay's links point into this venv, which the sandbox does not show: unconfined,
        # as on a Gradescope image without bubblewrap.
        "COURSE_GRADING_TRUSTED": "1",
    }
    done = subprocess.run(
        ["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("student_untouched.ipynb", "tiny_assignment_q2_raises.ipynb"):
        shutil.rmtree(root / "submission", ignore_errors=True)
        (root / "submission").mkdir()
        shutil.copy(base / "submissions" / name, root / "submission" / name)
        done = subprocess.run(
            ["bash", str(root / "source" / "run_autograder")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads((root / "results" / "results.json").read_text())
        row = tiny_grades[name]
        assert {test["name"]: test["score"] for test in results["tests"]} == {
            "q1": float(row["q1"]),
            "q2": float(row["q2"]),
        }
        assert results["score"] == float(row["total"])
        assert "square(x) + 0 * 7.0625" not in json.dumps(results)


@pytest.mark.slow  # end-to-end (make check)
def test_the_hand_in_cell_zips_the_notebook_with_its_html_copy(tmp_path):
    from nbclient import NotebookClient

    master_path = tmp_path / "masters" / "tiny_assignment.ipynb"
    master_path.parent.mkdir()
    nbformat.write(tiny_master(), master_path)
    release.release_notebook(master_path, tmp_path / "dist")
    folder = tmp_path / "student"
    folder.mkdir()
    student_path = folder / "tiny_assignment.ipynb"
    shutil.copy(tmp_path / "dist" / "students" / "tiny_assignment.ipynb", student_path)
    student = nbformat.read(student_path, as_version=4)
    handin = release.handin_cell_source("tiny_assignment")
    assert handin in (student.cells[-2].source, student.cells[-1].source)
    source = release.init_cell_source(student_path.stem)
    (init,) = [cell for cell in student.cells if cell.source == source]
    NotebookClient(student, timeout=300, resources={"metadata": {"path": str(folder)}}).execute()
    assert init.outputs == []  # the notebook file is here: otter reads its tests, nothing to say
    (handin,) = folder.glob("tiny_assignment_*.zip")
    with zipfile.ZipFile(handin) as archive:
        names = set(archive.namelist())
    assert {"tiny_assignment.ipynb", "tiny_assignment.html"} <= names
    # The saved file is the unexecuted one (as after Run all without saving): the cell says so.
    saved = nbformat.read(student_path, as_version=4)
    not_run = sum(c.cell_type == "code" and "hand_in(" not in c.source for c in saved.cells)
    (export,) = [
        cell
        for cell in student.cells
        if cell.source == release.handin_cell_source("tiny_assignment")
    ]
    printed = "".join(output.get("text", "") for output in export.outputs)
    assert f"has {not_run} code cells that have not run" in printed, printed


@pytest.mark.slow  # end-to-end (make check)
def test_the_wheel_carries_public_tests_only_and_otter_runs_them(tmp_path):
    from otter.test_files.ok_test import OKTestFile

    case = {"hidden": False, "locked": False}
    tests = {
        "q9": {
            "name": "q9",
            "points": 2,
            "suites": [
                {
                    "cases": [
                        {**case, "code": ">>> assert total([1, 2]) == 3\n"},
                        {**case, "hidden": True, "code": ">>> assert total([5]) == 5  # secret\n"},
                    ],
                    "scored": True,
                    "setup": "",
                    "teardown": "",
                    "type": "doctest",
                }
            ],
        }
    }
    wheel = release.build_wheel(tmp_path / "wheel", {"09_demo": tests})
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "unpacked")
    folder = tmp_path / "unpacked" / "helpers" / "_public_tests" / "t09_demo"
    assert sorted(p.name for p in folder.glob("q*.py")) == ["q9.py"]
    assert "secret" not in (folder / "q9.py").read_text()
    right, wrong = (
        OKTestFile.from_file(str(folder / "q9.py")),
        OKTestFile.from_file(str(folder / "q9.py")),
    )
    right.run({"total": sum})
    wrong.run({"total": lambda values: 0})
    assert right.passed_all and not wrong.passed_all


# The student notebook's grading cell (helpers.session.grading.start) and hand-in cell: see
# tests/test_setup_cell.py.


# Words of the course's own making that a student cannot follow (an earlier published solution
# called "the seed", the specification file, the mirror, the benchmarks folder). The random seed
# stays a seed: "seed" alone is allowed, only these phrases are refused.
INTERNAL_PHRASES = re.compile(
    r"\bSPEC\b|SPEC\.md|the seed'?s\b|seed solution|original assignment|course mirror|"
    r"benchmarks/|the assignment's text",
    re.IGNORECASE,
)


def internal_phrases(texts) -> list[str]:
    """Each line of ``texts`` that holds an internal phrase."""
    return [
        line.strip()[:120]
        for text in texts
        for line in text.splitlines()
        if INTERNAL_PHRASES.search(line)
    ]


def test_the_phrase_check_finds_internal_words_and_keeps_the_random_seed():
    found = internal_phrases(
        [
            "As SPEC 01 says",
            "the seed's figures",
            "seed=SEED",
            "a seed of 42",
            "see benchmarks/bench_x.py",
            "the seed solution",
            "Spectrum",
        ]
    )
    assert found == [
        "As SPEC 01 says",
        "the seed's figures",
        "see benchmarks/bench_x.py",
        "the seed solution",
    ]


@pytest.mark.parametrize("master_path", MASTERS)
def test_what_a_student_reads_names_nothing_they_do_not_have(master_path, released):
    out, _ = released(master_path)
    student = nbformat.read(out / "students" / master_path.name, as_version=4)
    # every cell and the public tests (otter keeps them in the notebook's metadata)
    found = internal_phrases(all_strings(student))
    assert not found, f"{master_path.name}: internal phrases a student cannot follow: {found}"


def public_tests(master) -> list[str]:
    """The code of a master's public test cells (inside ``# BEGIN TESTS``, not hidden)."""
    found, block = [], []
    for cell in master.cells:
        head = cell.source.strip().upper()
        if cell.cell_type == "raw":
            if head.startswith("# BEGIN TESTS"):
                block.append("TESTS")
            elif head.startswith("# END TESTS") and block:
                block.pop()
            continue
        if block and cell.cell_type == "code" and "hidden: true" not in cell.source.lower():
            found.append(cell.source.split("# END TEST CONFIG", 1)[-1])
    return found


def test_every_public_assert_says_what_was_expected_and_what_was_got():
    bare = []
    for master_path in NOTEBOOKS:
        for test in public_tests(nbformat.read(master_path, as_version=4)):
            for node in ast.walk(ast.parse(test)):
                if isinstance(node, ast.Assert) and node.msg is None:
                    bare.append(f"{master_path.stem}: assert {ast.unparse(node.test)[:80]}")
    assert not bare, "public asserts without a message:\n" + "\n".join(bare)


@needs_sandbox
@pytest.mark.slow  # end-to-end (make check)
def test_the_grading_benchmark_smoke_run_grades_and_reports_per_core_hour():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_grading.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("bench_tiny ")]
    jobs, count, per_grading, per_core_hour, goal = line.split()[1:6]
    assert (jobs, count, goal) == ("1", "2", "94")
    cores = os.cpu_count()
    assert float(per_core_hour) == pytest.approx(3600 / (float(per_grading) * cores), rel=0.05)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the sandbox's uid needs root")
def test_the_data_cache_appears_as_the_submissions_own_folders_over_read_only_files(tmp_path):
    cache = tmp_path / "cache"
    (cache / "fashion_mnist" / "deep").mkdir(parents=True)
    (cache / "fashion_mnist" / "deep" / "train.npy").write_bytes(b"x" * 10)
    (cache / "fashion_mnist" / "deep" / "train.npy").chmod(0o644)
    for name in ("fashion_mnist/.lock", ".prepared-03-sample-abc", "outputs/model.keras"):
        (cache / name).parent.mkdir(exist_ok=True)
        (cache / name).write_text("")
    data = tmp_path / "work" / "data"
    data.parent.mkdir()
    grade.sandbox.link_data_cache(cache, data, 62999)
    linked = data / "fashion_mnist" / "deep" / "train.npy"
    original = cache / "fashion_mnist" / "deep" / "train.npy"
    assert linked.stat().st_ino == original.stat().st_ino or linked.read_bytes() == b"x" * 10
    assert linked.stat().st_uid == 0 and linked.stat().st_mode & 0o777 == 0o644
    assert (data / "fashion_mnist" / "deep").stat().st_uid == 62999
    assert sorted(p.name for p in data.iterdir()) == ["fashion_mnist"]
    assert (
        not (data / "fashion_mnist" / ".lock").exists()
        and (cache / "fashion_mnist" / ".lock").exists()
    )


def test_data_preparation_runs_the_cells_up_to_the_last_data_loader_not_model_loads():
    from instructor.grading.datacache import LOADS

    for loads in ("data = load_tiny_imagenet(", "files = caltech256_files(", "cached_decode(x)"):
        assert LOADS.search(loads), loads
    for other in ("model = keras.models.load_model(path)", "net.load_weights(p)", "download(x)"):
        assert not LOADS.search(other), other


def test_bytes_written_counts_each_new_inode_once_and_not_the_given_files(tmp_path):
    from instructor.grading import sandbox

    cache = tmp_path / "cache.bin"
    cache.write_bytes(b"c" * 5000)
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    os.link(cache, work / "data" / "cache.bin")  # the prepared data cache: not its writing
    given = sandbox.inodes_under(work)
    assert sandbox.bytes_written(work, given) == 0
    (work / "a").write_bytes(b"a" * 8192)  # whole blocks: its size is what it takes
    os.link(work / "a", work / "data" / "a-again")  # its own hard link: counted once
    with open(work / "sparse", "wb") as file:  # a sparse file counts at its full size
        file.seek(10_000_000)
        file.write(b"z")
    assert sandbox.bytes_written(work, given) == 8192 + 10_000_001
    # The same sum by a brute-force walk: every regular file but the cache's, once per inode,
    # the larger of its size and the blocks it takes.
    sizes = {}
    for path in work.rglob("*"):
        info = path.stat()
        if path.is_file() and info.st_ino != cache.stat().st_ino:
            sizes[info.st_ino] = max(info.st_size, info.st_blocks * 512)
    assert sandbox.bytes_written(work, given) == sum(sizes.values())


def test_a_full_tmp_or_a_too_large_file_is_the_disk_code_in_the_runner():
    sys.path.insert(0, str(ROOT / "instructor" / "grading"))
    try:
        import runner
    finally:
        sys.path.pop(0)
    assert runner.event_of("OSError", "[Errno 28] No space left on device") == "disk"
    assert runner.event_of("OSError", "[Errno 27] File too large") == "disk"
    assert runner.event_of("OSError", "[Errno 2] No such file or directory: 'x'") is None
    assert runner.event_of("MemoryError", "") == "memory"


def test_oom_kills_reads_both_cgroup_versions_and_no_cgroup_means_none(tmp_path, monkeypatch):
    from instructor.grading import sandbox

    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir()
    v2.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    assert [sandbox.oom_kills(v1), sandbox.oom_kills(v2), sandbox.oom_kills(tmp_path)] == [3, 2, 0]
    # A machine without cgroups mounted: no group, the run keeps its per-process limit only.
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", tmp_path / "nothing")
    assert sandbox.own_memory_cgroup() is None
    assert sandbox.memory_cgroup("grading-x", 2**30) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the sandbox's uid needs root")
def test_a_large_pure_data_tree_is_bound_read_only_in_place_not_linked(tmp_path, monkeypatch):
    from instructor.grading import sandbox

    monkeypatch.setattr(sandbox, "BIND_FILES", 3)
    cache = tmp_path / "cache"
    images = cache / "tiny" / "tree" / "train"
    for label in ("a", "b"):
        (images / label).mkdir(parents=True)
        for index in range(2):
            (images / label / f"{index}.jpg").write_text(f"{label}{index}")
    (cache / "tiny" / ".lock").write_text("")
    (cache / "tiny" / "tree" / ".decoded").mkdir()  # a decode cache: its folder is not pure
    (cache / "tiny" / "tree" / ".decoded" / "k.npy").write_text("codes")
    (cache / "tiny" / "tree" / "small").mkdir()  # pure, but too few files: linked
    (cache / "tiny" / "tree" / "small" / "one.txt").write_text("1")
    # By hand: train/ (4 files, no dot-name below) is the one tree; tree/ holds .decoded.
    assert sandbox.data_trees(cache) == [images]
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    binds = sandbox.link_data_cache(cache, work / "data", 62999)
    assert binds == [(images, work / "data" / "tiny" / "tree" / "train")]
    assert list(binds[0][1].iterdir()) == []  # an empty mount point, the submission's
    assert binds[0][1].stat().st_uid == 62999
    decoded = work / "data" / "tiny" / "tree" / ".decoded" / "k.npy"
    assert decoded.stat().st_ino == (cache / "tiny" / "tree" / ".decoded" / "k.npy").stat().st_ino
    assert (work / "data" / "tiny" / "tree" / "small" / "one.txt").read_text() == "1"
    assert not (work / "data" / "tiny" / ".lock").exists()
    if sandbox.sandbox_problem() is not None:
        return
    # In the sandbox: the tree's files are there, read-only; the rest stays writable.
    for target in (work / "data",):
        shutil.rmtree(target)
    out = tmp_path / "out"
    out.mkdir()
    probe = (
        "import os\n"
        "root = '/submission/data/tiny/tree'\n"
        "print(sorted(os.listdir(root + '/train/a')), open(root + '/train/b/1.jpg').read())\n"
        "for path in (root + '/train/new.txt', root + '/.decoded/new.npy'):\n"
        "    try:\n"
        "        open(path, 'w').write('x'); print('wrote', path.split('/')[-1])\n"
        "    except OSError as error:\n"
        "        print('refused', path.split('/')[-1], error.errno)\n"
    )
    mounts = sandbox.Mounts(venv=Path(sys.prefix), work=work, out=out, data_cache=cache)
    outcome = sandbox.run(
        [f"{sys.prefix}/bin/python", "-c", probe], mounts, env={"PATH": "/usr/bin"}, uid=62998
    )
    text = outcome.text()
    assert "['0.jpg', '1.jpg'] b1" in text, text
    assert "refused new.txt 30" in text and "wrote new.npy" in text, text  # 30: EROFS
    assert sorted(p.name for p in images.iterdir()) == ["a", "b"]  # the cache is untouched
