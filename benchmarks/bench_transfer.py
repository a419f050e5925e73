"""Notebook 04's n-sweep two ways, in one run: through the frozen VGG16, or on cached codes.

Both train the same new softmax on VGG16's ``fc2`` for every n of the sweep, with the same seed,
epochs, batches and optimiser (``instructor.solutions.nb04.train_head``, the answer key of
the notebook's Question 4.1):
  * end-to-end: ``fit`` the end-to-end model (``instructor.solutions.nb04.transfer_model``) on the
    preprocessed pictures, so VGG16 runs forward on every training and validation picture in
    every epoch of every n;
  * cached codes: one ``helpers.models.features.extract_codes`` pass over the validation, test and
    largest training pictures, then the softmax (``code_head``) fitted on the codes for each n.
Both sweeps must predict the same test classes (exit 1 and DISAGREE otherwise). Prints seconds per
phase and the ratio for the whole sweep, extraction included. The pictures are random and VGG16
has random (seeded) weights: the time does not depend on what the weights are, and nothing is
downloaded. The image count is reduced (a few classes); the ratio hardly depends on it, since
both ways scale with the number of classes.

Usage: python benchmarks/bench_transfer.py [--quick] [--n-values 2 4 8 16 32]
(the default sweep runs VGG16 forward about 2,900 times the end-to-end: about 15 CPU-minutes on a
2-core CPU; ``--n-values 1 2 3 4 5`` keeps 5 values of n at about a quarter of that)
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # instructor.solutions

import keras  # noqa: E402
import numpy as np  # noqa: E402

from helpers.data.splits import per_class_split  # noqa: E402
from helpers.models import features  # noqa: E402
from instructor.solutions import nb04  # noqa: E402

SEED = 4


def preprocess(batch):
    return keras.applications.vgg16.preprocess_input(np.asarray(batch, np.float32))


def end_to_end_way(vgg, images, labels, splits, n_classes, epochs):
    accuracies, predictions = {}, {}
    for n, (val, test, train) in splits.items():
        keras.utils.set_random_seed(SEED)
        model = nb04.transfer_model(vgg, n_classes)
        nb04.train_head(
            model,
            (preprocess(images[train]), labels[train]),
            (preprocess(images[val]), labels[val]),
            epochs=epochs,
            patience=None,
        )
        predictions[n] = np.asarray(model(preprocess(images[test]), training=False))
        accuracies[n] = float(np.mean(predictions[n].argmax(1) == labels[test]))
        print(f"  end-to-end, n = {n} done", flush=True)
    return accuracies, predictions


def cached_codes_way(vgg, images, labels, splits, n_classes, epochs):
    largest = splits[max(splits)]
    used = np.concatenate(largest)  # validation, test, largest training set
    row_of = np.full(len(labels), -1)
    row_of[used] = np.arange(len(used))
    codes = features.extract_codes(
        vgg, images[used], "fc2", batch_size=32, preprocess=preprocess, verbose=False
    )["fc2"]
    accuracies, predictions = {}, {}
    for n, (val, test, train) in splits.items():
        keras.utils.set_random_seed(SEED)
        head = nb04.code_head(n_classes)
        nb04.train_head(
            head,
            (codes[row_of[train]], labels[train]),
            (codes[row_of[val]], labels[val]),
            epochs=epochs,
            patience=None,
        )
        predictions[n] = np.asarray(head(codes[row_of[test]], training=False))
        accuracies[n] = float(np.mean(predictions[n].argmax(1) == labels[test]))
    return accuracies, predictions


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke check")
    parser.add_argument(
        "--n-values",
        type=int,
        nargs="+",
        default=None,
        help="training pictures per class of the sweep (default 2 4 8 16 32)",
    )
    args = parser.parse_args()
    n_values, n_val, n_test, epochs = (
        ((1, 2), 1, 1, 2) if args.quick else ((2, 4, 8, 16, 32), 2, 2, 20)
    )
    n_values = tuple(args.n_values) if args.n_values else n_values
    n_classes = 2
    per_class = max(n_values) + n_val + n_test
    labels = np.repeat(np.arange(n_classes), per_class)
    images = np.random.default_rng(SEED).integers(0, 256, (len(labels), 224, 224, 3), np.uint8)
    splits = {n: per_class_split(labels, [n_val, n_test, n], SEED) for n in n_values}
    keras.utils.set_random_seed(SEED)
    vgg = keras.applications.VGG16(weights=None, include_top=True)
    forwards_seed = sum(epochs * n_classes * (n + n_val) + n_classes * n_test for n in n_values)
    forwards_ours = n_classes * per_class
    print(
        f"{n_classes} classes, n in {n_values}, {n_val} validation + {n_test} test per class, "
        f"{epochs} epochs per n; VGG16 forward passes: end-to-end {forwards_seed:,}, cached "
        f"codes {forwards_ours:,} ({forwards_seed / forwards_ours:.0f}x fewer)"
    )

    seed_time, (seed_accuracy, seed_predictions) = timed(
        end_to_end_way, vgg, images, labels, splits, n_classes, epochs
    )
    ours_time, (ours_accuracy, ours_predictions) = timed(
        cached_codes_way, vgg, images, labels, splits, n_classes, epochs
    )

    agree = all(
        np.array_equal(seed_predictions[n].argmax(1), ours_predictions[n].argmax(1))
        and np.allclose(seed_predictions[n], ours_predictions[n], atol=1e-3)
        for n in n_values
    )
    for n in n_values:
        print(
            f"n = {n:2d}: test accuracy end-to-end {seed_accuracy[n]:.3f}, cached codes "
            f"{ours_accuracy[n]:.3f}; largest probability difference "
            f"{np.abs(seed_predictions[n] - ours_predictions[n]).max():.1e}"
        )
    print(f"whole sweep: end-to-end {seed_time:8.1f} s")
    print(f"whole sweep: cached codes {ours_time:8.1f} s (extraction included)")
    print(f"ratio end-to-end / cached codes: {seed_time / ours_time:.1f}x (goal >= 20x)")
    print(
        "predictions of the two ways agree (same classes, probabilities to 1e-3)"
        if agree
        else "DISAGREE: the two ways predict different test probabilities"
    )
    raise SystemExit(0 if agree else 1)


if __name__ == "__main__":
    main()
