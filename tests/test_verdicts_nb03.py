"""Notebook 03's named cases (instructor/grading/hidden/nb03.py) and its sandboxed grading."""

import sys
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest

from instructor.grading import sandbox, verdicts
from instructor.grading.hidden import nb03

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "notebooks" / f"{nb03.NOTEBOOK}.ipynb"


def master_points():
    """{question: points} of the master's auto-graded questions, read from its raw cells."""
    import yaml

    found = {}
    for cell in nbformat.read(MASTER, as_version=4).cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(cell.source)
            if not config.get("manual"):
                found[config["name"]] = config["points"]
    return found


def test_the_cases_give_every_auto_graded_question_exactly_its_points():
    given = Counter()
    for case in nb03.cases():
        given[case.question] += case.points
    assert dict(given) == master_points()
    names = [case.name for case in nb03.cases()]
    assert len(set(names)) == len(names)


def test_the_reference_solutions_agree_with_the_course_library():
    from helpers import retrieval

    reference = verdicts.reference_functions(
        MASTER, ["distances", "evaluate_AP", "evaluate_mAP"], nb03.PRELUDE
    )
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)
    loops = np.array([[np.sum((a - b) ** 2) for b in codes] for a in codes[:5]])
    np.testing.assert_allclose(reference.distances(codes[:5], codes), loops, atol=1e-9)
    mean_ap, aps = reference.evaluate_mAP(codes, labels, [0, 3, 9])
    library, per_query = retrieval.mean_average_precision(
        codes, labels, [0, 3, 9], normalize=False, return_per_query=True
    )
    np.testing.assert_allclose(aps, per_query, atol=1e-12)
    assert np.isclose(mean_ap, library)


def test_a_solution_missing_from_the_master_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no solution function"):
        verdicts.reference_functions(MASTER, ["no_such_function"], "")


@pytest.mark.slow
@pytest.mark.skipif(sandbox.sandbox_problem() is not None, reason="no sandbox here")
def test_master_full_marks_student_zero_one_removed_solution_loses_that_question(tmp_path):
    from instructor import release

    release.release_notebook(MASTER, tmp_path / "dist")
    site = verdicts.unpack_wheel(release.build_wheel(tmp_path / "wheel"), tmp_path / "site")
    setup = verdicts.Setup(
        venv=Path(sys.prefix),
        course_site=site,
        limits=sandbox.Limits(seconds=1200),
        cell_timeout=600,
    )
    hidden = verdicts.load_hidden(nb03)
    master = nbformat.read(MASTER, as_version=4)
    for cell in master.cells:
        if cell.cell_type == "code" and cell.source.startswith("def evaluate_mAP("):
            cell.source = cell.source.split("    # BEGIN SOLUTION")[0] + "    ...\n"
    nbformat.write(master, tmp_path / "no_mAP.ipynb")
    # A from-scratch question answered by the course's own routine: trip-wired, no points.
    delegating = nbformat.read(MASTER, as_version=4)
    for cell in delegating.cells:
        if cell.cell_type == "code" and cell.source.startswith("def distances("):
            cell.source = (
                cell.source.split("    # BEGIN SOLUTION")[0]
                + "    from helpers import retrieval\n"
                + "    return retrieval.sq_distances(queries, database, normalize=False)\n"
            )
    nbformat.write(delegating, tmp_path / "delegating.ipynb")
    full = master_points()
    scores = {}
    for name, path in [
        ("master", MASTER),
        ("no_mAP", tmp_path / "no_mAP.ipynb"),
        ("delegating", tmp_path / "delegating.ipynb"),
        ("student", tmp_path / "dist" / "students" / MASTER.name),
    ]:
        result = verdicts.grade(path, hidden, setup)
        assert result.code == "", (name, result.code, result.log[-2000:])
        scores[name] = result.scores
        if name == "delegating":
            assert any("write it from scratch" in why for why in result.cases.values())
    assert scores["master"] == full
    assert scores["no_mAP"] == {**full, "q3_3": 0}
    # evaluate_mAP calls the student's distances, which delegates: q3_3 trips the wire too.
    assert scores["delegating"] == {**full, "q3_1": 0, "q3_3": 0}
    assert set(scores["student"].values()) == {0}
