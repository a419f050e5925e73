"""Named cases of notebook 04 (VGG16 transfer learning: Caltech256, Urban Tribes), scored outside
the kernel.

Points per question equal the master's ``# BEGIN QUESTION`` points (a test checks it). The
``public`` cases mirror the public tests the student sees; the others are hidden: inputs chosen
here, expected values from the master's solutions. The models of Question 2.1 are checked on a
small VGG-like network built the same way in the kernel and here (layer names, which layers
train, parameter counts), and by their outputs against a softmax computed from what the kernel
returns; the training of 4.1 by properties of its history (early stopping, best weights kept,
batches of 32).
"""

import numpy as np

from instructor.grading.verdicts import Case, all_of, allclose, each_key

NOTEBOOK = "04_vgg16_transfer_learning"
REFERENCE = [
    "split_per_class",
    "code_head",
    "transfer_model",
    "train_head",
    "gradient_ascent_step",
    "temperature_softmax",
]
PRELUDE = (
    "import numpy as np\nimport keras\nimport tensorflow as tf\n"
    "EPOCHS, PATIENCE = 20, 6\nHEAD = 'new_predictions'\n"
)

# Question 1.1 asks for a from-scratch version of the course's split: its cases run with these
# replaced by trip-wires (an answer that delegates earns nothing).
SPLIT_WIRES = ("helpers.data.splits.per_class_split", "helpers.data.splits.short_classes")


def _rng(seed):
    return np.random.default_rng(20_400 + seed)


# ---- 1.1 split_per_class ----

SPLIT_CALL = (
    "import numpy as np\n"
    "result = {}\n"
    "for _k, _n in enumerate(n_train):\n"
    "    _tr, _va, _te, _short = split_per_class(labels, int(_n), int(n_val), int(n_test), 3)\n"
    "    result[f'train{_k}'], result[f'val{_k}'], result[f'test{_k}'] = _tr, _va, _te\n"
    "    result[f'short{_k}'] = np.array(sorted((int(c), int(g)) for c, g in _short.items()),\n"
    "                                    dtype=int).reshape(-1, 2)\n"
)


def _split_expected(ref, i):
    result = {}
    for k, n in enumerate(i["n_train"]):
        train, val, test, short = ref.split_per_class(
            i["labels"], int(n), int(i["n_val"]), int(i["n_test"]), 3
        )
        result[f"train{k}"], result[f"val{k}"], result[f"test{k}"] = train, val, test
        result[f"short{k}"] = np.array(sorted(short.items()), dtype=int).reshape(-1, 2)
    return result


def _split_cases():
    rng = _rng(1)
    raise_call = (
        "try:\n"
        "    split_per_class(labels, 2, 2, 1, 0)\n"
        "except ValueError as _error:\n"
        "    result = {'raised': True, 'names_class': '7' in str(_error)}\n"
        "else:\n"
        "    result = {'raised': False, 'names_class': False}"
    )

    def raises(got, expected, reference):
        if not bool(got["raised"]):
            return "a class with no picture left for training did not raise a ValueError"
        if not bool(got["names_class"]):
            return "the ValueError does not name the class (7) that has no training picture"
        return None

    return [
        Case(
            "split_per_class_toy_3_classes",
            "q1_1",
            1,
            public=True,
            tripwires=SPLIT_WIRES,
            code=SPLIT_CALL,
            inputs={
                "labels": np.array([0] * 10 + [1] * 6 + [2] * 9),
                "n_train": np.array([3, 1]),
                "n_val": np.array(2),
                "n_test": np.array(2),
            },
            expected=_split_expected,
            check=each_key(),
        ),
        Case(
            "split_per_class_random_6_classes_n_1_4_40",
            "q1_1",
            1,
            tripwires=SPLIT_WIRES,
            code=SPLIT_CALL,
            inputs={
                "labels": rng.integers(0, 6, 300),
                "n_train": np.array([1, 4, 40]),
                "n_val": np.array(5),
                "n_test": np.array(4),
            },
            expected=_split_expected,
            check=each_key(),
        ),
        Case(
            "split_per_class_raises_naming_the_class",
            "q1_1",
            1,
            tripwires=SPLIT_WIRES,
            code=raise_call,
            inputs={"labels": np.array([0] * 9 + [7] * 3)},
            check=raises,
        ),
    ]


# ---- 2.1 code_head and transfer_model ----

SMALL_VGG = (
    "def _small_vgg(keras):\n"
    "    keras.utils.set_random_seed(4)\n"
    "    inputs = keras.Input((8, 8, 3), name='input_layer')\n"
    "    x = keras.layers.Conv2D(4, 3, activation='relu', name='block1_conv1')(inputs)\n"
    "    x = keras.layers.Flatten(name='flatten')(x)\n"
    "    x = keras.layers.Dense(16, activation='relu', name='fc1')(x)\n"
    "    x = keras.layers.Dense(12, activation='relu', name='fc2')(x)\n"
    "    outputs = keras.layers.Dense(10, activation='softmax', name='predictions')(x)\n"
    "    return keras.Model(inputs, outputs, name='vgg16')\n"
)


def _describe_transfer(model, head_name):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {
        "names": np.array([layer.name for layer in model.layers]),
        "trains": np.array([bool(layer.trainable and layer.weights) for layer in model.layers]),
        "trainable": trainable,
        "total": model.count_params(),
        "head_in": int(model.get_layer(head_name).input.shape[-1]),
        "out": list(model.output.shape[1:]),
    }


def _transfer_cases():
    rng = _rng(2)
    public_call = (
        "_small = code_head(5, code_size=8)\n"
        "_model = transfer_model(vgg, 5)\n"
        "result = {'head_in_shape': list(_small.input.shape[1:]),\n"
        "          'head_out_shape': list(_small.output.shape[1:]),\n"
        "          'out': list(_model.output.shape[1:]),\n"
        "          'no_predictions': 'predictions' not in [l.name for l in _model.layers],\n"
        "          'head_in': int(_model.get_layer(HEAD).input.shape[-1])}"
    )

    def public_expected(ref, inputs):
        import keras

        small = ref.code_head(5, code_size=8)
        # a stand-in with VGG16's top (fc2: 4096 numbers, then the 1000-way predictions)
        codes_in = keras.Input((4,))
        fc2 = keras.layers.Dense(4096, name="fc2")(codes_in)
        stand_in = keras.Model(codes_in, keras.layers.Dense(1000, name="predictions")(fc2))
        model = ref.transfer_model(stand_in, 5)
        return {
            "head_in_shape": list(small.input.shape[1:]),
            "head_out_shape": list(small.output.shape[1:]),
            "out": list(model.output.shape[1:]),
            "head_in": int(model.get_layer("new_predictions").input.shape[-1]),
        }

    def no_predictions(got, expected, reference):
        return None if bool(got["no_predictions"]) else "VGG16's 1000-way predictions layer is kept"

    transfer_call = (
        SMALL_VGG + "import keras as _k\nimport numpy as np\n"
        "_vgg = _small_vgg(_k)\n"
        "_model = transfer_model(_vgg, 3)\n"
        "_fc2 = _k.Model(_vgg.input, _vgg.get_layer('fc2').output)(pictures).numpy()\n"
        "_kernel, _bias = _model.get_layer(HEAD).get_weights()\n"
        "result = {'names': [l.name for l in _model.layers],\n"
        "          'trains': [bool(l.trainable and l.weights) for l in _model.layers],\n"
        "          'trainable': sum(int(np.prod(w.shape)) for w in _model.trainable_weights),\n"
        "          'total': _model.count_params(), 'head_in': int(_model.get_layer(HEAD).input"
        ".shape[-1]),\n"
        "          'out': list(_model.output.shape[1:]), 'probabilities': _model(pictures),\n"
        "          'fc2': _fc2, 'kernel': _kernel, 'bias': _bias}"
    )

    def transfer_expected(ref, inputs):
        import keras

        namespace = {}
        exec(SMALL_VGG, namespace)
        return _describe_transfer(
            ref.transfer_model(namespace["_small_vgg"](keras), 3), "new_predictions"
        )

    def same_structure(got, expected, reference):
        names = [str(n) for n in got["names"]]
        if names != [str(n) for n in expected["names"]]:
            return f"layers {names}, expected {expected['names'].tolist()}"
        if not np.array_equal(got["trains"], expected["trains"]):
            return f"layers that train {got['trains'].tolist()}, expected {expected['trains']}"
        return None

    def softmax_of_fc2(got, expected, reference):
        logits = got["fc2"].astype(np.float64) @ got["kernel"] + got["bias"]
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        if not np.allclose(got["probabilities"], probabilities, rtol=1e-4, atol=1e-6):
            return "the model's output is not a softmax of fc2 through the new layer's weights"
        return None

    head_call = (
        "_head = code_head(3, code_size=12)\n"
        "_head.get_layer(HEAD).set_weights([kernel, bias])\n"
        "result = {'probabilities': _head(codes), 'params': _head.count_params(),\n"
        "          'out': list(_head.output.shape[1:])}"
    )

    def head_expected(ref, i):
        logits = i["codes"].astype(np.float64) @ i["kernel"] + i["bias"]
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return {
            "probabilities": probabilities / probabilities.sum(axis=1, keepdims=True),
            "params": ref.code_head(3, code_size=12).count_params(),
            "out": [3],
        }

    return [
        Case(
            "transfer_heads_shapes_on_vgg16",
            "q2_1",
            1,
            public=True,
            code=public_call,
            expected=public_expected,
            check=all_of(each_key(), no_predictions),
        ),
        Case(
            "transfer_model_on_a_small_vgg",
            "q2_1",
            1,
            code=transfer_call,
            inputs={"pictures": rng.uniform(-50, 50, (2, 8, 8, 3)).astype("float32")},
            expected=transfer_expected,
            check=all_of(
                same_structure,
                allclose(key="trainable"),
                allclose(key="total"),
                allclose(key="head_in"),
                allclose(key="out"),
                softmax_of_fc2,
            ),
        ),
        Case(
            "code_head_12_to_3_softmax",
            "q2_1",
            1,
            code=head_call,
            inputs={
                "codes": rng.normal(0, 3, (6, 12)).astype("float32"),
                "kernel": rng.normal(size=(12, 3)).astype("float32"),
                "bias": rng.normal(size=3).astype("float32"),
            },
            expected=head_expected,
            check=all_of(
                allclose(key="probabilities", rtol=1e-4, atol=1e-6),
                allclose(key="params"),
                allclose(key="out"),
            ),
        ),
    ]


# ---- 4.1 train_head ----


def _train_cases():
    rng = _rng(3)
    points = rng.normal(size=(64, 4)).astype("float32")
    public_call = (
        "_classes = (points[:, 0] > 0).astype(int)\n"
        "_head = code_head(2, code_size=4)\n"
        "_history = train_head(_head, (points, _classes), (points, _classes), epochs=5, "
        "patience=6)\n"
        "result = {'has_keys': {'loss', 'accuracy', 'val_loss', 'val_accuracy'} <= set(_history),\n"
        "          'epochs': len(_history['loss']),\n"
        "          'rmsprop': type(_head.optimizer).__name__ == 'RMSprop'}"
    )

    def public_check(got, expected, reference):
        if not bool(got["has_keys"]):
            return "the history lacks one of loss, accuracy, val_loss, val_accuracy"
        if int(got["epochs"]) != 5:
            return f"{int(got['epochs'])} epochs, expected 5"
        if not bool(got["rmsprop"]):
            return "the optimiser is not keras.optimizers.RMSprop"
        return None

    early_call = (
        "import keras as _k\nimport numpy as np\n"
        "_classes = (points[:, 0] > 0).astype(int)\n"
        "_k.utils.set_random_seed(0)\n"
        "_head = code_head(2, code_size=4)\n"
        "_history = train_head(_head, (points, _classes), (points, 1 - _classes), epochs=30, "
        "patience=3, learning_rate=0.05)\n"
        "_now = _k.losses.sparse_categorical_crossentropy(1 - _classes, _head(points, "
        "training=False))\n"
        "result = {'val_loss': _history['val_loss'], 'loss_now': float(np.mean(_now)),\n"
        "          'rate': float(_head.optimizer.learning_rate)}"
    )

    def early_check(got, expected, reference):
        val_loss = np.asarray(got["val_loss"], dtype=float)
        best = int(np.argmin(val_loss))
        if len(val_loss) != best + 1 + 3:
            return (
                f"ran {len(val_loss)} epochs with the best at epoch {best + 1}: expected to stop "
                "3 (patience) epochs after the best"
            )
        if not np.isclose(float(got["loss_now"]), val_loss[best], rtol=1e-4):
            return "the best epoch's weights were not restored"
        if not np.isclose(float(got["rate"]), 0.05):
            return f"learning rate {float(got['rate'])}, expected the learning_rate passed (0.05)"
        return None

    batches_call = (
        "_x = np.concatenate([points, points[:6]])\n"
        "_y = (_x[:, 0] > 0).astype(int)\n"
        "_head = code_head(2, code_size=4)\n"
        "_history = train_head(_head, (_x, _y), epochs=4, patience=2)\n"
        "result = {'epochs': len(_history['loss']), 'has_val': 'val_loss' in _history,\n"
        "          'steps': int(_head.optimizer.iterations)}"
    )

    def batches_check(got, expected, reference):
        if int(got["epochs"]) != 4 or bool(got["has_val"]):
            return "without a validation set: expected 4 epochs and no val_loss in the history"
        if int(got["steps"]) != 4 * 3:
            return (
                f"{int(got['steps'])} optimiser steps for 4 epochs of 70 codes, expected 12 "
                "(batches of 32)"
            )
        return None

    return [
        Case(
            "train_head_history_and_rmsprop",
            "q4_1",
            1,
            public=True,
            code=public_call,
            inputs={"points": rng.normal(size=(60, 4)).astype("float32")},
            check=public_check,
        ),
        Case(
            "train_head_early_stopping_keeps_the_best_epoch",
            "q4_1",
            1,
            code=early_call,
            inputs={"points": points},
            check=early_check,
        ),
        Case(
            "train_head_no_validation_batches_of_32",
            "q4_1",
            1,
            code="import numpy as np\n" + batches_call,
            inputs={"points": points},
            check=batches_check,
        ),
    ]


# ---- 6.1 gradient_ascent_step ----


def _one_by_one(keras, kernel, bias):
    inputs = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(kernel.shape[-1], 1)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([kernel.reshape(1, 1, 3, -1).astype("float32"), bias.astype("float32")])
    return model


def _small_conv(keras, first, first_bias, second, second_bias):
    inputs = keras.Input((8, 8, 3))
    conv1 = keras.layers.Conv2D(first.shape[-1], 3, activation="relu")
    conv2 = keras.layers.Conv2D(second.shape[-1], 3)
    model = keras.Model(inputs, conv2(conv1(inputs)))
    conv1.set_weights([first, first_bias])
    conv2.set_weights([second, second_bias])
    return model


ONE_BY_ONE_CALL = (
    "import keras as _k\nimport tensorflow as _tf\n"
    "_inputs = _k.Input((4, 4, 3))\n"
    "_conv = _k.layers.Conv2D(kernel.shape[-1], 1)\n"
    "_model = _k.Model(_inputs, _conv(_inputs))\n"
    "_conv.set_weights([kernel.reshape(1, 1, 3, -1).astype('float32'), bias.astype('float32')])\n"
    "_images, _objectives = gradient_ascent_step(_model, _tf.constant(start, _tf.float32), "
    "_tf.constant(filters, _tf.int32), _tf.constant(float(step), _tf.float32))\n"
    "result = {'images': _images, 'objectives': _objectives}"
)

SMALL_CONV_CALL = (
    "import keras as _k\nimport tensorflow as _tf\n"
    "_inputs = _k.Input((8, 8, 3))\n"
    "_conv1 = _k.layers.Conv2D(first.shape[-1], 3, activation='relu')\n"
    "_conv2 = _k.layers.Conv2D(second.shape[-1], 3)\n"
    "_model = _k.Model(_inputs, _conv2(_conv1(_inputs)))\n"
    "_conv1.set_weights([first, first_bias])\n"
    "_conv2.set_weights([second, second_bias])\n"
    "_images, _objectives = gradient_ascent_step(_model, _tf.constant(start, _tf.float32), "
    "_tf.constant(filters, _tf.int32), _tf.constant(float(step), _tf.float32))\n"
    "result = {'images': _images, 'objectives': _objectives}"
)


def _ascent_cases():
    rng = _rng(6)

    def one_by_one_expected(ref, i):
        import keras
        import tensorflow as tf

        model = _one_by_one(keras, i["kernel"], i["bias"])
        images, objectives = ref.gradient_ascent_step(
            model,
            tf.constant(i["start"], tf.float32),
            tf.constant(i["filters"], tf.int32),
            tf.constant(float(i["step"]), tf.float32),
        )
        return {"images": images.numpy(), "objectives": objectives.numpy()}

    def small_expected(ref, i):
        import keras
        import tensorflow as tf

        model = _small_conv(keras, i["first"], i["first_bias"], i["second"], i["second_bias"])
        images, objectives = ref.gradient_ascent_step(
            model,
            tf.constant(i["start"], tf.float32),
            tf.constant(i["filters"], tf.int32),
            tf.constant(float(i["step"]), tf.float32),
        )
        return {"images": images.numpy(), "objectives": objectives.numpy()}

    small_inputs = {
        "first": rng.normal(0, 0.3, (3, 3, 3, 4)).astype("float32"),
        "first_bias": rng.normal(0, 0.1, 4).astype("float32"),
        "second": rng.normal(0, 0.3, (3, 3, 4, 5)).astype("float32"),
        "second_bias": rng.normal(0, 0.1, 5).astype("float32"),
        "start": rng.normal(size=(4, 8, 8, 3)).astype("float32"),
        "filters": np.array([4, 0, 2, 4]),
        "step": np.array(2.5),
    }
    return [
        Case(
            "gradient_ascent_step_1x1_conv_by_hand",
            "q6_1",
            1,
            public=True,
            code=ONE_BY_ONE_CALL,
            inputs={
                "kernel": np.array([[1.0, 0.0], [2.0, 1.0], [2.0, -1.0]]),
                "bias": np.array([0.5, 0.0]),
                "start": np.zeros((2, 4, 4, 3)),
                "filters": np.array([0, 1]),
                "step": np.array(1.0),
            },
            expected=one_by_one_expected,
            check=each_key(atol=1e-6),
        ),
        Case(
            "gradient_ascent_step_two_conv_layers",
            "q6_1",
            1,
            code=SMALL_CONV_CALL,
            inputs=small_inputs,
            expected=small_expected,
            check=each_key(atol=1e-5),
        ),
        Case(
            "gradient_ascent_step_1x1_conv_random_start",
            "q6_1",
            1,
            code=ONE_BY_ONE_CALL,
            inputs={
                "kernel": rng.normal(size=(3, 6)),
                "bias": rng.normal(size=6),
                "start": rng.normal(size=(5, 4, 4, 3)),
                "filters": np.array([5, 0, 3, 3, 1]),
                "step": np.array(3.0),
            },
            expected=one_by_one_expected,
            check=each_key(atol=1e-5),
        ),
    ]


# ---- 9.1 temperature_softmax ----


def _temperature_cases():
    rng = _rng(9)
    call = (
        "import numpy as np\n"
        "result = {f't{k}': np.asarray(temperature_softmax(logits, float(t)), dtype=float)\n"
        "          for k, t in enumerate(temperatures)}"
    )

    def expected(ref, i):
        return {
            f"t{k}": ref.temperature_softmax(i["logits"], float(t))
            for k, t in enumerate(i["temperatures"])
        }

    scores = rng.normal(0, 30, (5, 1000))
    scores[0, :3] = [1000.0, 0.0, -1000.0]  # overflows without subtracting the largest value
    return [
        Case(
            "temperature_softmax_worked_examples",
            "q9_1",
            1,
            public=True,
            code=call,
            inputs={
                "logits": np.array([[0.0, np.log(3.0)], [0.0, np.log(9.0)]]),
                "temperatures": np.array([1.0, 2.0]),
            },
            expected=expected,
            check=each_key(atol=1e-9),
        ),
        Case(
            "temperature_softmax_random_5x1000_large_logits",
            "q9_1",
            1,
            code=call,
            inputs={"logits": scores, "temperatures": np.array([1.0, 2.0, 4.0, 8.0, 16.0, 0.5])},
            expected=expected,
            check=each_key(rtol=1e-9, atol=1e-15),
        ),
    ]


def cases():
    """Every case of notebook 04."""
    return [
        *_split_cases(),
        *_transfer_cases(),
        *_train_cases(),
        *_ascent_cases(),
        *_temperature_cases(),
    ]
