"""Time notebook 03's vectorised losses (loss + gradient) against a per-anchor loop, in one run.

Ours: ``instructor.solutions.nb03`` (the reference answers, kept out of the student library).

The loop is the straightforward version a student writes first (SPEC 03: "only the loop over
anchors may be a loop"): for each anchor, its distances, masks and (p, n) pairs, in eager
TensorFlow, and the same loop traced by ``tf.function`` (unrolled over the anchors), which
separates the gain of vectorising from the gain of leaving eager mode. Ours is one vectorised
graph under ``tf.function``.

    .venv/bin/python benchmarks/bench_losses.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from instructor.solutions.nb03 import smooth_ap_loss, triplet_loss  # noqa: E402

DIM, NUM_ANCHORS, CLASSES = 256, 10, 10


def loop_triplet_loss(features, labels, margin=0.2, num_anchors=NUM_ANCHORS):
    codes = tf.math.l2_normalize(features, axis=1)
    losses = []
    for a in range(min(num_anchors, codes.shape[0])):
        d = tf.reduce_sum(tf.square(codes - codes[a]), axis=1)
        positive = (labels == labels[a]) & (tf.range(codes.shape[0]) != a)
        negative = labels != labels[a]
        d_pos, d_neg = tf.boolean_mask(d, positive), tf.boolean_mask(d, negative)
        if d_pos.shape[0] == 0 or d_neg.shape[0] == 0:
            continue
        losses.append(tf.reduce_sum(tf.nn.relu(d_pos[:, None] - d_neg[None, :] + margin)))
    return tf.reduce_mean(tf.stack(losses)) if losses else tf.constant(0.0)


def loop_smooth_ap_loss(features, labels, tau=0.01, num_anchors=NUM_ANCHORS):
    codes = tf.math.l2_normalize(features, axis=1)
    losses = []
    for a in range(min(num_anchors, codes.shape[0])):
        d = tf.reduce_sum(tf.square(codes - codes[a]), axis=1)
        positive = (labels == labels[a]) & (tf.range(codes.shape[0]) != a)
        negative = labels != labels[a]
        d_pos, d_neg = tf.boolean_mask(d, positive), tf.boolean_mask(d, negative)
        if d_pos.shape[0] == 0 or d_neg.shape[0] == 0:
            continue
        vs_neg = tf.reduce_sum(tf.sigmoid((d_pos[:, None] - d_neg[None, :]) / tau), axis=1)
        vs_pos = tf.sigmoid((d_pos[:, None] - d_pos[None, :]) / tau)
        vs_pos = tf.reduce_sum(vs_pos, axis=1) - 0.5  # drop x = p, where sigmoid(0) = 0.5
        losses.append(tf.reduce_mean(vs_neg / (1.0 + vs_pos + vs_neg)))
    return tf.reduce_mean(tf.stack(losses)) if losses else tf.constant(0.0)


def loss_and_gradient(loss, features, labels):
    with tf.GradientTape() as tape:
        tape.watch(features)
        value = loss(features, labels)
    return value, tape.gradient(value, features)


def best_seconds(step, repeats):
    step()  # warm-up (and tracing for tf.function)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value, gradient = step()
        gradient.numpy()  # wait for the device
        times.append(time.perf_counter() - start)
    return min(times)  # the least disturbed run: the machine may be shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke check)")
    args = parser.parse_args()
    repeats = 5 if args.quick else 30
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"loss + gradient, {DIM}-d features, {NUM_ANCHORS} anchors, {CLASSES} classes, "
        f"{device}, best of {repeats} runs"
    )
    print(
        f"{'loss':<10} {'batch':>5} {'ours tf.function':>17} {'ours eager':>11} "
        f"{'loop eager':>11} {'loop tf.function':>17} {'loop eager/ours':>16} "
        f"{'loop graph/ours':>16}"
    )
    rng = np.random.default_rng(0)
    for name, ours, loop in (
        ("triplet", triplet_loss, loop_triplet_loss),
        ("smooth-ap", smooth_ap_loss, loop_smooth_ap_loss),
    ):
        graph_step = tf.function(lambda f, y, loss=ours: loss_and_gradient(loss, f, y))
        loop_graph_step = tf.function(lambda f, y, loss=loop: loss_and_gradient(loss, f, y))
        for batch in (100, 256):
            features = tf.constant(rng.normal(size=(batch, DIM)).astype(np.float32))
            labels = tf.constant(rng.integers(0, CLASSES, size=batch))
            ours_value = float(graph_step(features, labels)[0])
            loop_value = float(loss_and_gradient(loop, features, labels)[0])
            assert abs(ours_value - loop_value) < 1e-4 * max(1.0, abs(loop_value)), (
                name,
                ours_value,
                loop_value,
            )
            t_graph = best_seconds(lambda: graph_step(features, labels), repeats)
            t_eager = best_seconds(lambda: loss_and_gradient(ours, features, labels), repeats)
            t_loop = best_seconds(lambda: loss_and_gradient(loop, features, labels), repeats)
            t_loop_graph = best_seconds(lambda: loop_graph_step(features, labels), repeats)
            print(
                f"{name:<10} {batch:>5} {t_graph * 1e3:>14.2f} ms {t_eager * 1e3:>8.2f} ms "
                f"{t_loop * 1e3:>8.2f} ms {t_loop_graph * 1e3:>14.2f} ms "
                f"{t_loop / t_graph:>15.1f}x {t_loop_graph / t_graph:>15.1f}x"
            )


if __name__ == "__main__":
    main()
