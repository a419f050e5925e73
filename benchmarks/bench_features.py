"""Time helpers.models.features.extract_codes against the obvious alternatives, in one run.

Alternatives, all on notebook 01's network and the same uint8 images:
  * per-layer predict: one sub-model per layer, each run with ``model.predict`` (three passes);
  * one predict: one sub-model for all layers, run with ``model.predict``;
  * traced calls: one sub-model wrapped in a ``tf.function`` (batch dimension None), batch by batch;
  * cached: extract_codes reading the .npy files written by a first call.
Prints seconds and the ratio to extract_codes. Usage: python benchmarks/bench_features.py [--quick]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the instructor's package

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.models import features  # noqa: E402
from instructor.solutions import nb01  # noqa: E402

LAYERS = ["pool5", "fc6", "fc7"]


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def per_layer_predict(model, images, batch_size):
    scaled = images.astype(np.float32) / 255
    return {
        name: keras.Model(model.input, model.get_layer(name).output)
        .predict(scaled, batch_size=batch_size, verbose=0)
        .reshape(len(images), -1)
        for name in LAYERS
    }


def one_predict(model, images, batch_size):
    sub_model = keras.Model(model.input, [model.get_layer(name).output for name in LAYERS])
    outputs = sub_model.predict(images.astype(np.float32) / 255, batch_size=batch_size, verbose=0)
    return {name: out.reshape(len(images), -1) for name, out in zip(LAYERS, outputs)}


def traced_calls(model, images, batch_size):
    sub_model = keras.Model(model.input, [model.get_layer(name).output for name in LAYERS])
    forward = tf.function(
        lambda batch: sub_model(batch, training=False),
        autograph=False,
        input_signature=[tf.TensorSpec((None, 64, 64, 3), tf.float32)],
    )
    parts = {name: [] for name in LAYERS}
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32) / 255
        for name, out in zip(LAYERS, forward(batch)):
            parts[name].append(np.asarray(out).reshape(len(batch), -1))
    return {name: np.concatenate(value) for name, value in parts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke check")
    args = parser.parse_args()
    n, batch_size = (96, 32) if args.quick else (1000, 100)
    keras.utils.set_random_seed(0)
    model = nb01.neural_codes_net()
    images = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    # Warm up graph tracing once for every contender, so the timings compare steady states.
    warm = images[:batch_size]
    features.extract_codes(model, warm, LAYERS, batch_size=batch_size, verbose=False)
    for alternative in (per_layer_predict, one_predict, traced_calls):
        alternative(model, warm, batch_size)

    ours_s, ours = timed(
        lambda: features.extract_codes(model, images, LAYERS, batch_size=batch_size, verbose=False)
    )
    rows = [("extract_codes (one sub-model, eager batches)", ours_s)]
    for label, function in (
        ("per-layer sub-models, model.predict", per_layer_predict),
        ("one sub-model, model.predict", one_predict),
        ("one sub-model in a tf.function, batch by batch", traced_calls),
    ):
        seconds, theirs = timed(lambda: function(model, images, batch_size))
        for name in LAYERS:
            np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-3, atol=1e-4)
        rows.append((label, seconds))
    with tempfile.TemporaryDirectory() as cache:
        features.extract_codes(
            model, images, LAYERS, batch_size=batch_size, cache_dir=cache, verbose=False
        )
        cached_s, _ = timed(
            lambda: features.extract_codes(
                model, images, LAYERS, batch_size=batch_size, cache_dir=cache, verbose=False
            )
        )
    rows.append(("extract_codes, cache hit (hash weights + images, load .npy)", cached_s))
    print(
        f"{n} images 64x64x3, batch {batch_size}, layers {LAYERS}, neural_codes_net "
        f"({model.count_params() / 1e6:.1f} M parameters)"
    )
    for label, seconds in rows:
        print(f"  {label:<62s} {seconds:7.2f} s   x{seconds / ours_s:5.2f} of extract_codes")


if __name__ == "__main__":
    main()
