"""Notebook 05's named cases (instructor/grading/hidden/nb05.py) and its sandboxed grading."""

import types
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest

from instructor.grading import sandbox, verdicts
from instructor.grading.hidden import nb05
from instructor.grading.hidden.nb01 import same_code
from tests._verdicts import master_points, sandboxed_setup

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "notebooks" / f"{nb05.NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def reference():
    return verdicts.reference_functions(MASTER, nb05.REFERENCE, nb05.PRELUDE)


def test_the_cases_give_every_auto_graded_question_exactly_its_points():
    given = Counter()
    for case in nb05.cases():
        given[case.question] += case.points
    assert dict(given) == master_points(MASTER)
    names = [case.name for case in nb05.cases()]
    assert len(set(names)) == len(names)


def test_the_references_agree_with_the_instructors_network_and_the_course_plots(reference):
    import matplotlib

    matplotlib.use("Agg")
    from helpers import plots
    from instructor.solutions import nb05 as solution

    mine, theirs = reference.baseline_cnn(), solution.car_baseline_cnn()
    assert mine.count_params() == theirs.count_params() == 53_953
    theirs.set_weights(mine.get_weights())
    probe = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(mine(probe), theirs(probe), rtol=1e-5, atol=1e-6)
    kernels = np.random.default_rng(1).normal(size=(3, 3, 3, 64))
    positive, negative = reference.kernel_parts(kernels)
    figure = plots.show_filters(kernels, split_sign=True)
    np.testing.assert_allclose(
        figure.axes[0].images[0].get_array(), reference.kernel_mosaic(positive), atol=1e-6
    )
    np.testing.assert_allclose(
        figure.axes[1].images[0].get_array(), reference.kernel_mosaic(negative), atol=1e-6
    )


@pytest.mark.parametrize(
    "question, wrong",
    [
        (
            "q6_1",
            "def kernel_parts(kernels):\n"  # each kernel scaled by its own maximum
            "    scale = np.abs(kernels).max(axis=(0, 1, 2))\n"
            "    return np.maximum(kernels, 0) / scale, np.maximum(-kernels, 0) / scale\n",
        ),
        (
            "q5_1",
            "def dense_head(code_size):\n"  # no dropout
            "    return keras.Sequential([keras.Input((code_size,)),\n"
            "        keras.layers.Dense(256, activation='relu'),\n"
            "        keras.layers.Dense(1, activation='sigmoid')])\n",
        ),
        (
            "q2_1",
            "def baseline_cnn(augmentation=None, input_shape=(64, 64, 3)):\n"  # no L2 penalty
            "    front = [augmentation] if augmentation is not None else []\n"
            "    return keras.Sequential([keras.Input(input_shape), *front,\n"
            "        keras.layers.Conv2D(32, 5, strides=3, activation='relu'),\n"
            "        keras.layers.MaxPooling2D(2),\n"
            "        keras.layers.Conv2D(64, 3, strides=2, activation='relu'),\n"
            "        keras.layers.MaxPooling2D(2), keras.layers.Flatten(),\n"
            "        keras.layers.Dense(128, activation='relu'),\n"
            "        keras.layers.Dense(1, activation='sigmoid')])\n",
        ),
    ],
)
def test_a_wrong_answer_fails_a_hidden_case_of_its_question(reference, question, wrong):
    import keras

    namespace = {"np": np, "keras": keras, **vars(reference)}
    exec(wrong, namespace)
    broken = types.SimpleNamespace(**{name: namespace[name] for name in nb05.REFERENCE})
    failures = []
    for case in nb05.cases():
        if case.question != question or case.public:
            continue
        expected = case.expected(reference, case.inputs)
        failures.append(case.check(same_code(case.code)(broken, case.inputs), expected, reference))
    assert failures and any(failures), failures


@pytest.mark.slow
@pytest.mark.skipif(sandbox.sandbox_problem() is not None, reason="no sandbox here")
def test_master_full_marks_student_zero_one_removed_solution_loses_that_question(tmp_path):
    setup = sandboxed_setup(MASTER, tmp_path, seconds=2400)
    hidden = verdicts.load_hidden(nb05)
    removed = nbformat.read(MASTER, as_version=4)
    for cell in removed.cells:
        if cell.cell_type == "code" and cell.source.startswith("def kernel_parts("):
            head, _, rest = cell.source.partition("    # BEGIN SOLUTION")
            cell.source = head + "    ...\n" + rest.split("    # END SOLUTION\n", 1)[1]
    nbformat.write(removed, tmp_path / "no_kernel_parts.ipynb")
    full = master_points(MASTER)
    scores = {}
    for name, path in [
        ("master", MASTER),
        ("no_kernel_parts", tmp_path / "no_kernel_parts.ipynb"),
        ("student", tmp_path / "dist" / "students" / MASTER.name),
    ]:
        result = verdicts.grade(path, hidden, setup)
        scores[name] = result.scores
    assert scores["master"] == full
    assert scores["no_kernel_parts"] == {**full, "q6_1": 0}
    assert set(scores["student"].values()) == {0}
