"""Notebook 02's named cases (instructor/grading/hidden/nb02.py) and its sandboxed grading."""

from collections import Counter
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest

from instructor.grading import sandbox, verdicts
from instructor.grading.hidden import nb02
from tests._verdicts import master_points, sandboxed_setup, verdict

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "notebooks" / f"{nb02.NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def hidden():
    return verdicts.load_hidden(nb02)


def test_the_cases_give_every_auto_graded_question_exactly_its_points():
    given = Counter()
    for case in nb02.cases():
        given[case.question] += case.points
    assert dict(given) == master_points(MASTER)
    names = [case.name for case in nb02.cases()]
    assert len(set(names)) == len(names)


def test_the_from_scratch_questions_are_trip_wired_and_their_prompts_say_so():
    wired = {case.question for case in nb02.cases() if case.tripwires}
    assert wired == {"q4_1", "q6_1"}
    text = "\n".join(c.source for c in nbformat.read(MASTER, as_version=4).cells)
    assert text.count("the grader switches them off while it tests this question") == 2


def test_the_reference_solutions_agree_with_independent_computations():
    from sklearn.metrics import average_precision_score

    from helpers import retrieval

    reference = verdicts.reference_functions(MASTER, nb02.REFERENCE, nb02.PRELUDE)
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(50, 6))
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    queries = [0, 7, 49]
    library_dists, library = retrieval.knn(
        unit[queries], unit, 5, exclude=np.array(queries), normalize=False
    )
    sq_dists, indices = reference.nearest_neighbours(codes, queries, 5)
    np.testing.assert_array_equal(indices, library)
    np.testing.assert_allclose(sq_dists, library_dists, atol=1e-6)
    truth = (rng.random((120, 5)) < 0.25).astype(int)
    scores, difficult = rng.random((120, 5)), (rng.random((120, 5)) < 0.1) & (truth == 0)
    ap = reference.voc_average_precision(truth, scores, difficult)
    for j in range(5):
        keep = ~difficult[:, j]
        assert np.isclose(ap[j], average_precision_score(truth[keep, j], scores[keep, j]))
    np.testing.assert_allclose(
        ap, retrieval.per_class_average_precision(truth, scores, ignore=difficult), atol=1e-12
    )
    labels = (rng.random((30, 4)) < 0.3).astype(int)
    palette = rng.random((4, 3))
    loop = [palette[row == 1].mean(0) if row.any() else [0.6] * 3 for row in labels]
    np.testing.assert_allclose(reference.mean_class_colours(labels, palette), loop, atol=1e-12)
    net = reference.caffenet(20, (224, 224, 3))
    hand = (
        (11 * 11 * 3 * 96 + 96)
        + (5 * 5 * 96 * 256 + 256)
        + (9 * 256 * 384 + 384)
        + (9 * 384 * 384 + 384)
        + (9 * 384 * 256 + 256)
        + (5 * 5 * 256 * 4096 + 4096)
        + (4096 * 4096 + 4096)
        + (4096 * 20 + 20)
    )
    assert net.count_params() == hand


def kernel(reference, **replaced):
    """A stand-in for the student's kernel: the master's functions, some replaced."""
    namespace = {"np": np, "keras": keras, **vars(reference)}
    namespace.update(replaced)
    return namespace


def test_the_master_passes_every_case_in_process(hidden):
    namespace = kernel(hidden.reference)
    reasons = {case.name: verdict(case, namespace, hidden) for case in hidden.cases}
    assert reasons == {name: "" for name in reasons}


def wrong_variants(reference):
    """Deliberately wrong answers, each with the question it should lose points on."""

    def caffenet_relu_in_fc7(num_classes=20, input_shape=(224, 224, 3)):
        model = reference.caffenet(num_classes, input_shape)
        config = model.get_config()
        for layer in config["layers"]:
            if layer["config"]["name"] == "fc7":
                layer["config"]["activation"] = "relu"
        return keras.Model.from_config(config)

    def compile_sgd(model, learning_rate):
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(curve="PR", multi_label=True, name="auc_pr")],
        )
        return model

    def unnormalised_neighbours(codes, query_indices, k):
        codes = np.asarray(codes, float)
        distances = ((codes[np.asarray(query_indices)][:, None] - codes[None]) ** 2).sum(-1)
        distances[np.arange(len(query_indices)), query_indices] = np.inf
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(distances, order, axis=1), order

    def summed_colours(labels, palette):
        return np.asarray(labels, float) @ np.asarray(palette, float)

    def difficult_as_negative(y_true, scores, difficult):
        return reference.voc_average_precision(y_true, scores, np.zeros_like(difficult))

    return {
        "q2_1": {"caffenet": caffenet_relu_in_fc7},
        "q2_2": {"compile_multilabel": compile_sgd},
        "q4_1": {"nearest_neighbours": unnormalised_neighbours},
        "q5_1": {"mean_class_colours": summed_colours},
        "q6_1": {"voc_average_precision": difficult_as_negative},
    }


def test_a_wrong_answer_fails_a_hidden_case_of_its_question_and_no_other(hidden):
    for question, replaced in wrong_variants(hidden.reference).items():
        namespace = kernel(hidden.reference, **replaced)
        failed = {
            case.question
            for case in hidden.cases
            if verdict(case, namespace, hidden) and not case.public
        }
        assert failed == {question}, (question, failed)


@pytest.mark.slow
@pytest.mark.skipif(sandbox.sandbox_problem() is not None, reason="no sandbox here")
def test_master_full_marks_student_zero_one_removed_solution_loses_that_question(tmp_path):
    setup = sandboxed_setup(MASTER, tmp_path, seconds=2400)
    hidden = verdicts.load_hidden(nb02)

    def edited(name, start, body):
        notebook = nbformat.read(MASTER, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code" and cell.source.startswith(start):
                cell.source = cell.source.split("    # BEGIN SOLUTION")[0] + body
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")
        return tmp_path / f"{name}.ipynb"

    # mean_class_colours: only the t-SNE figure's colours use it, no later question.
    no_colours = edited("no_colours", "def mean_class_colours(", "    ...\n")
    # A from-scratch question answered by the course's own routine: trip-wired, no points.
    delegating = edited(
        "delegating",
        "def voc_average_precision(",
        "    from helpers import retrieval\n"
        "    return retrieval.per_class_average_precision(y_true, scores, ignore=difficult)\n",
    )
    full = master_points(MASTER)
    scores = {}
    for name, path in [
        ("master", MASTER),
        ("no_colours", no_colours),
        ("delegating", delegating),
        ("student", tmp_path / "dist" / "students" / MASTER.name),
    ]:
        result = verdicts.grade(path, hidden, setup)
        assert result.code == "", (name, result.code, result.log[-2000:])
        scores[name] = result.scores
        if name == "delegating":
            assert any("write it from scratch" in why for why in result.cases.values())
    assert scores["master"] == full
    assert scores["no_colours"] == {**full, "q5_1": 0}
    assert scores["delegating"] == {**full, "q6_1": 0}
    assert set(scores["student"].values()) == {0}
