"""Notebook 04's named cases (instructor/grading/hidden/nb04.py) and its sandboxed grading."""

from collections import Counter
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

from instructor.grading import sandbox, verdicts
from instructor.grading.hidden import nb04
from tests._verdicts import master_points, sandboxed_setup, verdict

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "notebooks" / f"{nb04.NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def hidden():
    return verdicts.load_hidden(nb04)


def test_the_cases_give_every_auto_graded_question_exactly_its_points():
    given = Counter()
    for case in nb04.cases():
        given[case.question] += case.points
    assert dict(given) == master_points(MASTER)
    names = [case.name for case in nb04.cases()]
    assert len(set(names)) == len(names)
    assert {case.question for case in nb04.cases() if case.tripwires} == {"q1_1"}


def test_the_reference_solutions_agree_with_independent_computations():
    from helpers.data.splits import per_class_split, short_classes

    reference = verdicts.reference_functions(MASTER, nb04.REFERENCE, nb04.PRELUDE)
    labels = np.random.default_rng(0).integers(0, 5, 200)
    for n in (1, 7, 60):
        train, val, test, short = reference.split_per_class(labels, n, 4, 3, 11)
        library = per_class_split(labels, [4, 3, n], 11, short_last=True)
        for ours, theirs in zip((val, test, train), library):
            np.testing.assert_array_equal(ours, theirs)
        assert short == short_classes(labels, [4, 3, n])
    logits = np.random.default_rng(1).normal(0, 5, (4, 9))
    for temperature in (1, 2, 16, 0.5):
        formula = np.exp(logits / temperature)
        np.testing.assert_allclose(
            reference.temperature_softmax(logits, temperature),
            formula / formula.sum(axis=1, keepdims=True),
            rtol=1e-12,
        )
    # 1x1 convolution: the normalised gradient of filter f's mean activation is w_f / (4 |w_f|)
    kernel = np.array([[1.0, 0.0], [2.0, 3.0], [2.0, -4.0]], "float32")
    inputs = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(2, 1)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([kernel.reshape(1, 1, 3, 2), np.zeros(2, "float32")])
    stepped, _ = reference.gradient_ascent_step(
        model, tf.zeros((2, 4, 4, 3)), tf.constant([0, 1]), tf.constant(2.0)
    )
    unit = kernel / np.linalg.norm(kernel, axis=0)
    np.testing.assert_allclose(stepped.numpy()[1, 2, 3], 2.0 * unit[:, 1] / 4, atol=1e-6)
    head = reference.code_head(7, code_size=10)
    assert head.count_params() == 10 * 7 + 7


def vgg_stand_in():
    """VGG16's top as the notebook's public test sees it: fc2 (4096) then predictions."""
    inputs = keras.Input((4,))
    fc2 = keras.layers.Dense(4096, name="fc2")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1000, name="predictions")(fc2))


def kernel(reference, **replaced):
    """A stand-in for the student's kernel: the master's functions, some replaced."""
    namespace = {
        "np": np,
        "keras": keras,
        "tf": tf,
        "HEAD": "new_predictions",
        "vgg": vgg_stand_in(),
        **vars(reference),
    }
    namespace.update(replaced)
    return namespace


def test_the_master_passes_every_case_in_process(hidden):
    namespace = kernel(hidden.reference)
    reasons = {case.name: verdict(case, namespace, hidden) for case in hidden.cases}
    assert reasons == {name: "" for name in reasons}


def wrong_variants(reference):
    """Deliberately wrong answers, each with the question it should lose points on."""

    def split_with_a_generator_per_class(labels, n_train, n_val, n_test, seed):
        train, val, test, short = [], [], [], {}
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            if len(members) < n_val + n_test + 1:
                raise ValueError(f"class {label} is too small")
            shuffled = members[np.random.default_rng(seed).permutation(len(members))]
            val.append(shuffled[:n_val])
            test.append(shuffled[n_val : n_val + n_test])
            train.append(shuffled[n_val + n_test : n_val + n_test + n_train])
            if len(train[-1]) < n_train:
                short[int(label)] = len(train[-1])
        return np.concatenate(train), np.concatenate(val), np.concatenate(test), short

    def transfer_model_not_frozen(vgg, n_classes):
        model = reference.transfer_model(vgg, n_classes)
        for layer in model.layers:
            layer.trainable = True
        return model

    def train_head_in_batches_of_16(
        head, train, validation=None, epochs=20, patience=6, learning_rate=1e-3
    ):
        head.compile(
            keras.optimizers.RMSprop(learning_rate),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        callbacks = [keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
        return head.fit(
            *train,
            validation_data=validation,
            epochs=epochs,
            batch_size=16,
            callbacks=callbacks if validation is not None else [],
            verbose=0,
        ).history

    def unnormalised_step(feature_model, images, filter_indices, step_size):
        with tf.GradientTape() as tape:
            tape.watch(images)
            activations = feature_model(images, training=False)
            mask = tf.one_hot(filter_indices, tf.shape(activations)[-1])
            objectives = tf.reduce_mean(
                tf.reduce_sum(activations * mask[:, None, None, :], -1), [1, 2]
            )
        return images + step_size * tape.gradient(tf.reduce_sum(objectives), images), objectives

    def overflowing_softmax(logits, temperature):
        weights = np.exp(np.asarray(logits, float) / temperature)
        return weights / weights.sum(axis=-1, keepdims=True)

    return {
        "q1_1": {"split_per_class": split_with_a_generator_per_class},
        "q2_1": {"transfer_model": transfer_model_not_frozen},
        "q4_1": {"train_head": train_head_in_batches_of_16},
        "q6_1": {"gradient_ascent_step": unnormalised_step},
        "q9_1": {"temperature_softmax": overflowing_softmax},
    }


def test_a_wrong_answer_fails_a_hidden_case_of_its_question_and_no_other(hidden):
    with np.errstate(over="ignore", invalid="ignore"):
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
    hidden = verdicts.load_hidden(nb04)

    def edited(name, start, body):
        notebook = nbformat.read(MASTER, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code" and cell.source.startswith(start):
                cell.source = cell.source.split("    # BEGIN SOLUTION")[0] + body
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")
        return tmp_path / f"{name}.ipynb"

    # temperature_softmax: the last code question, nothing graded builds on it.
    no_temperature = edited("no_temperature", "def temperature_softmax(", "    ...\n")
    # A from-scratch split answered by the course's own routine: trip-wired, no points.
    delegating = edited(
        "delegating",
        "def split_per_class(",
        "    from helpers.data.splits import per_class_split, short_classes\n"
        "    parts = per_class_split(labels, [n_val, n_test, n_train], seed, short_last=True)\n"
        "    short = short_classes(labels, [n_val, n_test, n_train])\n"
        "    return parts[2], parts[0], parts[1], short\n",
    )
    full = master_points(MASTER)
    scores = {}
    for name, path in [
        ("master", MASTER),
        ("no_temperature", no_temperature),
        ("delegating", delegating),
        ("student", tmp_path / "dist" / "students" / MASTER.name),
    ]:
        result = verdicts.grade(path, hidden, setup)
        assert result.code == "", (name, result.code, result.log[-2000:])
        scores[name] = result.scores
        if name == "delegating":
            assert any("write it from scratch" in why for why in result.cases.values())
    assert scores["master"] == full
    assert scores["no_temperature"] == {**full, "q9_1": 0}
    assert scores["delegating"] == {**full, "q1_1": 0}
    assert set(scores["student"].values()) == {0}
