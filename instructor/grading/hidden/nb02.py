"""Named cases of notebook 02 (PASCAL VOC 2007: CaffeNet, nearest neighbours, t-SNE, per-class AP).

Points per question equal the master's ``# BEGIN QUESTION`` points (a test checks it). The
``public`` cases mirror the public tests the student sees; the others are hidden: inputs chosen
here, expected values from the master's solutions (the network of Question 2.1 is built here from
the master's ``caffenet`` and compared layer by layer: names, output shapes, parameter counts).
"""

import numpy as np

from instructor.grading.verdicts import Case, all_of, allclose

NOTEBOOK = "02_voc_nearest_neighbours_tsne"
REFERENCE = [
    "caffenet",
    "compile_multilabel",
    "nearest_neighbours",
    "mean_class_colours",
    "voc_average_precision",
]
PRELUDE = "import numpy as np\nimport keras\n"

# Questions 4.1 and 6.1 ask for from-scratch versions of the course's retrieval routines: their
# cases run with these replaced by trip-wires (an answer that delegates earns nothing).
NEIGHBOUR_WIRES = ("helpers.retrieval.sq_distances", "helpers.retrieval.knn")
AP_WIRES = (
    "helpers.retrieval.per_class_average_precision",
    "helpers.retrieval.average_precision",
    "helpers.retrieval.mean_average_precision",
)


def _rng(seed):
    return np.random.default_rng(20_200 + seed)


def _layers(model):
    """Names, output shapes (as text), parameter counts and activations of a model's layers."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return {
        "names": np.array([layer.name for layer in layers]),
        "shapes": np.array([str(tuple(layer.output.shape)) for layer in layers]),
        "params": np.array([layer.count_params() for layer in layers]),
        "activations": np.array(
            [str(layer.get_config().get("activation", "")) for layer in layers]
        ),
    }


LAYERS_CALL = (
    "import keras as _k\n"
    "_net = caffenet({classes}, {shape})\n"
    "_layers = [l for l in _net.layers if not isinstance(l, _k.layers.InputLayer)]\n"
    "result = {{'names': [l.name for l in _layers],\n"
    "          'shapes': [str(tuple(l.output.shape)) for l in _layers],\n"
    "          'params': [l.count_params() for l in _layers],\n"
    "          'activations': [str(l.get_config().get('activation', '')) for l in _layers],\n"
    "          'scale': float(_net.get_layer('scale').scale)}}"
)


def _same_layers(got, expected, reference):
    for key in ("names", "shapes", "activations"):
        have, want = [str(v) for v in got[key]], [str(v) for v in expected[key]]
        if have != want:
            differ = [(h, w) for h, w in zip(have, want) if h != w][:3]
            return (
                f"layer {key}: got {have[:3]}... expected {want[:3]}... first differences {differ}"
            )
    if not np.array_equal(got["params"], expected["params"]):
        return f"parameter counts per layer {got['params'].tolist()}, expected {expected['params']}"
    if not abs(float(got["scale"]) - 1 / 255) < 1e-9:
        return f"the scale layer multiplies by {float(got['scale'])}, expected 1/255"
    return None


def _caffenet_cases():
    def expected(classes, shape):
        def compute(ref, inputs):
            return _layers(ref.caffenet(classes, shape))

        return compute

    public_call = (
        "import numpy as np\n"
        "_net = caffenet()\n"
        "_out = _net(np.full((2, 224, 224, 3), 255, 'uint8')).numpy()\n"
        "result = {'pool5': list(_net.get_layer('pool5').output.shape[1:]),\n"
        "          'fc7': list(_net.get_layer('fc7').output.shape[1:]),\n"
        "          'out': list(_net.output.shape[1:]),\n"
        "          'scale': float(_net.get_layer('scale').scale),\n"
        "          'in_range': bool(np.all((_out > 0) & (_out < 1)) and _out.shape == (2, 20))}"
    )

    def public_expected(ref, inputs):
        net = ref.caffenet()
        return {
            "pool5": list(net.get_layer("pool5").output.shape[1:]),
            "fc7": list(net.get_layer("fc7").output.shape[1:]),
            "out": list(net.output.shape[1:]),
            "scale": 1 / 255,
        }

    def in_range(got, expected, reference):
        return None if bool(got["in_range"]) else "outputs for 255 pixels are not (2, 20) in (0, 1)"

    return [
        Case(
            "caffenet_default_shapes_and_sigmoid",
            "q2_1",
            1,
            public=True,
            code=public_call,
            expected=public_expected,
            check=all_of(
                allclose(key="pool5"),
                allclose(key="fc7"),
                allclose(key="out"),
                allclose(key="scale", rtol=1e-6),
                in_range,
            ),
        ),
        Case(
            "caffenet_layers_224_20_classes",
            "q2_1",
            1,
            code=LAYERS_CALL.format(classes=20, shape=(224, 224, 3)),
            expected=expected(20, (224, 224, 3)),
            check=_same_layers,
        ),
        Case(
            "caffenet_layers_227_7_classes",
            "q2_1",
            1,
            code=LAYERS_CALL.format(classes=7, shape=(227, 227, 3)),
            expected=expected(7, (227, 227, 3)),
            check=_same_layers,
        ),
    ]


def _identity_model_evaluation(compile_multilabel, rate, scores, truth):
    import keras

    model = keras.Sequential([keras.Input((scores.shape[1],)), keras.layers.Lambda(lambda x: x)])
    model = compile_multilabel(model, rate)
    logs = model.evaluate(scores, truth, verbose=0, return_dict=True)
    return {
        "loss": float(logs["loss"]),
        "auc_pr": float(logs.get("auc_pr", np.nan)),
        "rate": float(model.optimizer.learning_rate),
        "adam": isinstance(model.optimizer, keras.optimizers.Adam),
    }


COMPILE_CALL = (
    "import keras as _k\n"
    "_m = _k.Sequential([_k.Input((scores.shape[1],)), _k.layers.Lambda(lambda x: x)])\n"
    "_m = compile_multilabel(_m, float(rate))\n"
    "_logs = _m.evaluate(scores, truth, verbose=0, return_dict=True)\n"
    "result = {'loss': float(_logs['loss']), 'auc_pr': float(_logs.get('auc_pr', float('nan'))),\n"
    "          'rate': float(_m.optimizer.learning_rate),\n"
    "          'adam': isinstance(_m.optimizer, _k.optimizers.Adam)}"
)


def _compile_cases():
    rng = _rng(2)
    scores = rng.uniform(0.02, 0.98, (30, 5)).astype("float32")
    truth = (rng.random((30, 5)) < 0.4).astype("float32")
    truth[0] = 1  # every class has a positive

    def expected(ref, inputs):
        return _identity_model_evaluation(
            ref.compile_multilabel, float(inputs["rate"]), inputs["scores"], inputs["truth"]
        )

    def is_adam(got, expected, reference):
        return None if bool(got["adam"]) else "the optimiser is not keras.optimizers.Adam"

    return [
        Case(
            "compile_multilabel_loss_is_mean_binary_cross_entropy",
            "q2_2",
            1,
            public=True,
            code=COMPILE_CALL,
            inputs={
                "scores": np.array([[0.9, 0.2, 0.6], [0.3, 0.8, 0.5]], "float32"),
                "truth": np.array([[1, 0, 1], [0, 1, 0]], "float32"),
                "rate": np.array(1e-3),
            },
            expected=expected,
            check=all_of(allclose(key="loss", rtol=1e-4), allclose(key="auc_pr", rtol=1e-4)),
        ),
        Case(
            "compile_multilabel_adam_rate_and_per_class_pr_auc",
            "q2_2",
            1,
            code=COMPILE_CALL,
            inputs={"scores": scores, "truth": truth, "rate": np.array(3e-4)},
            expected=expected,
            check=all_of(
                is_adam,
                allclose(key="rate", rtol=1e-6),
                allclose(key="loss", rtol=1e-4),
                allclose(key="auc_pr", rtol=1e-4),
            ),
        ),
    ]


def _neighbour_cases():
    rng = _rng(4)
    call = (
        "sq_dists, indices = nearest_neighbours(codes, [int(q) for q in queries], int(k))\n"
        "result = {'sq_dists': sq_dists, 'indices': indices}"
    )

    def expected(ref, i):
        sq_dists, indices = ref.nearest_neighbours(
            i["codes"], [int(q) for q in i["queries"]], int(i["k"])
        )
        return {"sq_dists": sq_dists, "indices": indices}

    tied_call = call + "\nresult['tied'] = nearest_neighbours(tied, [2], 4)[1]"

    def tied_expected(ref, i):
        return {**expected(ref, i), "tied": ref.nearest_neighbours(i["tied"], [2], 4)[1]}

    # The distances agree to rounding; the indices exactly.
    neighbours_check = all_of(allclose(key="sq_dists", atol=1e-6), allclose(key="indices"))
    tied_check = all_of(neighbours_check, allclose(key="tied"))

    return [
        Case(
            "nearest_neighbours_points_on_a_line",
            "q4_1",
            1,
            public=True,
            tripwires=NEIGHBOUR_WIRES,
            code=call,
            inputs={
                "codes": np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [1.0, 1.0]]),
                "queries": np.array([0, 1]),
                "k": np.array(2),
            },
            expected=expected,
            check=neighbours_check,
        ),
        Case(
            "nearest_neighbours_random_60x9_and_ties",
            "q4_1",
            1,
            tripwires=NEIGHBOUR_WIRES,
            code=tied_call,
            inputs={
                "codes": rng.normal(size=(60, 9)),
                "queries": np.array([0, 5, 59, 17]),
                "k": np.array(6),
                "tied": np.ones((5, 3)),
            },
            expected=tied_expected,
            check=tied_check,
        ),
    ]


def _colour_cases():
    rng = _rng(5)
    call = "result = mean_class_colours(labels, palette)"

    def expected(ref, i):
        return ref.mean_class_colours(i["labels"], i["palette"])

    return [
        Case(
            "mean_class_colours_red_green_blue",
            "q5_1",
            1,
            public=True,
            code=call,
            inputs={"labels": np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]]), "palette": np.eye(3)},
            expected=expected,
            check=allclose(atol=1e-12),
        ),
        Case(
            "mean_class_colours_random_40x20",
            "q5_1",
            1,
            code=call,
            inputs={
                "labels": (rng.random((40, 20)) < 0.15).astype(np.uint8),
                "palette": rng.random((20, 3)),
            },
            expected=expected,
            check=allclose(atol=1e-12),
        ),
    ]


def _ap_cases():
    rng = _rng(6)
    call = "result = voc_average_precision(y_true, scores, difficult)"

    def expected(ref, i):
        return ref.voc_average_precision(i["y_true"], i["scores"], i["difficult"])

    truth = (rng.random((200, 6)) < 0.2).astype(int)
    difficult = (rng.random((200, 6)) < 0.1) & (truth == 0)
    truth[:, 5] = 0  # a class with no positive: NaN
    tied_truth = (rng.random((80, 4)) < 0.3).astype(int)
    tied_difficult = (rng.random((80, 4)) < 0.15) & (tied_truth == 0)
    tied_difficult[:, 3] = tied_truth[:, 3] == 0  # every negative of class 3 difficult
    return [
        Case(
            "voc_ap_worked_example",
            "q6_1",
            1,
            public=True,
            tripwires=AP_WIRES,
            code=call,
            inputs={
                "y_true": np.array([[1, 1], [0, 0], [1, 0], [0, 1]]),
                "scores": np.array([[0.9, 0.9], [0.8, 0.8], [0.7, 0.7], [0.1, 0.6]]),
                "difficult": np.array([[0, 0], [0, 1], [0, 0], [0, 0]], dtype=bool),
            },
            expected=expected,
            check=allclose(atol=1e-12),
        ),
        Case(
            "voc_ap_random_200x6_with_difficult",
            "q6_1",
            1,
            tripwires=AP_WIRES,
            code=call,
            inputs={"y_true": truth, "scores": rng.random((200, 6)), "difficult": difficult},
            expected=expected,
            check=allclose(atol=1e-10, equal_nan=True),
        ),
        Case(
            "voc_ap_tied_scores_stable_order",
            "q6_1",
            1,
            tripwires=AP_WIRES,
            code=call,
            inputs={
                "y_true": tied_truth,
                "scores": rng.integers(0, 4, (80, 4)) / 4.0,
                "difficult": tied_difficult,
            },
            expected=expected,
            check=allclose(atol=1e-10, equal_nan=True),
        ),
    ]


def cases():
    """Every case of notebook 02."""
    return [
        *_caffenet_cases(),
        *_compile_cases(),
        *_neighbour_cases(),
        *_colour_cases(),
        *_ap_cases(),
    ]
