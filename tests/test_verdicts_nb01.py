"""Notebook 01's named cases (instructor/grading/hidden/nb01.py) and its sandboxed grading."""

from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest

from instructor.grading import sandbox, verdicts
from instructor.grading.hidden import nb01
from tests._verdicts import master_points, sandboxed_setup

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "notebooks" / f"{nb01.NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def reference():
    return verdicts.reference_functions(MASTER, nb01.REFERENCE, nb01.PRELUDE)


def test_the_cases_give_every_auto_graded_question_exactly_its_points():
    given = Counter()
    for case in nb01.cases():
        given[case.question] += case.points
    assert dict(given) == master_points(MASTER)
    names = [case.name for case in nb01.cases()]
    assert len(set(names)) == len(names)
    wired = {case.question for case in nb01.cases() if case.tripwires}
    assert wired == {"q1_1", "q5_1", "q5_2", "q5_3", "q5_4"}


def test_the_retrieval_references_agree_with_the_course_library_and_scikit_learn(reference):
    from sklearn.metrics import average_precision_score

    from helpers import retrieval

    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(70, 5)).astype("float32"), rng.integers(0, 4, size=70)
    queries = np.array([0, 9, 69])
    dists, indices = reference.nearest_neighbours(codes, queries, k=6)
    lib_dists, lib_indices = retrieval.knn(
        codes[queries], codes, k=6, exclude=queries, normalize=True
    )
    np.testing.assert_array_equal(indices, lib_indices)
    np.testing.assert_allclose(dists, lib_dists, atol=1e-5)
    for _ in range(10):
        ranked = rng.integers(0, 3, size=30)
        if (ranked == 1).any():
            np.testing.assert_allclose(
                reference.average_precision(ranked, 1),
                average_precision_score(ranked == 1, -np.arange(30)),
                rtol=1e-9,
            )
    np.testing.assert_allclose(
        reference.mean_average_precision(codes, labels),
        retrieval.mean_average_precision(codes, labels, normalize=True),
        rtol=1e-5,
    )


def test_the_reference_network_is_the_instructors_builder(reference):
    from instructor.solutions import nb01 as solution

    mine = reference.build_neural_codes_net(7, input_shape=(32, 32, 3))
    theirs = solution.neural_codes_net(num_classes=7, input_shape=(32, 32, 3))
    assert mine.count_params() == theirs.count_params()
    theirs.set_weights(mine.get_weights())
    probe = np.random.default_rng(1).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(mine(probe), theirs(probe), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "question, wrong",
    [
        (
            "q5_2",
            "def nearest_neighbours(codes, query_indices, k):\n"  # the query is not excluded
            "    codes = codes / np.linalg.norm(codes, axis=1, keepdims=True)\n"
            "    d = ((codes[query_indices, None] - codes[None]) ** 2).sum(-1)\n"
            "    order = np.argsort(d, axis=1, kind='stable')[:, :k]\n"
            "    return np.take_along_axis(d, order, axis=1), order\n",
        ),
        (
            "q5_3",
            "def average_precision(ranked_labels, query_label):\n"  # precision over all positions
            "    hits = np.asarray(ranked_labels) == query_label\n"
            "    return float(np.mean(np.cumsum(hits) / np.arange(1, len(hits) + 1)))\n",
        ),
        (
            "q5_4",
            "def mean_average_precision(codes, labels):\n"  # NaN kept in the mean
            "    n = len(labels)\n"
            "    _, ranking = nearest_neighbours(codes, np.arange(n), k=n - 1)\n"
            "    return float(np.mean([average_precision(labels[r], labels[q])\n"
            "                          for q, r in enumerate(ranking)]))\n",
        ),
        (
            "q2_1",
            "def build_neural_codes_net(num_classes, input_shape=(64, 64, 3)):\n"  # ReLU inside fc7
            "    inputs = keras.Input(shape=input_shape)\n"
            "    x = keras.layers.Conv2D(96, 4, padding='same')(inputs)\n"
            "    x = keras.layers.MaxPooling2D(3, strides=2, padding='same')(x)\n"
            "    x = keras.layers.ReLU()(x)\n"
            "    x = keras.layers.Conv2D(192, 5, padding='same')(x)\n"
            "    x = keras.layers.MaxPooling2D(3, strides=2, padding='same')(x)\n"
            "    x = keras.layers.ReLU()(x)\n"
            "    x = keras.layers.Conv2D(288, 3, padding='same', activation='relu')(x)\n"
            "    x = keras.layers.Conv2D(288, 3, padding='same', activation='relu')(x)\n"
            "    x = keras.layers.Conv2D(256, 3, padding='same')(x)\n"
            "    x = keras.layers.MaxPooling2D(3, strides=2, padding='same', name='pool5')(x)\n"
            "    x = keras.layers.ReLU()(x)\n"
            "    x = keras.layers.Dropout(0.5)(keras.layers.Flatten()(x))\n"
            "    x = keras.layers.ReLU()(keras.layers.Dense(2048, name='fc6')(x))\n"
            "    x = keras.layers.Dropout(0.5)(x)\n"
            "    x = keras.layers.Dense(2048, activation='relu', name='fc7')(x)\n"
            "    outputs = keras.layers.Dense(num_classes, activation='softmax',\n"
            "                                 name='predictions')(x)\n"
            "    return keras.Model(inputs, outputs)\n",
        ),
    ],
)
def test_a_wrong_answer_fails_a_hidden_case_of_its_question(reference, question, wrong):
    import types

    import keras

    namespace = {"np": np, "keras": keras, **vars(reference)}
    exec(wrong, namespace)
    broken = types.SimpleNamespace(**{name: namespace[name] for name in nb01.REFERENCE})
    failures = []
    for case in nb01.cases():
        if case.question != question or case.public:
            continue
        expected = case.expected(reference, case.inputs)
        got = nb01.same_code(case.code)(broken, case.inputs)
        failures.append(case.check(got, expected, reference))
    assert failures and any(failures), failures


@pytest.mark.slow
@pytest.mark.skipif(sandbox.sandbox_problem() is not None, reason="no sandbox here")
def test_master_full_marks_student_zero_one_removed_solution_loses_that_question(tmp_path):
    setup = sandboxed_setup(MASTER, tmp_path, seconds=2400)
    hidden = verdicts.load_hidden(nb01)
    # Question 4.1's table is printed later but no later question builds on it.
    removed = nbformat.read(MASTER, as_version=4)
    for cell in removed.cells:
        if cell.cell_type == "code" and cell.source.startswith("def evaluate_splits("):
            cell.source = cell.source.split("    # BEGIN SOLUTION")[0] + "    ...\n"
    nbformat.write(removed, tmp_path / "no_evaluate.ipynb")
    # A from-scratch question answered by the course's own routine: trip-wired, no points.
    delegating = nbformat.read(MASTER, as_version=4)
    for cell in delegating.cells:
        if cell.cell_type == "code" and cell.source.startswith("def average_precision("):
            cell.source = (
                cell.source.split("    # BEGIN SOLUTION")[0]
                + "    return retrieval.average_precision(ranked_labels, query_label)\n"
            )
    nbformat.write(delegating, tmp_path / "delegating.ipynb")
    full = master_points(MASTER)
    scores = {}
    for name, path in [
        ("master", MASTER),
        ("no_evaluate", tmp_path / "no_evaluate.ipynb"),
        ("delegating", tmp_path / "delegating.ipynb"),
        ("student", tmp_path / "dist" / "students" / MASTER.name),
    ]:
        result = verdicts.grade(path, hidden, setup)
        assert result.code == "", (name, result.code, result.log[-2000:])
        scores[name] = result.scores
    assert scores["master"] == full
    assert scores["no_evaluate"] == {**full, "q4_1": 0}
    # mean_average_precision calls the student's average_precision, which delegates: q5_4 too.
    assert scores["delegating"] == {**full, "q5_3": 0, "q5_4": 0}
    assert set(scores["student"].values()) == {0}
