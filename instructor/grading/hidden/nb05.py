"""Named cases of notebook 05 (car or other), scored outside the kernel.

Points per question equal the master's ``# BEGIN QUESTION`` points (a test checks it). Each
case's ``code`` runs in the student's kernel and, for the expected values, here with the master's
solution functions (``REFERENCE``) in their place (see ``nb01.same_code``). Question 3.1 sets
two layers, not a function: its expected settings are the ones its prompt gives.
"""

import numpy as np

from instructor.grading.hidden.nb01 import close, same_code
from instructor.grading.verdicts import Case

NOTEBOOK = "05_car_vs_other_features"
REFERENCE = [
    "car_dataset",
    "baseline_cnn",
    "train_cnn",
    "dense_head",
    "kernel_parts",
    "kernel_mosaic",
]
PRELUDE = (
    "import numpy as np\nimport tensorflow as tf\nimport keras\n"
    "BATCH_SIZE = 32\nSEED = 42\nCNN_EPOCHS = 4\ntrain_ds = val_ds = None\n"
)

PIPELINE_WIRES = ("helpers.data.pipeline.make_dataset",)


def _rng(seed):
    return np.random.default_rng(20_500 + seed)


DATASET_CALL = (
    "ds = car_dataset(images, labels, batch_size=int(batch_size))\n"
    "batches = [(x.numpy(), y.numpy()) for x, y in ds]\n"
    "result = {'sizes': [len(y) for _, y in batches],\n"
    "          'images': np.concatenate([x for x, _ in batches]),\n"
    "          'labels': np.concatenate([y for _, y in batches]),\n"
    "          'float32': float(all(x.dtype == np.float32 for x, _ in batches)),\n"
    "          'prefetch': float('Prefetch' in type(ds).__name__)}"
)

SHUFFLE_CALL = (
    "ids_images = np.repeat(ids.astype(np.uint8), 3).reshape(len(ids), 1, 1, 3)\n"
    "ds = car_dataset(ids_images, ids, 16, shuffle=True, seed=7)\n"
    "epochs = []\n"
    "for _ in range(2):\n"
    "    pairs = [(x.numpy()[:, 0, 0, 0], y.numpy()) for x, y in ds]\n"
    "    epochs.append((np.concatenate([np.rint(x * 255) for x, _ in pairs]),\n"
    "                   np.concatenate([y for _, y in pairs])))\n"
    "result = {'pixels': np.stack([p for p, _ in epochs]),\n"
    "          'labels': np.stack([y for _, y in epochs])}"
)


def _shuffle_check(got, expected, reference):
    pixels, labels = got["pixels"], got["labels"]
    if labels.shape != (2, 64) or pixels.shape != (2, 64):
        return f"expected 2 epochs of 64 labels, got shape {labels.shape}"
    if not np.array_equal(pixels, labels):
        return "shuffled images no longer match their labels"
    if any(not np.array_equal(np.sort(epoch), np.arange(64)) for epoch in labels):
        return "an epoch does not hold every image exactly once"
    if np.array_equal(labels[0], np.arange(64)) or np.array_equal(labels[0], labels[1]):
        return "shuffle=True must give a new order at every epoch"
    return None


SHAPE_CALL = (
    "net = baseline_cnn()\n"
    "out = np.asarray(net(np.zeros((2, 64, 64, 3), np.float32)))\n"
    "result = {'shape': list(out.shape), 'in_0_1': float(np.all((out >= 0) & (out <= 1))),\n"
    "          'parameters': net.count_params()}"
)

SAME_WEIGHTS_CALL = (
    "net = baseline_cnn()\n"
    "draw = np.random.default_rng(int(seed))\n"
    "net.set_weights([0.1 * draw.standard_normal(w.shape).astype('float32')\n"
    "                 for w in net.get_weights()])\n"
    "result = {'outputs': np.asarray(net(probe, training=False)),\n"
    "          'l2_penalty': float(sum(float(loss) for loss in net.losses))}"
)

AUGMENTED_CALL = (
    "flip = keras.layers.RandomFlip('horizontal')\n"
    "plain, augmented = baseline_cnn(), baseline_cnn(flip)\n"
    "augmented.set_weights(plain.get_weights())\n"
    "result = {'augmentation_first': float(augmented.layers[0] is flip),\n"
    "          'parameters': augmented.count_params(),\n"
    "          'same_at_inference': float(np.allclose(augmented(probe, training=False),\n"
    "                                                 plain(probe, training=False), atol=1e-6))}"
)

TRAIN_CALL = (
    "net = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D(),\n"
    "                        keras.layers.Dense(1, activation='sigmoid')])\n"
    "net.set_weights([kernel, bias])\n"
    "scope = train_cnn.__globals__\n"
    "saved = scope.get('train_ds'), scope.get('val_ds')\n"
    "scope['train_ds'] = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)\n"
    "scope['val_ds'] = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(8)\n"
    "try:\n"
    "    history = train_cnn(net, epochs=int(epochs))\n"
    "finally:\n"
    "    scope['train_ds'], scope['val_ds'] = saved\n"
    "logs = history.history\n"
    "kernel_after, bias_after = net.get_weights()\n"
    "result = {key: logs[key] for key in ('loss', 'accuracy', 'val_loss', 'val_accuracy')}\n"
    "result.update({'is_history': float(isinstance(history, keras.callbacks.History)),\n"
    "               'adam': float(isinstance(net.optimizer, keras.optimizers.Adam)),\n"
    "               'kernel': kernel_after, 'bias': bias_after})"
)

AUGMENTATION_PUBLIC_CALL = (
    "batch = probe\n"
    "result = {'sequential_of_2': float(isinstance(augmentation, keras.Sequential)\n"
    "                                   and len(augmentation.layers) == 2),\n"
    "          'unchanged_at_inference': np.asarray(augmentation(batch, training=False)) - batch,\n"
    "          'flip_is_random_flip': float(type(flip).__name__ == 'RandomFlip'),\n"
    "          'rotate_is_random_rotation': float(type(rotate).__name__ == 'RandomRotation')}"
)

AUGMENTATION_SETTINGS_CALL = (
    "config = rotate.get_config()\n"
    "copies = np.repeat(image[None], 40, axis=0)\n"
    "flipped = np.asarray(flip(copies, training=True))\n"
    "as_is = np.all(np.isclose(flipped, copies, atol=1e-6), axis=(1, 2, 3))\n"
    "mirrored = np.all(np.isclose(flipped, copies[:, :, ::-1], atol=1e-6), axis=(1, 2, 3))\n"
    "result = {'horizontal': float(flip.get_config()['mode'] == 'horizontal'),\n"
    "          'flips_only_left_right': float(np.all(as_is | mirrored) and as_is.any()\n"
    "                                         and mirrored.any()),\n"
    "          'largest_angle': float(np.max(np.abs(np.ravel(config['factor'])))),\n"
    "          'reflect': float(config['fill_mode'] == 'reflect')}"
)


def _augmentation_public_check(got, expected, reference):
    if not float(got["sequential_of_2"]):
        return "augmentation is not a keras.Sequential of 2 layers"
    if np.max(np.abs(got["unchanged_at_inference"])) > 1e-6:
        return "augmentation changes the images at prediction time (training=False)"
    if not float(got["flip_is_random_flip"]) or not float(got["rotate_is_random_rotation"]):
        return "flip must be a keras.layers.RandomFlip and rotate a keras.layers.RandomRotation"
    return None


def _augmentation_settings_check(got, expected, reference):
    if not float(got["horizontal"]) or not float(got["flips_only_left_right"]):
        return "flip must mirror left-right only ('horizontal'), sometimes and not always"
    if not np.isclose(float(got["largest_angle"]), 20 / 360):
        return f"rotate: up to {float(got['largest_angle']) * 360:.1f} degrees, expected 20"
    if not float(got["reflect"]):
        return "rotate must fill the corners by reflection (fill_mode='reflect')"
    return None


HEAD_SHAPE_CALL = (
    "out = np.asarray(dense_head(12)(np.ones((10, 12), np.float32)))\n"
    "result = {'shape': list(out.shape), 'in_0_1': float(np.all((out >= 0) & (out <= 1)))}"
)

HEAD_WEIGHTS_CALL = (
    "head = dense_head(2048)\n"
    "draw = np.random.default_rng(int(seed))\n"
    "head.set_weights([0.05 * draw.standard_normal(w.shape).astype('float32')\n"
    "                  for w in head.get_weights()])\n"
    "result = {'parameters': head.count_params(),\n"
    "          'outputs': np.asarray(head(codes, training=False)),\n"
    "          'dropout_rates': [l.rate for l in head.layers\n"
    "                            if isinstance(l, keras.layers.Dropout)]}"
)

KERNELS_CALL = (
    "positive, negative = kernel_parts(kernels)\n"
    "result = {'positive': positive, 'negative': negative,\n"
    "          'mosaic': kernel_mosaic(positive, ncols=int(ncols), pad=int(pad)),\n"
    "          'default_mosaic': kernel_mosaic(negative)}"
)


def cases():
    """Every case of notebook 05."""
    rng = _rng(1)
    small = (np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3) * 4).astype(np.uint8)
    probe = rng.uniform(size=(3, 64, 64, 3)).astype("float32")
    one_by_one = np.zeros((1, 1, 3, 2))
    one_by_one[0, 0, :, 0] = [2.0, -1.0, 0.0]
    one_by_one[0, 0, :, 1] = [0.0, 0.0, -4.0]
    return [
        Case(
            "car_dataset_five_images_in_batches_of_2",
            "q1_1",
            1,
            public=True,
            tripwires=PIPELINE_WIRES,
            code=DATASET_CALL,
            inputs={
                "images": small,
                "labels": np.array([0, 1, 0, 1, 1]),
                "batch_size": np.array(2),
            },
            expected=same_code(DATASET_CALL),
            check=close(atol=1e-7),
        ),
        Case(
            "car_dataset_random_70_in_batches_of_16",
            "q1_1",
            1,
            tripwires=PIPELINE_WIRES,
            code=DATASET_CALL,
            inputs={
                "images": rng.integers(0, 256, size=(70, 8, 8, 3), dtype=np.uint8),
                "labels": rng.integers(0, 2, size=70),
                "batch_size": np.array(16),
            },
            expected=same_code(DATASET_CALL),
            check=close(atol=1e-7),
        ),
        Case(
            "car_dataset_reshuffles_every_epoch",
            "q1_1",
            1,
            tripwires=PIPELINE_WIRES,
            code=SHUFFLE_CALL,
            inputs={"ids": np.arange(64)},
            check=_shuffle_check,
        ),
        Case(
            "baseline_cnn_probabilities_and_parameters",
            "q2_1",
            1,
            public=True,
            code=SHAPE_CALL,
            expected=same_code(SHAPE_CALL),
            check=close(rtol=0, atol=0),
        ),
        Case(
            "baseline_cnn_same_weights_same_outputs_and_l2_penalty",
            "q2_1",
            1,
            code=SAME_WEIGHTS_CALL,
            inputs={"probe": probe, "seed": np.array(5)},
            expected=same_code(SAME_WEIGHTS_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
        Case(
            "baseline_cnn_augmentation_first_no_extra_weights",
            "q2_1",
            1,
            code=AUGMENTED_CALL,
            inputs={"probe": probe},
            expected=same_code(AUGMENTED_CALL),
            check=close(rtol=0, atol=0),
        ),
        Case(
            "train_cnn_one_epoch_history",
            "q2_2",
            1,
            public=True,
            code=TRAIN_CALL,
            inputs={**_train_inputs(rng), "epochs": np.array(1)},
            expected=same_code(TRAIN_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
        Case(
            "train_cnn_three_epochs_as_the_reference",
            "q2_2",
            1,
            code=TRAIN_CALL,
            inputs={**_train_inputs(rng), "epochs": np.array(3)},
            expected=same_code(TRAIN_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
        Case(
            "augmentation_two_layers_inactive_at_inference",
            "q3_1",
            1,
            public=True,
            code=AUGMENTATION_PUBLIC_CALL,
            inputs={"probe": probe},
            check=_augmentation_public_check,
        ),
        Case(
            "augmentation_horizontal_flip_20_degrees_reflect",
            "q3_1",
            1,
            code=AUGMENTATION_SETTINGS_CALL,
            inputs={"image": rng.uniform(size=(8, 8, 3)).astype("float32")},
            check=_augmentation_settings_check,
        ),
        Case(
            "dense_head_ten_probabilities",
            "q5_1",
            1,
            public=True,
            code=HEAD_SHAPE_CALL,
            expected=same_code(HEAD_SHAPE_CALL),
            check=close(rtol=0, atol=0),
        ),
        Case(
            "dense_head_same_weights_same_outputs",
            "q5_1",
            1,
            code=HEAD_WEIGHTS_CALL,
            inputs={"codes": rng.uniform(size=(6, 2048)).astype("float32"), "seed": np.array(9)},
            expected=same_code(HEAD_WEIGHTS_CALL),
            check=close(rtol=1e-4, atol=1e-6),
        ),
        Case(
            "kernel_parts_and_mosaic_two_1x1_kernels",
            "q6_1",
            1,
            public=True,
            code=KERNELS_CALL,
            inputs={"kernels": one_by_one, "ncols": np.array(2), "pad": np.array(1)},
            expected=same_code(KERNELS_CALL),
            check=close(atol=1e-9),
        ),
        Case(
            "kernel_parts_and_mosaic_ten_3x3_kernels_4_per_row_pad_2",
            "q6_1",
            1,
            code=KERNELS_CALL,
            inputs={
                "kernels": rng.normal(size=(3, 3, 3, 10)),
                "ncols": np.array(4),
                "pad": np.array(2),
            },
            expected=same_code(KERNELS_CALL),
            check=close(atol=1e-9),
        ),
    ]


def _train_inputs(rng):
    return {
        "kernel": (0.5 * rng.normal(size=(3, 1))).astype("float32"),
        "bias": np.zeros(1, dtype="float32"),
        "x": rng.uniform(size=(24, 4, 4, 3)).astype("float32"),
        "y": rng.integers(0, 2, size=24).astype("float32"),
        "x_val": rng.uniform(size=(16, 4, 4, 3)).astype("float32"),
        "y_val": rng.integers(0, 2, size=16).astype("float32"),
    }
