"""Notebook 02's input pipeline: faster than training? what do uint8 batches and decoding once save?

    .venv/bin/python benchmarks/bench_voc_pipeline.py [--quick]

On JPEGs of VOC's typical size (500x375, written with noise so they compress like photos, in a
temporary folder), in one run:

1. The training pipeline at 224x224 (random crop + flip from the 256x256 uint8 cache), three
   ways: ours (``crop_dataset``: the crops copied by numpy straight from the cache, one call per
   batch, uint8 batches; the network scales them in its first layer); the same with the float32
   conversion and scaling done per batch in ``tf.data`` (``preprocess='scale'``); and the
   previous version (``tf.map_fn`` of one ``tf.slice`` per image, then scaling in ``tf.data``).
   Wall-clock images/s and CPU seconds per 1,000 images (the machine may be shared).
2. Ours against one CaffeNet training step at 224x224 (forward, backward, Adam update), fed
   uint8 batches so the float conversion the model needs is inside the step: the ratio says how
   many times faster than the network the input is delivered. On a GPU the step is far faster,
   so the ratio on a GPU machine is the one that matters; run this script there.
3. Decode once, then crop every epoch (``cached_decode`` to 256x256 uint8, then ours), against
   the obvious alternative: a ``tf.data`` pipeline that reads, decodes and resizes every file
   again in every epoch before cropping. The centre crops of both and of numpy slicing of the
   cache are compared pixel by pixel.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

CACHE, CROP = 256, 224


def _write_jpegs(folder: Path, count: int, seed: int = 0) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        # smooth colour fields plus noise: JPEG sizes and decode times like real photos
        base = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        image = np.asarray(Image.fromarray(base).resize((500, 375), Image.BILINEAR), dtype=np.int16)
        image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        path = folder / f"{i:06d}.jpg"
        Image.fromarray(image).save(path, quality=90)
        paths.append(path)
    return paths


def _decode_every_epoch(paths, batch_size: int, seed: int, training: bool):
    """The alternative: read + decode + resize each file in every epoch, then crop (uint8)."""
    import tensorflow as tf

    def read(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        image = tf.image.resize(image, (CACHE, CACHE), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    def crop(image):
        if training:
            image = tf.image.random_crop(image, (CROP, CROP, 3), seed=seed)
            return tf.image.random_flip_left_right(image, seed=seed)
        offset = (CACHE - CROP) // 2
        return image[offset : offset + CROP, offset : offset + CROP]

    dataset = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda p: crop(read(p)), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _previous_pipeline(images, labels, batch_size: int, seed: int):
    """The version before issue 13's rework: gather whole images, tf.map_fn of tf.slice, scale."""
    import tensorflow as tf

    def gather(indices):
        pixels, target = tf.numpy_function(
            lambda i: (images[i], labels[i]), [indices], (tf.uint8, tf.float32)
        )
        return tf.ensure_shape(pixels, (None,) + images.shape[1:]), target

    def crops(pixels, target, seed_pair):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed_pair, tf.int64), 3)
        count = tf.shape(pixels)[0]
        top = tf.random.stateless_uniform([count], seeds[0], 0, CACHE - CROP + 1, tf.int32)
        left = tf.random.stateless_uniform([count], seeds[1], 0, CACHE - CROP + 1, tf.int32)
        flip = tf.random.stateless_uniform([count], seeds[2]) < 0.5

        def one(i):
            window = tf.slice(pixels[i], tf.stack([top[i], left[i], 0]), [CROP, CROP, 3])
            return tf.cond(flip[i], lambda: tf.reverse(window, [1]), lambda: window)

        cropped = tf.map_fn(
            one, tf.range(count), fn_output_signature=tf.TensorSpec([CROP, CROP, 3], tf.uint8)
        )
        return tf.cast(cropped, tf.float32) / 255.0, target

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.range(len(images)).shuffle(len(images), seed=seed).batch(batch_size)
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = tf.data.Dataset.zip(dataset, seeds).map(
        lambda batch, seed_pair: crops(*batch, seed_pair), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _epoch_seconds(dataset) -> tuple[float, float, int]:
    """Wall-clock and process CPU seconds of one pass, and the images seen."""
    start, cpu, count = time.perf_counter(), time.process_time(), 0
    for batch in dataset:
        count += int(batch[0].shape[0]) if isinstance(batch, tuple) else int(batch.shape[0])
    return time.perf_counter() - start, time.process_time() - cpu, count


def _interleaved_rates(datasets: dict, rounds: int) -> dict:
    """Median images/s and CPU s per 1,000 images of each dataset, one epoch of each per round.

    One warm-up epoch each first (tracing, thread pools); then the pipelines take turns, so a
    change in the load of a shared machine hits all of them alike.
    """
    for dataset in datasets.values():
        _epoch_seconds(dataset)
    runs = {name: [] for name in datasets}
    for _ in range(rounds):
        for name, dataset in datasets.items():
            runs[name].append(_epoch_seconds(dataset))
    return {
        name: (
            r[0][2] / np.median([x[0] for x in r]),
            1000 * np.median([x[1] for x in r]) / r[0][2],
        )
        for name, r in runs.items()
    }


def _train_step_rate(batch_size: int, steps: int) -> float:
    import keras

    from instructor.solutions.nb02 import caffenet

    model = caffenet(20, (CROP, CROP, 3))  # its first layer scales the uint8 pixels
    model.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, CROP, CROP, 3), dtype=np.uint8)
    labels = (rng.random((batch_size, 20)) < 0.1).astype(np.float32)
    model.train_on_batch(images, labels)  # trace and build once, not timed
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under ~1 minute")
    args = parser.parse_args()
    count, epochs, batch = (48, 2, 16) if args.quick else (512, 3, 64)
    rounds = 2 if args.quick else 9  # epochs of each pipeline timed in part 1
    steps = 2 if args.quick else 6

    import tensorflow as tf

    from helpers.data.crops import crop_dataset
    from helpers.data.decode import cached_decode

    print(
        f"TensorFlow {tf.__version__}; GPUs: {len(tf.config.list_physical_devices('GPU'))}; "
        f"{os.cpu_count()} CPU cores"
    )
    with tempfile.TemporaryDirectory() as folder:
        paths = _write_jpegs(Path(folder), count)
        print(
            f"{count} JPEGs of 500x375 "
            f"({sum(p.stat().st_size for p in paths) / count / 1e3:.0f} kB each); "
            f"batch {batch}, crops {CROP} from {CACHE}; medians of {rounds} interleaved "
            f"epochs (part 1), {epochs} epochs (part 3)"
        )
        start = time.perf_counter()
        images = cached_decode(paths, folder, CACHE, progress=False)
        decode_once = time.perf_counter() - start
        labels = np.zeros((count, 20), np.float32)

        def ours(preprocess=None):
            return crop_dataset(
                images,
                labels,
                crop_size=CROP,
                training=True,
                batch_size=batch,
                seed=0,
                preprocess=preprocess,
            )

        print("\n1. training pipeline, 224x224 random crop + flip from the cache")
        rates = _interleaved_rates(
            {
                "ours": ours(),
                "scaled": ours("scale"),
                "previous": _previous_pipeline(images, labels, batch, seed=0),
            },
            rounds,
        )
        (ours_rate, ours_cpu), (scaled_rate, scaled_cpu), (old_rate, old_cpu) = rates.values()
        for name, rate, cpu in (
            ("ours: uint8 batches (model scales)", ours_rate, ours_cpu),
            ("ours + float32 scaling in tf.data", scaled_rate, scaled_cpu),
            ("previous: tf.map_fn slices + scaling", old_rate, old_cpu),
        ):
            print(f"  {name:38s} {rate:7.0f} images/s  {cpu:6.2f} CPU s per 1000 images")
        print(
            f"  ours is x{ours_rate / scaled_rate:.2f} the images/s of scaling in tf.data and "
            f"x{ours_rate / old_rate:.2f} the previous version's (CPU per image: "
            f"x{scaled_cpu / ours_cpu:.2f} and x{old_cpu / ours_cpu:.2f} less)"
        )

        print("\n2. input pipeline against a CaffeNet training step (224x224)")
        train_rate = _train_step_rate(batch, steps)
        print(f"  pipeline (ours, uint8 batches)                  {ours_rate:8.0f} images/s")
        print(
            f"  CaffeNet training step, batch {batch:<3d} (uint8 in)    {train_rate:8.1f} images/s"
        )
        print(
            f"  the pipeline delivers x{ours_rate / train_rate:.1f} what the training step consumes"
        )

        print("\n3. decode once + crop every epoch, against decoding every epoch")
        theirs_runs = [
            _epoch_seconds(_decode_every_epoch(paths, batch, seed=0, training=True))[0]
            for _ in range(epochs)
        ]
        ours_epoch, theirs_epoch = count / ours_rate, np.median(theirs_runs)
        ours_total, theirs_total = decode_once + epochs * ours_epoch, sum(theirs_runs)
        print(
            f"  decode once into the cache         {decode_once:7.2f} s "
            f"({count / decode_once:7.0f} images/s)"
        )
        print(
            f"  crop epochs from the cache         {ours_epoch:7.2f} s per epoch "
            f"({ours_rate:7.0f} images/s)"
        )
        print(
            f"  decode + resize + crop every epoch {theirs_epoch:7.2f} s per epoch "
            f"({count / theirs_epoch:7.0f} images/s)"
        )
        print(
            f"  per epoch: cached is x{theirs_epoch / ours_epoch:.1f} faster; {epochs} epochs in "
            f"total (decode included): {ours_total:.2f} s vs {theirs_total:.2f} s, "
            f"x{theirs_total / ours_total:.2f}"
        )

        ours_centre = np.concatenate(
            [
                b.numpy()
                for b in crop_dataset(images, crop_size=CROP, training=False, batch_size=batch)
            ]
        )
        theirs_centre = np.concatenate(
            [b.numpy() for b in _decode_every_epoch(paths, batch, seed=0, training=False)]
        )
        offset = (CACHE - CROP) // 2
        numpy_centre = images[:, offset : offset + CROP, offset : offset + CROP]
        agree = (
            ours_centre.dtype == np.uint8
            and np.array_equal(ours_centre, theirs_centre)
            and np.array_equal(ours_centre, numpy_centre)
        )
        print(
            f"  centre crops {'agree' if agree else 'DISAGREE'} pixel for pixel (cached pipeline, "
            "per-epoch decoding and numpy slicing; largest difference "
            f"{np.abs(ours_centre.astype(int) - theirs_centre).max()})"
        )
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
