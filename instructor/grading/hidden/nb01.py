"""Named cases of notebook 01 (neural codes on Tiny ImageNet), scored outside the kernel.

Points per question equal the master's ``# BEGIN QUESTION`` points (a test checks it). The
``public`` cases mirror the public tests the student sees; the others are hidden: inputs chosen
here. Each case's ``code`` runs twice: in the student's kernel with their functions, and here with
the master's solution functions (``REFERENCE``) in their place, which gives the expected values.
Models are built with weights drawn here (or from a seed, shape by shape), never from a seed of
Keras' own, so both runs start from the same numbers.
"""

import numpy as np

from instructor.grading.verdicts import Case

NOTEBOOK = "01_neural_codes_tiny_imagenet"
REFERENCE = [
    "make_dataset",
    "build_neural_codes_net",
    "compile_neural_codes_net",
    "train_neural_codes_net",
    "evaluate_splits",
    "extract_codes",
    "nearest_neighbours",
    "average_precision",
    "mean_average_precision",
]
PRELUDE = (
    "import numpy as np\nimport pandas as pd\nimport tensorflow as tf\nimport keras\n"
    "from helpers import training\n"
    "BATCH_SIZE = 100\nPATIENCE = 3\nSETUP = {'seed': 42}\n"
)

# The course's own routines these questions ask for from scratch: switched off while they run.
PIPELINE_WIRES = ("helpers.data.pipeline.make_dataset",)
EXTRACT_WIRES = (
    "helpers.models.features.extract_codes",
    "helpers.models.transfer.extract_codes_in_chunks",
)
DISTANCE_WIRES = ("helpers.retrieval.sq_distances", "helpers.retrieval.knn")
AP_WIRES = ("helpers.retrieval.average_precision",)
MAP_WIRES = (
    *DISTANCE_WIRES,
    *AP_WIRES,
    "helpers.retrieval.mean_average_precision",
    "helpers.retrieval.precision_recall_at_k",
)


def _rng(seed):
    return np.random.default_rng(20_100 + seed)


def same_code(code):
    """``expected``: run the case's ``code`` here with the reference functions in its names."""

    def expected(reference, inputs):
        import keras
        import pandas as pd
        import tensorflow as tf

        namespace = {"np": np, "tf": tf, "keras": keras, "pd": pd, **vars(reference)}
        namespace.update({key: np.asarray(value) for key, value in inputs.items()})
        exec(compile(code, "<expected value>", "exec"), namespace)
        result = namespace["result"]
        values = result if isinstance(result, dict) else {"value": result}
        return {
            key: np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            for key, value in values.items()
        }

    return expected


def close(rtol=1e-6, atol=1e-6, equal_nan=False):
    """Every expected key is there, with the expected shape and values within the tolerances."""

    def check(got, expected, reference):
        for key, want in expected.items():
            if key not in got:
                return f"no value {key!r} (got {sorted(got)})"
            value = np.asarray(got[key], dtype=np.float64)
            want = np.asarray(want, dtype=np.float64)
            if value.shape != want.shape:
                return f"{key}: shape {value.shape}, expected {want.shape}"
            if not np.allclose(value, want, rtol=rtol, atol=atol, equal_nan=equal_nan):
                worst = np.nanmax(np.abs(value - want)) if value.size else 0.0
                return f"{key}: differs from the reference (largest difference {worst:.3g})"
        return None

    return check


# ---- Question 1.1: make_dataset ----

DATASET_CALL = (
    "ds = make_dataset(images, labels, batch_size=int(batch_size))\n"
    "batches = [(x.numpy(), y.numpy()) for x, y in ds]\n"
    "result = {'sizes': [len(y) for _, y in batches],\n"
    "          'images': np.concatenate([x for x, _ in batches]),\n"
    "          'labels': np.concatenate([y for _, y in batches]),\n"
    "          'float32': float(all(x.dtype == np.float32 for x, _ in batches)),\n"
    "          'prefetch': float('Prefetch' in type(ds).__name__)}"
)

SHUFFLE_CALL = (
    "ids_images = np.repeat(ids.astype(np.uint8), 3).reshape(len(ids), 1, 1, 3)\n"
    "def epochs_of(ds):\n"
    "    out = []\n"
    "    for _ in range(2):\n"
    "        pairs = [(x.numpy()[:, 0, 0, 0], y.numpy()) for x, y in ds]\n"
    "        out.append((np.concatenate([np.rint(x * 255) for x, _ in pairs]),\n"
    "                    np.concatenate([y for _, y in pairs])))\n"
    "    return out\n"
    "first = epochs_of(make_dataset(ids_images, ids, batch_size=8, shuffle=True, seed=3))\n"
    "again = epochs_of(make_dataset(ids_images, ids, batch_size=8, shuffle=True, seed=3))\n"
    "result = {'pixels': np.stack([p for p, _ in first]),\n"
    "          'labels': np.stack([y for _, y in first]),\n"
    "          'again': np.stack([y for _, y in again])}"
)


def _shuffle_check(got, expected, reference):
    pixels, labels, again = got["pixels"], got["labels"], got["again"]
    n = 40
    if labels.shape != (2, n) or pixels.shape != (2, n):
        return f"expected 2 epochs of {n} labels, got shape {labels.shape}"
    if not np.array_equal(pixels, labels):
        return "shuffled images no longer match their labels"
    if any(not np.array_equal(np.sort(epoch), np.arange(n)) for epoch in labels):
        return "an epoch does not hold every image exactly once"
    if np.array_equal(labels[0], np.arange(n)):
        return "shuffle=True kept the original order"
    if np.array_equal(labels[0], labels[1]):
        return "the same order in both epochs: reshuffle at every epoch"
    if not np.array_equal(labels, again):
        return "the same seed gave a different order: pass `seed` to the shuffle"
    return None


def _dataset_cases():
    rng = _rng(1)
    white = np.full((5, 2, 2, 3), 255, dtype=np.uint8)
    white[1] = 0
    return [
        Case(
            "make_dataset_white_and_black_in_batches_of_2",
            "q1_1",
            1,
            public=True,
            tripwires=PIPELINE_WIRES,
            code=DATASET_CALL,
            inputs={"images": white, "labels": np.arange(5), "batch_size": np.array(2)},
            expected=same_code(DATASET_CALL),
            check=close(atol=1e-7),
        ),
        Case(
            "make_dataset_random_23_in_batches_of_10",
            "q1_1",
            1,
            tripwires=PIPELINE_WIRES,
            code=DATASET_CALL,
            inputs={
                "images": rng.integers(0, 256, size=(23, 4, 4, 3), dtype=np.uint8),
                "labels": rng.integers(0, 5, size=23),
                "batch_size": np.array(10),
            },
            expected=same_code(DATASET_CALL),
            check=close(atol=1e-7),
        ),
        Case(
            "make_dataset_reshuffles_every_epoch_seeded",
            "q1_1",
            1,
            tripwires=PIPELINE_WIRES,
            code=SHUFFLE_CALL,
            inputs={"ids": np.arange(40)},
            check=_shuffle_check,
        ),
    ]


# ---- Question 2.1: build_neural_codes_net ----

SHAPES_CALL = (
    "net = build_neural_codes_net(190)\n"
    "result = {'parameters': net.count_params()}\n"
    "for name in ('pool5', 'fc6', 'fc7', 'predictions'):\n"
    "    result[name] = [-1 if d is None else d for d in net.get_layer(name).output.shape]"
)

SAME_WEIGHTS_CALL = (
    "net = build_neural_codes_net(7, input_shape=(16, 16, 3))\n"
    "draw = np.random.default_rng(int(seed))\n"
    "net.set_weights([0.05 * draw.standard_normal(w.shape).astype('float32')\n"
    "                 for w in net.get_weights()])\n"
    "names = ['pool5', 'fc6', 'fc7', 'predictions']\n"
    "probe_net = keras.Model(net.inputs[0], [net.get_layer(n).output for n in names])\n"
    "result = dict(zip(names, [np.asarray(t) for t in probe_net(probe, training=False)]))"
)

LAYERS_CALL = (
    "net = build_neural_codes_net(7, input_shape=(32, 32, 3))\n"
    "result = {\n"
    "    'dropout_rates': [l.rate for l in net.layers if isinstance(l, keras.layers.Dropout)],\n"
    "    'not_same_padding': sum(getattr(l, 'padding', 'same') != 'same' for l in net.layers),\n"
    "    'pool_sizes': [list(l.pool_size) + list(l.strides) for l in net.layers\n"
    "                   if isinstance(l, keras.layers.MaxPooling2D)],\n"
    "}"
)


def _network_cases():
    probe = _rng(2).uniform(size=(3, 16, 16, 3)).astype("float32")
    return [
        Case(
            "network_190_classes_parameters_and_code_shapes",
            "q2_1",
            1,
            public=True,
            code=SHAPES_CALL,
            expected=same_code(SHAPES_CALL),
            check=close(rtol=0, atol=0),
        ),
        Case(
            "network_same_weights_same_codes_and_predictions",
            "q2_1",
            2,
            code=SAME_WEIGHTS_CALL,
            inputs={"probe": probe, "seed": np.array(21)},
            expected=same_code(SAME_WEIGHTS_CALL),
            check=close(rtol=1e-4, atol=1e-5),
        ),
        Case(
            "network_dropout_padding_and_pooling",
            "q2_1",
            1,
            code=LAYERS_CALL,
            expected=same_code(LAYERS_CALL),
            check=close(rtol=0, atol=1e-9),
        ),
    ]


# ---- Question 3.1: compile_neural_codes_net ----

UNIFORM_CALL = (
    "net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(6, activation='softmax',\n"
    "                        kernel_initializer='zeros')])\n"
    "same = compile_neural_codes_net(net) is net\n"
    "net.run_eagerly = True\n"
    "scores = net.evaluate(np.ones((4, 3)), np.arange(4), return_dict=True, verbose=0)\n"
    "result = {**{str(k): float(v) for k, v in scores.items()}, 'returns_the_model': float(same),\n"
    "          'amsgrad': float(bool(net.optimizer.get_config().get('amsgrad'))),\n"
    "          'learning_rate': float(net.optimizer.learning_rate)}"
)

STEPS_CALL = (
    "net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(6, activation='softmax')])\n"
    "net.set_weights([kernel, bias])\n"
    "net = compile_neural_codes_net(net)\n"
    "net.run_eagerly = True\n"
    "for k in range(3):\n"
    "    logs = net.train_on_batch(xs[k], ys[k], return_dict=True)\n"
    "kernel_after, bias_after = net.get_weights()\n"
    "result = {'loss': float(logs['loss']), 'accuracy': float(logs['accuracy']),\n"
    "          'top5': float(logs['top5']), 'kernel': kernel_after, 'bias': bias_after}"
)


def _compile_cases():
    rng = _rng(3)
    xs = np.stack([(s * rng.normal(size=(32, 3))).astype("float32") for s in (10.0, 1.0, 0.1)])
    return [
        Case(
            "compile_uniform_model_scores_log_6",
            "q3_1",
            1,
            public=True,
            code=UNIFORM_CALL,
            expected=same_code(UNIFORM_CALL),
            check=close(rtol=1e-5, atol=1e-7),
        ),
        Case(
            "compile_three_training_steps_as_the_reference",
            "q3_1",
            1,
            code=STEPS_CALL,
            inputs={
                "kernel": (0.3 * rng.normal(size=(3, 6))).astype("float32"),
                "bias": np.zeros(6, dtype="float32"),
                "xs": xs,
                "ys": rng.integers(0, 6, size=(3, 32)),
            },
            expected=same_code(STEPS_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
    ]


# ---- Question 3.2: train_neural_codes_net ----

RESUME_CALL = (
    "import tempfile\n"
    "net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation='softmax')])\n"
    "net.set_weights([kernel, bias])\n"
    "net.compile(optimizer=keras.optimizers.SGD(0.1), loss='sparse_categorical_crossentropy',\n"
    "            run_eagerly=True)\n"
    "data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)\n"
    "folder = tempfile.mkdtemp()\n"
    "kwargs = dict(epochs=2, run_dir=folder, data_fingerprint='tiny', seed=0, verbose=0)\n"
    "first = train_neural_codes_net(net, data, data, **kwargs)\n"
    "again = train_neural_codes_net(net, data, data, **kwargs)\n"
    "result = {'loss': first['loss'], 'val_loss': first['val_loss'],\n"
    "          'second_call_same': float(again == first)}"
)

STOPPING_CALL = (
    "import tempfile\n"
    "net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation='softmax')])\n"
    "net.set_weights([kernel, bias])\n"
    "net.compile(optimizer=keras.optimizers.SGD(0.5), loss='sparse_categorical_crossentropy',\n"
    "            run_eagerly=True)\n"
    "train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)\n"
    "contradicting = tf.data.Dataset.from_tensor_slices((x, (y + 1) % 3)).batch(8)\n"
    "history = train_neural_codes_net(net, train, contradicting, epochs=30,\n"
    "                                 run_dir=tempfile.mkdtemp(),\n"
    "                                 data_fingerprint='contradiction',\n"
    "                                 seed=0, verbose=0)\n"
    "kernel_kept, bias_kept = net.get_weights()\n"
    "result = {'loss': history['loss'], 'val_loss': history['val_loss'],\n"
    "          'kernel': kernel_kept, 'bias': bias_kept}"
)


def _training_cases():
    rng = _rng(4)
    return [
        Case(
            "train_two_epochs_then_the_finished_run_is_loaded",
            "q3_2",
            1,
            public=True,
            code=RESUME_CALL,
            inputs={
                "kernel": (0.5 * rng.normal(size=(3, 2))).astype("float32"),
                "bias": np.zeros(2, dtype="float32"),
                "x": np.eye(3, dtype="float32")[[0, 1, 2, 0]],
                "y": np.array([0, 1, 1, 0]),
            },
            expected=same_code(RESUME_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
        Case(
            "train_early_stopping_on_val_loss_restores_the_best_weights",
            "q3_2",
            2,
            code=STOPPING_CALL,
            inputs={
                "kernel": (0.5 * rng.normal(size=(4, 3))).astype("float32"),
                "bias": np.zeros(3, dtype="float32"),
                "x": rng.normal(size=(40, 4)).astype("float32"),
                "y": rng.integers(0, 3, size=40),
            },
            expected=same_code(STOPPING_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
    ]


# ---- Question 4.1: evaluate_splits ----

FIXED_CALL = (
    "fixed = keras.Sequential([keras.Input((1,)), keras.layers.Dense(6,\n"
    "    kernel_initializer='zeros', bias_initializer=keras.initializers.Constant(np.log(p))),\n"
    "    keras.layers.Softmax()])\n"
    "fixed.compile(loss='sparse_categorical_crossentropy', run_eagerly=True, metrics=['accuracy',\n"
    "    keras.metrics.SparseTopKCategoricalAccuracy(k=5, name='top5')])\n"
    "data = tf.data.Dataset.from_tensor_slices((np.zeros((4, 1), 'float32'), labels)).batch(3)\n"
    "table = evaluate_splits(fixed, {'all four': data, 'first three': data.take(1)})\n"
    "result = {'values': table.to_numpy(dtype=float),\n"
    "          'rows_in_order': float(list(table.index) == ['all four', 'first three']),\n"
    "          'columns_in_order': float(list(table.columns) ==\n"
    "                                    ['cross-entropy', 'accuracy', 'top-5 accuracy'])}"
)

RANDOM_TABLE_CALL = (
    "net = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation='softmax')])\n"
    "net.set_weights([kernel, bias])\n"
    "net.compile(loss='sparse_categorical_crossentropy', run_eagerly=True, metrics=['accuracy',\n"
    "    keras.metrics.SparseTopKCategoricalAccuracy(k=5, name='top5')])\n"
    "splits = {'a': tf.data.Dataset.from_tensor_slices((x, y)).batch(16),\n"
    "          'b': tf.data.Dataset.from_tensor_slices((x[:21], y[:21])).batch(7)}\n"
    "table = evaluate_splits(net, splits)\n"
    "result = {'values': table.to_numpy(dtype=float)}"
)


def _evaluation_cases():
    rng = _rng(5)
    return [
        Case(
            "evaluate_fixed_probabilities_by_hand",
            "q4_1",
            1,
            public=True,
            code=FIXED_CALL,
            inputs={
                "p": np.array([0.4, 0.2, 0.15, 0.1, 0.08, 0.07]),
                "labels": np.array([0, 0, 1, 5]),
            },
            expected=same_code(FIXED_CALL),
            check=close(rtol=1e-5, atol=1e-7),
        ),
        Case(
            "evaluate_random_8_class_model_on_two_splits",
            "q4_1",
            2,
            code=RANDOM_TABLE_CALL,
            inputs={
                "kernel": rng.normal(size=(5, 8)).astype("float32"),
                "bias": (0.1 * rng.normal(size=8)).astype("float32"),
                "x": rng.normal(size=(50, 5)).astype("float32"),
                "y": rng.integers(0, 8, size=50),
            },
            expected=same_code(RANDOM_TABLE_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
    ]


# ---- Question 5.1: extract_codes ----

TINY_CODES_CALL = (
    "inputs = keras.Input((4, 4, 3))\n"
    "pooled = keras.layers.MaxPooling2D(2, name='pool')(inputs)\n"
    "out = keras.layers.Dense(2, kernel_initializer='ones', name='out')(\n"
    "    keras.layers.Flatten()(pooled))\n"
    "codes = extract_codes(keras.Model(inputs, out), images, ['pool', 'out'], batch_size=2)\n"
    "result = {'pool': codes['pool'], 'out': codes['out'],\n"
    "          'keys_in_order': float(list(codes) == ['pool', 'out']),\n"
    "          'float32': float(all(v.dtype == np.float32 for v in codes.values()))}"
)

RANDOM_CODES_CALL = (
    "inputs = keras.Input((8, 8, 3))\n"
    "hidden = keras.layers.Conv2D(4, 3, padding='same', name='conv')(inputs)\n"
    "hidden = keras.layers.Dropout(0.5)(keras.layers.Flatten()(hidden))\n"
    "net = keras.Model(inputs, keras.layers.Dense(5, name='fc')(hidden))\n"
    "net.set_weights([conv_kernel, conv_bias, fc_kernel, fc_bias])\n"
    "codes = extract_codes(net, images, ['fc', 'conv'], batch_size=10)\n"
    "result = {'conv': codes['conv'], 'fc': codes['fc'],\n"
    "          'keys_in_order': float(list(codes) == ['fc', 'conv'])}"
)


def _codes_cases():
    rng = _rng(6)
    tiny = np.full((3, 4, 4, 3), 255, dtype=np.uint8)
    tiny[1] = 0
    return [
        Case(
            "extract_codes_tiny_pooling_and_dense",
            "q5_1",
            1,
            public=True,
            tripwires=EXTRACT_WIRES,
            code=TINY_CODES_CALL,
            inputs={"images": tiny},
            expected=same_code(TINY_CODES_CALL),
            check=close(rtol=1e-6, atol=1e-6),
        ),
        Case(
            "extract_codes_random_net_dropout_off_37_images",
            "q5_1",
            2,
            tripwires=EXTRACT_WIRES,
            code=RANDOM_CODES_CALL,
            inputs={
                "conv_kernel": (0.3 * rng.normal(size=(3, 3, 3, 4))).astype("float32"),
                "conv_bias": (0.1 * rng.normal(size=4)).astype("float32"),
                "fc_kernel": (0.1 * rng.normal(size=(256, 5))).astype("float32"),
                "fc_bias": (0.1 * rng.normal(size=5)).astype("float32"),
                "images": rng.integers(0, 256, size=(37, 8, 8, 3), dtype=np.uint8),
            },
            expected=same_code(RANDOM_CODES_CALL),
            check=close(rtol=1e-5, atol=1e-5),
        ),
    ]


# ---- Questions 5.2-5.4: nearest neighbours, AP, mAP from scratch ----

NEIGHBOURS_CALL = (
    "found = nearest_neighbours(codes, queries, k=int(k))\n"
    "result = {'sq_dists': np.asarray(found[0]), 'indices': np.asarray(found[1])}"
)

AP_CALL = (
    "result = [float(average_precision(ranked[i, :lengths[i]], int(labels[i])))\n"
    "          for i in range(len(lengths))]"
)

MAP_CALL = "result = float(mean_average_precision(codes, labels))"


def _quiet(expected):
    """``expected`` with numpy's warnings off (an AP of NaN warns in the reference)."""

    def wrapped(reference, inputs):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return expected(reference, inputs)

    return wrapped


def _retrieval_cases():
    rng = _rng(7)
    random_codes = rng.normal(size=(120, 16)).astype("float32")
    random_codes[33] = 3 * random_codes[7]  # same direction: distance 0 after normalising
    lengths = rng.integers(1, 40, size=50)
    ranked = np.full((50, 40), -1)
    for row, length in enumerate(lengths):
        ranked[row, :length] = rng.integers(0, 4, size=length)
    return [
        Case(
            "nearest_neighbours_four_points_with_ties",
            "q5_2",
            1,
            public=True,
            tripwires=DISTANCE_WIRES,
            code=NEIGHBOURS_CALL,
            inputs={
                "codes": np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, -3.0]]),
                "queries": np.array([0, 3]),
                "k": np.array(2),
            },
            expected=same_code(NEIGHBOURS_CALL),
            check=close(rtol=0, atol=1e-6),
        ),
        Case(
            "nearest_neighbours_random_120x16_k9",
            "q5_2",
            2,
            tripwires=DISTANCE_WIRES,
            code=NEIGHBOURS_CALL,
            inputs={"codes": random_codes, "queries": np.array([0, 7, 119, 50]), "k": np.array(9)},
            expected=same_code(NEIGHBOURS_CALL),
            check=close(rtol=0, atol=1e-5),
        ),
        Case(
            "average_precision_worked_examples",
            "q5_3",
            1,
            public=True,
            tripwires=AP_WIRES,
            code=AP_CALL,
            inputs={
                "ranked": np.array([[1, 0, 1, 0], [2, 2, 2, -1], [0, 0, -1, -1]]),
                "lengths": np.array([4, 3, 2]),
                "labels": np.array([1, 2, 1]),
            },
            expected=_quiet(same_code(AP_CALL)),
            check=close(rtol=1e-9, atol=1e-12, equal_nan=True),
        ),
        Case(
            "average_precision_random_lists_50",
            "q5_3",
            1,
            tripwires=AP_WIRES,
            code=AP_CALL,
            inputs={"ranked": ranked, "lengths": lengths, "labels": rng.integers(0, 4, size=50)},
            expected=_quiet(same_code(AP_CALL)),
            check=close(rtol=1e-7, atol=1e-9, equal_nan=True),
        ),
        Case(
            "mean_average_precision_four_angles",
            "q5_4",
            1,
            public=True,
            tripwires=MAP_WIRES,
            code=MAP_CALL,
            inputs={
                "codes": np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]),
                "labels": np.array([0, 1, 0, 1]),
            },
            expected=same_code(MAP_CALL),
            check=close(rtol=1e-9, atol=1e-9),
        ),
        Case(
            "mean_average_precision_random_80x6_with_a_lone_class",
            "q5_4",
            1,
            tripwires=MAP_WIRES,
            code=MAP_CALL,
            inputs={
                "codes": rng.normal(size=(80, 6)).astype("float32"),
                # class 4 has one image: its AP is NaN and stays out of the mean
                "labels": np.concatenate([rng.integers(0, 4, size=79), [4]]),
            },
            expected=_quiet(same_code(MAP_CALL)),
            check=close(rtol=1e-5, atol=1e-6),
        ),
    ]


def cases():
    """Every case of notebook 01."""
    return [
        *_dataset_cases(),
        *_network_cases(),
        *_compile_cases(),
        *_training_cases(),
        *_evaluation_cases(),
        *_codes_cases(),
        *_retrieval_cases(),
    ]
