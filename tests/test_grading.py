"""make release / make grade: student versions leak nothing, grading scores what it should.

The leak check covers every master notebook in notebooks/. The grading checks use a tiny
otter-format notebook built here (seconds per submission), and grade one real notebook (05, the
quickest) end to end once.
"""

import ast
import csv
import json
import re
import shutil
from pathlib import Path

import nbformat
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


@pytest.fixture(scope="module")
def tiny_grades(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny")
    masters = base / "masters"
    masters.mkdir()
    master_path = masters / "tiny_assignment.ipynb"
    nbformat.write(tiny_master(), master_path)
    out = base / "dist"
    release.release_notebook(master_path, out)
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
    assert grade.main([str(submissions), "--autograders", str(out / "autograder")]) == 0
    rows = read_grades(submissions / "grades-tiny_assignment.csv")
    summary = read_grades(submissions / "grades.csv")
    # A submission whose assignment cannot be graded at all is in the summary only.
    rows.update({name: row for name, row in summary.items() if name not in rows})
    for row in rows.values():
        row["_folder"] = submissions
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


def test_two_assignments_in_one_folder_keep_their_same_named_questions_apart(tmp_path, monkeypatch):
    # Both notebooks have a question "q1"; grade_one is replaced (no otter run): this is only
    # about how the rows are laid out.
    autograders, submissions = tmp_path / "autograder", tmp_path / "submissions"
    autograders.mkdir(), submissions.mkdir()
    questions = {"first": [("q1", 2, False), ("q2", 1, True)], "second": [("q1", 5, False)]}
    for stem, items in questions.items():
        (autograders / f"{stem}-questions.json").write_text(
            json.dumps(
                {
                    "notebook": stem,
                    "questions": [{"name": n, "points": p, "manual": m} for n, p, m in items],
                }
            )
        )
        notebook = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": stem}})
        nbformat.write(notebook, submissions / f"{stem}_alice.ipynb")
    scored = {"first": {"q1": [1.5, 2]}, "second": {"q1": [4.0, 5]}}
    monkeypatch.setattr(grade, "grade_one", lambda path, autograder, stem: scored[stem])
    assert grade.main([str(submissions), "--autograders", str(autograders)]) == 0
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


@pytest.mark.slow  # end-to-end (make check)
def test_grading_the_real_notebook_05_master_gives_full_marks(tmp_path):
    master_path = ROOT / "notebooks" / "05_car_vs_other_features.ipynb"
    questions = question_points(nbformat.read(master_path, as_version=4))
    full = sum(points for points, manual in questions.values() if not manual)
    release.release_notebook(master_path, tmp_path / "dist")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(master_path, submissions)
    assert (
        grade.main([str(submissions), "--autograders", str(tmp_path / "dist" / "autograder")]) == 0
    )
    (row,) = read_grades(submissions / f"grades-{master_path.stem}.csv").values()
    assert row["error"] == "" and float(row["total"]) == float(row["possible"]) == full
    manual = [name for name, (_, is_manual) in questions.items() if is_manual]
    assert manual and all(row[name] == "manual" for name in manual)


@pytest.mark.slow  # end-to-end (make check)
def test_the_hand_in_cell_zips_the_notebook_with_its_html_copy(tmp_path):
    import zipfile

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
    import zipfile

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
