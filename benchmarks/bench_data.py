"""Time the data layer against the obvious alternatives, in one run, and print ratios.

    .venv/bin/python benchmarks/bench_data.py [--quick]

Uses the mirror's Tiny ImageNet (``COURSE_DATA_MIRROR``) when set, else (and always with
``--quick``) the generated sample.
Data is unpacked into ``$COURSE_DATA_DIR`` (default: a folder under the system temp dir), never
into the project's ``data/``. Measured:

1. ``load_tiny_imagenet`` from the unpacked cache: first load (decoding JPEGs) and second load
   (reading the decoded ``.npy``); target at most 15 s and 2 s for the 33,700-image subset.
2. Decoding the same files with a PIL loop, PIL in a thread pool, and
   ``keras.utils.image_dataset_from_directory``.
3. Peak memory (max RSS of a fresh process) while decoding 100,000 64x64 JPEGs, the size of
   the full data set; target at most 3 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

_MEMORY_CHILD = """
import resource, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from helpers.data.decode import decode_images
paths = [line for line in Path({listing!r}).read_text().splitlines() if line]
paths = (paths * ({count} // len(paths) + 1))[:{count}]
images = decode_images(paths, progress=False)
print(images.nbytes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def _pil_decode(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _pil_loop(paths):
    return np.stack([_pil_decode(path) for path in paths])


def _pil_threads(paths):
    images = np.empty((len(paths), 64, 64, 3), np.uint8)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for index, image in enumerate(pool.map(_pil_decode, paths, chunksize=64)):
            images[index] = image
    return images


def _keras_directory(folder):
    import keras

    dataset = keras.utils.image_dataset_from_directory(
        folder, labels=None, image_size=(64, 64), batch_size=256, shuffle=False, verbose=False
    )
    return np.concatenate([batch.numpy().astype(np.uint8) for batch in dataset])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under ~30 s")
    args = parser.parse_args()
    cache = Path(
        os.environ.setdefault(
            "COURSE_DATA_DIR", str(Path(tempfile.gettempdir()) / "neural-codes-bench-data")
        )
    )
    if args.quick:  # a smoke check: the generated sample unpacks in seconds, the mirror does not
        os.environ.pop("COURSE_DATA_MIRROR", None)
    if not os.environ.get("COURSE_DATA_MIRROR"):
        os.environ["COURSE_PROFILE"] = "sample"
    from helpers.data import decode
    from helpers.data.tiny_imagenet import class_images, load_tiny_imagenet

    import_time, _ = _timed(__import__, "tensorflow")  # a notebook has imported it already
    print(f"import tensorflow: {import_time:.1f} s (excluded from the timings below)")
    per_class = 15 if args.quick else None
    print(
        f"cache {cache}; mirror "
        f"{os.environ.get('COURSE_DATA_MIRROR') or 'unset (generated sample)'}"
    )
    unpack_time, data = _timed(
        load_tiny_imagenet, max_per_class=per_class, progress=False, allow_sample=True
    )
    root = data.fetched.path
    count = sum(len(pair[1]) for pair in data.splits.values())
    print(f"data: {data.describe()}")
    print(f"fetch + unpack + decode (first ever call): {unpack_time:.1f} s")
    shutil.rmtree(root / decode.CACHE_FOLDER, ignore_errors=True)
    first, _ = _timed(load_tiny_imagenet, max_per_class=per_class, progress=False)
    second, again = _timed(load_tiny_imagenet, max_per_class=per_class, progress=False)
    touch, _ = _timed(lambda: [int(pair[0].sum(dtype=np.int64)) for pair in again.splits.values()])
    print(
        f"load_tiny_imagenet, {count:,} images, from the unpacked cache: first {first:.2f} s "
        f"(target <= 15 s for 33,700), decoded cache {second:.2f} s (target <= 2 s) "
        f"+ {touch:.2f} s to read every pixel of the memory-mapped arrays once"
    )

    wnids = sorted((root / "wnids.txt").read_text().split())
    sample = [
        path for wnid in wnids for path in class_images(root, wnid, 10 if args.quick else None)
    ]
    sample = sample[: 2_000 if args.quick else 10_000]
    ours, _ = _timed(decode.decode_images, sample, progress=False)
    results = {"helpers decode_images (tf.data parallel)": ours}
    results["PIL loop"], _ = _timed(_pil_loop, sample)
    results[f"PIL thread pool ({os.cpu_count()} threads)"], _ = _timed(_pil_threads, sample)
    with tempfile.TemporaryDirectory() as folder:
        for path in sample:  # hard links: the same files, in one folder keras can read
            target = Path(folder) / "x" / f"{path.parent.parent.name}_{path.name}"
            target.parent.mkdir(exist_ok=True)
            os.link(path, target)
        results["keras image_dataset_from_directory"], _ = _timed(_keras_directory, folder)
    print(f"\ndecoding {len(sample):,} JPEGs of 64x64 (seconds, ratio to ours):")
    for name, seconds in results.items():
        print(f"  {name:45s} {seconds:6.2f} s  x{seconds / ours:5.2f}")

    total = 3_000 if args.quick else 100_000
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(str(path) for path in sample))
    child = _MEMORY_CHILD.format(
        root=str(Path(__file__).resolve().parent.parent), listing=listing.name, count=total
    )
    seconds, output = _timed(
        subprocess.run, [sys.executable, "-c", child], capture_output=True, text=True, check=True
    )
    os.unlink(listing.name)
    nbytes, peak = map(int, output.stdout.split()[-2:])
    print(
        f"\ndecoding {total:,} images in a fresh process: {seconds:.1f} s, array "
        f"{nbytes / 1e9:.2f} GB, peak RSS {peak / 1e9:.2f} GB (target <= 3 GB for 100,000)"
    )


if __name__ == "__main__":
    main()
