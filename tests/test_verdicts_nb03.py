"""Notebook 03's named cases (instructor/grading/hidden/nb03.py) and its sandboxed grading."""

from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest

from instructor.grading import sandbox, verdicts
from instructor.grading.hidden import nb03
from tests._verdicts import master_points, sandboxed_setup

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "notebooks" / f"{nb03.NOTEBOOK}.ipynb"


def test_the_cases_give_every_auto_graded_question_exactly_its_points():
    given = Counter()
    for case in nb03.cases():
        given[case.question] += case.points
    assert dict(given) == master_points(MASTER)
    names = [case.name for case in nb03.cases()]
    assert len(set(names)) == len(names)


def test_the_reference_solutions_agree_with_the_course_library():
    from helpers import retrieval

    reference = verdicts.reference_functions(
        MASTER, ["distances", "average_precision", "evaluate_mAP"], nb03.PRELUDE
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


def test_the_reference_losses_agree_with_the_vectorised_solutions():
    from instructor.solutions import nb03 as solutions

    reference = verdicts.reference_functions(
        MASTER, ["triplet_loss", "smooth_AP_loss"], nb03.PRELUDE
    )
    rng = np.random.default_rng(1)
    for n, classes, margin, tau in [(40, 4, 0.2, 0.01), (25, 3, 0.0, 0.1), (60, 10, 0.5, 1.0)]:
        features = rng.normal(size=(n, 16)).astype("float32")
        labels = rng.integers(0, classes, size=n).astype("int32")
        np.testing.assert_allclose(
            float(reference.triplet_loss(features, labels, margin=margin)),
            float(solutions.triplet_loss(features, labels, margin=margin)),
            rtol=1e-4,
            atol=1e-5,
        )
        np.testing.assert_allclose(
            float(reference.smooth_AP_loss(features, labels, tau=tau)),
            float(solutions.smooth_ap_loss(features, labels, tau=tau)),
            rtol=1e-4,
            atol=1e-5,
        )


def run_case_here(case, namespace, reference):
    """A case's code run in-process on ``namespace`` (a stand-in kernel), then its check."""
    namespace = {**namespace, **case.inputs}
    exec(case.code, namespace)
    result = namespace["result"]
    got = {
        key: np.asarray(value)
        for key, value in (result.items() if isinstance(result, dict) else [("value", result)])
    }
    return case.check(got, None, reference)


@pytest.mark.parametrize(
    "question, settings, rate, declared, bound, function",
    [
        ("q4_2", "TRIPLET", "margin", 0.3, "triplet_loss_fn", "triplet_loss"),
        ("q5_2", "SMOOTH_AP", "tau", 0.02, "smooth_ap_loss_fn", "smooth_AP_loss"),
    ],
)
def test_the_training_cases_fail_a_bound_loss_that_ignores_the_declared_margin_or_tau(
    question, settings, rate, declared, bound, function
):
    import functools

    hidden = verdicts.load_hidden(nb03)
    reference = hidden.reference
    loss = getattr(reference, function)
    cases = {case.name: case for case in hidden.cases if case.question == question}
    binding = cases[f"{question}_bound_loss_uses_declared_{rate}"]
    public = cases[f"{question}_settings_history_and_bound_loss"]
    default = {"margin": 0.2, "tau": 0.01}[rate]  # what an unbound margin / tau would have been
    kernel = {
        function: loss,
        settings: {rate: declared, "learning_rate": 0.01, "momentum": 0.9},
        "EPOCHS_METRIC": 3,
        bound.replace("_loss_fn", "_history"): {"epoch": [1, 2, 3], "loss": [0.5, 0.4, 0.3]},
    }
    right = {**kernel, bound: functools.partial(loss, **{rate: declared})}
    ignored = {**kernel, bound: functools.partial(loss, **{rate: default})}
    assert run_case_here(binding, right, reference) is None
    assert run_case_here(public, right, reference) is None
    for case in (binding, public):
        reason = run_case_here(case, ignored, reference)
        assert reason and "functools.partial" in reason, (case.name, reason)

    # A wrong loss (graded in 4.1 / 5.1) bound right is not penalised a second time here ...
    def wrong(features, labels, **value):
        return 2 * loss(features, labels, **value)

    bound_wrong = {**kernel, function: wrong, bound: functools.partial(wrong, **{rate: declared})}
    assert run_case_here(binding, bound_wrong, reference) is None
    # ... but the same wrong loss with the margin / tau ignored still fails.
    ignored_wrong = {**bound_wrong, bound: functools.partial(wrong, **{rate: default})}
    assert run_case_here(binding, ignored_wrong, reference)


def test_a_solution_missing_from_the_master_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no solution function"):
        verdicts.reference_functions(MASTER, ["no_such_function"], "")


@pytest.mark.slow
@pytest.mark.skipif(sandbox.sandbox_problem() is not None, reason="no sandbox here")
def test_master_full_marks_student_zero_one_removed_solution_loses_that_question(tmp_path):
    setup = sandboxed_setup(MASTER, tmp_path, seconds=1200)
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
    # ... and binds a fixed margin to its loss instead of TRIPLET's: q4_2 loses the two cases
    # that call the bound loss (0.5 + 0.5), its run still trains and ranks (1 point).
    for cell in delegating.cells:
        if cell.cell_type == "code" and "triplet_loss_fn = functools.partial(" in cell.source:
            cell.source = cell.source.replace('"margin": 0.2,', '"margin": 0.3,').replace(
                'margin=TRIPLET["margin"]', "margin=0.2"
            )
            assert '"margin": 0.3' in cell.source and "margin=0.2)" in cell.source
    nbformat.write(delegating, tmp_path / "delegating.ipynb")
    full = master_points(MASTER)
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
    assert scores["delegating"] == {**full, "q3_1": 0, "q3_3": 0, "q4_2": 1}
    assert set(scores["student"].values()) == {0}
