"""Named cases of notebook 03 (FashionMNIST metric learning), scored outside the kernel.

Points per question equal the master's ``# BEGIN QUESTION`` points (a test checks it). The
``public`` cases mirror the public tests the student sees (they carried points in otter too);
the others are hidden: inputs chosen here, expected values from the master's solutions.
"""

import numpy as np

from instructor.grading.verdicts import Case, all_of, allclose, each_key

NOTEBOOK = "03_fashion_mnist_metric_learning"
REFERENCE = ["distances", "average_precision", "evaluate_mAP", "triplet_loss", "smooth_AP_loss"]
PRELUDE = "import numpy as np\nimport tensorflow as tf\nNUM_ANCHORS = 10\n"

# The course's own retrieval routines: questions 3.1-3.3 ask for them from scratch, so their
# hidden cases run with these replaced by trip-wires (an answer that delegates earns nothing).
DISTANCE_WIRES = ("helpers.retrieval.sq_distances", "helpers.retrieval.knn")
AP_WIRES = ("helpers.retrieval.average_precision",)
MAP_WIRES = (
    *DISTANCE_WIRES,
    *AP_WIRES,
    "helpers.retrieval.mean_average_precision",
    "helpers.retrieval.precision_recall_at_k",
)

CORNERS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype="float32")


def _rng(seed):
    return np.random.default_rng(20_300 + seed)


def _distances_cases():
    rng = _rng(1)
    q, x = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
    x[4] = q[2]  # a duplicate: its distance must come out >= 0 (clamped), not -1e-16

    def non_negative(got, expected, reference):
        return None if np.min(got["value"]) >= 0 else "a distance is negative (clamp at 0)"

    return [
        Case(
            "distances_unit_vectors",
            "q3_1",
            1,
            tripwires=DISTANCE_WIRES,
            public=True,
            code="result = distances(q, x)",
            inputs={"q": np.array([[1.0, 0.0]]), "x": np.array(CORNERS, dtype=np.float64)},
            expected=lambda ref, i: ref.distances(i["q"], i["x"]),
            check=allclose(atol=1e-6),
        ),
        Case(
            "distances_random_7x11_with_duplicate",
            "q3_1",
            1,
            tripwires=DISTANCE_WIRES,
            code="result = distances(q, x)",
            inputs={"q": q, "x": x},
            expected=lambda ref, i: ref.distances(i["q"], i["x"]),
            check=all_of(allclose(atol=1e-6), non_negative),
        ),
    ]


def _ap_cases():
    rng = _rng(2)
    lengths = rng.integers(1, 40, size=50)
    ranked = np.full((50, 40), -1)
    for row, length in enumerate(lengths):
        ranked[row, :length] = rng.integers(0, 4, size=length)
    labels = rng.integers(0, 4, size=50)
    call = (
        "result = [float(average_precision(ranked[i, :lengths[i]], int(labels[i])))"
        " for i in range(len(lengths))]"
    )

    def expected(ref, i):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return [
                ref.average_precision(i["ranked"][k, : i["lengths"][k]], int(i["labels"][k]))
                for k in range(len(i["lengths"]))
            ]

    return [
        Case(
            "average_precision_worked_examples",
            "q3_2",
            1,
            tripwires=AP_WIRES,
            public=True,
            code=call,
            inputs={
                "ranked": np.array([[1, 0, 1, 0], [2, 2, 2, -1], [0, 1, 1, -1]]),
                "lengths": np.array([4, 3, 3]),
                "labels": np.array([1, 2, 2]),
            },
            expected=expected,
            check=allclose(rtol=1e-9, atol=1e-12, equal_nan=True),
        ),
        Case(
            "average_precision_random_lists_50",
            "q3_2",
            1,
            tripwires=AP_WIRES,
            code=call,
            inputs={"ranked": ranked, "lengths": lengths, "labels": labels},
            expected=expected,
            check=allclose(rtol=1e-7, atol=1e-9, equal_nan=True),
        ),
    ]


def _map_cases():
    rng = _rng(3)
    call = (
        "mean_ap, aps = evaluate_mAP(codes, labels, [int(q) for q in queries])\n"
        "result = {'mean_ap': float(mean_ap), 'aps': aps}"
    )

    def expected(ref, i):
        mean_ap, aps = ref.evaluate_mAP(i["codes"], i["labels"], [int(q) for q in i["queries"]])
        return {"mean_ap": mean_ap, "aps": aps}

    return [
        Case(
            "evaluate_mAP_points_on_a_line",
            "q3_3",
            1,
            tripwires=MAP_WIRES,
            public=True,
            code=call,
            inputs={
                "codes": np.array([[0.0], [1.0], [3.0], [6.0]]),
                "labels": np.array([0, 0, 1, 1]),
                "queries": np.array([0, 2]),
            },
            expected=expected,
            check=each_key(atol=1e-9),
        ),
        Case(
            "evaluate_mAP_random_120x8_5_queries",
            "q3_3",
            1,
            tripwires=MAP_WIRES,
            code=call,
            inputs={
                "codes": rng.normal(size=(120, 8)),
                "labels": rng.integers(0, 5, size=120),
                "queries": np.array([0, 7, 33, 119, 60]),
            },
            expected=expected,
            check=each_key(atol=1e-6),
        ),
    ]


def _loss_cases(function, question, parameter, settings, worked_value, seed):
    """Cases of one loss: the public hand-worked batch, random batches, the gradient."""
    rng = _rng(seed)
    batches = {}
    for k, (value, n, classes) in enumerate(settings):
        batches[f"features{k}"] = rng.normal(size=(n, 16)).astype("float32")
        batches[f"labels{k}"] = rng.integers(0, classes, size=n).astype("int32")
    values = [value for value, _, _ in settings]
    batch_call = (
        "result = ["
        + ", ".join(
            f"float({function}(features{k}, labels{k}, {parameter}={v!r}, num_anchors=10))"
            for k, v in enumerate(values)
        )
        + "]"
    )

    def batch_expected(ref, i):
        f = getattr(ref, function)
        return [
            float(f(i[f"features{k}"], i[f"labels{k}"], num_anchors=10, **{parameter: v}))
            for k, v in enumerate(values)
        ]

    gradient_value = settings[1][0]
    gradient_call = (
        "import tensorflow as tf\n"
        "features = tf.constant(features)\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(features)\n"
        f"    loss = {function}(features, tf.constant(labels), {parameter}={gradient_value!r}, "
        "num_anchors=10)\n"
        "result = tape.gradient(loss, features)"
    )

    def gradient_expected(ref, i):
        import tensorflow as tf

        features = tf.constant(i["features"])
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = getattr(ref, function)(
                features, tf.constant(i["labels"]), num_anchors=10, **{parameter: gradient_value}
            )
        return tape.gradient(loss, features).numpy()

    def is_tensor_scalar(got, expected, reference):
        return None if got["rank"] == 0 and got["tensor"] else "not a scalar tf tensor"

    worked_call = (
        "import tensorflow as tf\n"
        f"value = {function}(corners, labels, {parameter}={worked_value!r})\n"
        "result = {'value': float(value), 'tensor': tf.is_tensor(value), "
        "'rank': len(getattr(value, 'shape', [0]))}"
    )
    return [
        Case(
            f"{function}_hand_worked_corners",
            question,
            1,
            public=True,
            code=worked_call,
            inputs={"corners": CORNERS, "labels": np.array([0, 0, 1])},
            expected=lambda ref, i: float(
                getattr(ref, function)(i["corners"], i["labels"], **{parameter: worked_value})
            ),
            check=all_of(is_tensor_scalar, allclose(atol=1e-5)),
        ),
        Case(
            f"{function}_random_batches",
            question,
            1,
            code=batch_call,
            inputs=batches,
            expected=batch_expected,
            check=allclose(rtol=1e-4, atol=1e-5),
        ),
        Case(
            f"{function}_gradient",
            question,
            1,
            code=gradient_call,
            inputs={
                "features": rng.normal(size=(30, 8)).astype("float32"),
                "labels": rng.integers(0, 3, size=30).astype("int32"),
            },
            expected=gradient_expected,
            check=allclose(rtol=1e-3, atol=1e-5),
        ),
    ]


# A worked batch per training question on which the bound loss depends on its margin / tau:
# the corners of 4.1 cost margin / 2; on the circle (0, 90 and 89 degrees) the negative is a few
# hundredths closer to anchor 0 than its positive, a few tau at tau ~ 0.01.
CIRCLE = np.stack(
    [np.cos(np.radians([0.0, 90.0, 89.0])), np.sin(np.radians([0.0, 90.0, 89.0]))], axis=1
).astype("float32")


def _training_cases(training, loss_range):
    """Cases of a training question: settings, history and the bound loss (public); the bound
    loss on a grader's batch at the declared margin / tau (hidden); a trained net that ranks
    better (hidden).

    ``training``: question, settings (dict name), rate (its key), history, net, bound (the bound
    loss's name), function (the student's loss), worked (a worked batch), other (an expression
    of ``declared``: a margin / tau that gives a different loss).

    The run itself cannot be replayed here, so these check its results: the history's shape and
    values, and that the trained network's codes (computed in the kernel) give a higher mAP,
    computed here with the reference solution, than an untrained network's. The bound loss is
    called in the kernel and compared here with the reference loss at the declared value: an
    answer that ignores the margin / tau of its settings (or binds another) fails.
    """
    t = training
    question, settings, rate_name, history = t["question"], t["settings"], t["rate"], t["history"]
    bound, function = t["bound"], t["function"]
    low, high = loss_range
    settings_call = (
        "import numpy as np\n"
        f"result = {{'rate': float({settings}[{rate_name!r}]), "
        f"'learning_rate': float({settings}['learning_rate']), 'epochs': int(EPOCHS_METRIC), "
        f"'epoch': np.asarray({history}['epoch']), "
        f"'loss': np.asarray({history}['loss'], dtype=float), "
        f"'worked': float({bound}(worked_features, worked_labels))}}"
    )

    def reference_loss(reference, features, labels, value):
        loss = getattr(reference, function)(features, labels, **{rate_name: float(value)})
        return float(loss)

    def settings_check(got, expected, reference):
        rate, lr, epochs = float(got["rate"]), float(got["learning_rate"]), int(got["epochs"])
        if not (low <= rate <= high and 0 < lr < 1):
            return f"{settings}: {rate_name} {rate} or learning rate {lr} out of range"
        want = reference_loss(reference, t["worked"][0], t["worked"][1], rate)
        if not np.isclose(float(got["worked"]), want, rtol=1e-3, atol=1e-5):
            return (
                f"{bound} gives {float(got['worked']):.4f} on the worked batch, the loss at "
                f"{settings}[{rate_name!r}] = {rate} is {want:.4f}: bind {rate_name} with "
                "functools.partial"
            )
        if not np.array_equal(got["epoch"], np.arange(1, epochs + 1)):
            return f"{history}['epoch'] is not 1..{epochs}"
        if got["loss"].shape != (epochs,) or not np.all(np.isfinite(got["loss"])):
            return f"{history}['loss'] is not {epochs} finite values"
        return None

    rng = _rng(10 * int(question[1]))  # q4_2: 40, q5_2: 50
    features = rng.normal(size=(60, 16)).astype("float32")
    labels = rng.integers(0, 4, size=60).astype("int32")
    own = (
        f"def own(value):\n"
        f"    try:\n"
        f"        return float({function}(features, labels, {rate_name}=value))\n"
        f"    except Exception:\n"
        f"        return float('nan')\n"
    )
    binding_call = (
        f"declared = float({settings}[{rate_name!r}])\n"
        f"other = {t['other']}\n" + own + f"result = {{'declared': declared, 'other': other, "
        f"'bound': float({bound}(features, labels)), "
        "'own_declared': own(declared), 'own_other': own(other)}"
    )

    def binding_check(got, expected, reference):
        declared, other, value = (float(got[k]) for k in ("declared", "other", "bound"))
        want = reference_loss(reference, features, labels, declared)
        if np.isclose(value, want, rtol=1e-4, atol=1e-5):
            return None
        # A loss of 4.1 / 5.1 that is wrong (graded there) but bound right: no second penalty.
        own_declared, own_other = float(got["own_declared"]), float(got["own_other"])
        if np.isclose(value, own_declared, rtol=1e-4, atol=1e-5) and not np.isclose(
            own_declared, own_other, rtol=1e-4, atol=1e-5
        ):
            return None
        at_other = reference_loss(reference, features, labels, other)
        return (
            f"{bound} gives {value:.4f} on the grader's batch; the loss at {settings}"
            f"[{rate_name!r}] = {declared:g} gives {want:.4f} (at {rate_name} {other:g}: "
            f"{at_other:.4f}): bind {rate_name}={settings}[{rate_name!r}] with functools.partial"
        )

    ranks_call = (
        "import numpy as np\n"
        f"result = {{'loss': np.asarray({history}['loss'], dtype=float), "
        f"'trained': codes_of({t['net']}, retrieval_images), "
        "'untrained': codes_of(models.fashion_net(), retrieval_images), "
        "'labels': np.asarray(retrieval_labels)}"
    )

    def ranks_check(got, expected, reference):
        loss, labels = got["loss"], got["labels"]
        if loss.ndim != 1 or len(loss) < 2 or not loss[-1] < loss[0]:
            return "the loss did not fall from the first epoch to the last"
        every = list(range(len(labels)))
        trained = reference.evaluate_mAP(got["trained"], labels, every)[0]
        untrained = reference.evaluate_mAP(got["untrained"], labels, every)[0]
        if not trained > untrained:
            return f"mAP of the trained net {trained:.3f} <= untrained {untrained:.3f}"
        return None

    return [
        Case(
            f"{question}_settings_history_and_bound_loss",
            question,
            0.5,
            public=True,
            code=settings_call,
            inputs={"worked_features": t["worked"][0], "worked_labels": t["worked"][1]},
            check=settings_check,
        ),
        Case(
            f"{question}_bound_loss_uses_declared_{rate_name}",
            question,
            0.5,
            code=binding_call,
            inputs={"features": features, "labels": labels},
            check=binding_check,
        ),
        Case(f"{question}_trained_ranks_better", question, 1, code=ranks_call, check=ranks_check),
    ]


TRIPLET_TRAINING = {
    "question": "q4_2",
    "settings": "TRIPLET",
    "rate": "margin",
    "history": "triplet_history",
    "net": "triplet_net",
    "bound": "triplet_loss_fn",
    "function": "triplet_loss",
    "worked": (CORNERS, np.array([0, 0, 1], dtype="int32")),
    "other": "declared + 0.25 if declared <= 0.25 else declared - 0.25",
}
SMOOTH_AP_TRAINING = {
    "question": "q5_2",
    "settings": "SMOOTH_AP",
    "rate": "tau",
    "history": "smooth_ap_history",
    "net": "smooth_ap_net",
    "bound": "smooth_ap_loss_fn",
    "function": "smooth_AP_loss",
    "worked": (CIRCLE, np.array([0, 0, 1], dtype="int32")),
    "other": "4 * declared",
}


def cases():
    """Every case of notebook 03."""
    return [
        *_distances_cases(),
        *_ap_cases(),
        *_map_cases(),
        *_loss_cases(
            "triplet_loss",
            "q4_1",
            "margin",
            [(0.2, 40, 4), (0.0, 25, 3), (0.5, 60, 10)],
            0.2,
            seed=4,
        ),
        *_training_cases(TRIPLET_TRAINING, (0.0, 0.5)),
        *_loss_cases(
            "smooth_AP_loss",
            "q5_1",
            "tau",
            [(0.01, 40, 4), (0.1, 25, 3), (1.0, 60, 10), (0.05, 100, 10)],
            0.01,
            seed=5,
        ),
        *_training_cases(SMOOTH_AP_TRAINING, (1e-9, 10.0)),
    ]
