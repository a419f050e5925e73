"""Notebook 02's input pipeline: is it faster than training, and what does decoding once save?

    .venv/bin/python benchmarks/bench_voc_pipeline.py [--quick]

On JPEGs of VOC's typical size (500x375, written with noise so they compress like photos, in a
temporary folder), in one run:

1. Decode once, then crop every epoch (``cached_decode`` to 256x256 uint8, then
   ``helpers.data.crops.crop_dataset``), against the obvious alternative: a ``tf.data``
   pipeline that reads, decodes and resizes every file again in every epoch before cropping.
   Both produce the same batches (224x224 random crop + flip, scaled to [0, 1]); the centre
   crops of both are compared pixel by pixel.
2. The decode-once pipeline's images/s against one CaffeNet training step's images/s at
   224x224 (forward, backward, Adam update) on this machine: the ratio says how many times
   faster than the network the input is delivered. On a GPU the step is far faster, so the
   ratio on a GPU machine is the one that matters; run this script there.
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
    """The alternative: read + decode + resize each file in every epoch, then crop."""
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
        return image[offset:offset + CROP, offset:offset + CROP]

    dataset = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda p: crop(read(p)), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size).map(lambda b: tf.cast(b, tf.float32) / 255.0)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _epoch_seconds(dataset) -> tuple[float, int]:
    start, count = time.perf_counter(), 0
    for batch in dataset:
        count += int(batch[0].shape[0]) if isinstance(batch, tuple) else int(batch.shape[0])
    return time.perf_counter() - start, count


def _train_step_rate(batch_size: int, steps: int) -> float:
    import keras

    from helpers.models import caffenet

    model = caffenet(20, (CROP, CROP, 3))
    model.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, CROP, CROP, 3), dtype=np.float32)
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
    steps = 2 if args.quick else 6

    import tensorflow as tf

    from helpers.data.crops import crop_dataset
    from helpers.data.decode import cached_decode

    print(f"TensorFlow {tf.__version__}; GPUs: {len(tf.config.list_physical_devices('GPU'))}; "
          f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as folder:
        paths = _write_jpegs(Path(folder), count)
        print(f"{count} JPEGs of 500x375 ({sum(p.stat().st_size for p in paths) / count / 1e3:.0f} kB "
              f"each); {epochs} epochs, batch {batch}, crops {CROP} from {CACHE}")

        start = time.perf_counter()
        images = cached_decode(paths, folder, CACHE, progress=False)
        decode_once = time.perf_counter() - start
        ours = crop_dataset(images, np.zeros((count, 20), np.float32), crop_size=CROP,
                            training=True, batch_size=batch, seed=0)
        ours_epochs = [_epoch_seconds(ours)[0] for _ in range(epochs)]
        theirs = _decode_every_epoch(paths, batch, seed=0, training=True)
        theirs_epochs = [_epoch_seconds(theirs)[0] for _ in range(epochs)]

        ours_total, theirs_total = decode_once + sum(ours_epochs), sum(theirs_epochs)
        ours_rate = count / np.median(ours_epochs)
        print("\n1. decode once + crop every epoch, against decoding every epoch")
        print(f"  decode once into the cache         {decode_once:7.2f} s ({count / decode_once:7.0f} images/s)")
        print(f"  crop epochs from the cache         {np.median(ours_epochs):7.2f} s per epoch "
              f"({ours_rate:7.0f} images/s)")
        print(f"  decode + resize + crop every epoch {np.median(theirs_epochs):7.2f} s per epoch "
              f"({count / np.median(theirs_epochs):7.0f} images/s)")
        print(f"  per epoch: cached is x{np.median(theirs_epochs) / np.median(ours_epochs):.1f} faster; "
              f"{epochs} epochs in total (decode included): {ours_total:.2f} s vs "
              f"{theirs_total:.2f} s, x{theirs_total / ours_total:.2f}")

        ours_centre = np.concatenate([b.numpy() for b in crop_dataset(
            images, crop_size=CROP, training=False, batch_size=batch)])
        theirs_centre = np.concatenate([b.numpy() for b in _decode_every_epoch(
            paths, batch, seed=0, training=False)])
        offset = (CACHE - CROP) // 2
        numpy_centre = images[:, offset:offset + CROP, offset:offset + CROP] / np.float32(255)
        agree = (np.allclose(ours_centre, theirs_centre, atol=1e-6)
                 and np.allclose(ours_centre, numpy_centre, atol=1e-6))
        print(f"  centre crops {'agree' if agree else 'DISAGREE'} (cached pipeline, per-epoch "
              "decoding and numpy slicing; largest difference "
              f"{np.abs(ours_centre - theirs_centre).max():.1e})")

        print("\n2. input pipeline against a CaffeNet training step (224x224)")
        train_rate = _train_step_rate(batch, steps)
        print(f"  pipeline (decode-once cache, random crop + flip) {ours_rate:8.0f} images/s")
        print(f"  CaffeNet training step, batch {batch:<3d}             {train_rate:8.1f} images/s")
        print(f"  the pipeline delivers x{ours_rate / train_rate:.1f} what the training step consumes")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
