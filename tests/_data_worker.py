"""A worker process for tests/test_data_concurrency.py: loads or builds data sets, round by round.

Usage: ``python _data_worker.py <mode> <base> <rounds> <worker id>``. For each round r it waits
until ``<base>/go<r>`` exists (so all workers start together), runs the mode against the cache
``<base>/round<r>``, and writes what it got to ``<base>/r<r>-w<id>.json``.

Modes: ``load`` (fetch the toy data set from the mirror, then decode its files through the
decoded-array cache with a numpy stand-in decoder: no TensorFlow, so the processes start fast);
``build`` (car vs other, built from a toy Tiny ImageNet in the mirror).
"""

import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np


def fake_decode(paths, image_size=None, *, progress=True):
    """Each file's bytes, hashed into a deterministic 4x4x3 uint8 image (slowly, to widen races)."""
    images = np.empty((len(paths), 4, 4, 3), np.uint8)
    for row, path in enumerate(paths):
        digest = hashlib.sha256(Path(path).read_bytes()).digest()
        images[row] = np.frombuffer(digest + digest[:16], np.uint8).reshape(4, 4, 3)
        time.sleep(0.002)
    return images


def main():
    mode, base, rounds, worker = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    from helpers.data import car_vs_other, decode, sources
    from helpers.data.archives import Archive

    sources.REGISTRY["toy"] = sources.DataSource(
        "toy", "Toy", (Archive("toy.zip", None),), root="toy", homepage="https://example.org"
    )
    decode.decode_images = fake_decode
    for round_ in range(rounds):
        while not (base / f"go{round_}").exists():
            time.sleep(0.002)
        os.environ["COURSE_DATA_DIR"] = str(base / f"round{round_}")
        try:
            if mode == "load":
                fetched = sources.fetch("toy")
                files = sorted(fetched.path.rglob("*.bin"))
                images = decode.cached_decode(files, fetched.path, progress=False)
                result = {
                    "ok": True,
                    "path": str(fetched.path),
                    "images_sha256": hashlib.sha256(np.ascontiguousarray(images)).hexdigest(),
                }
            else:
                fetched = car_vs_other.fetch_car_vs_other()
                result = {"ok": True, "path": str(fetched.path), "source": fetched.source}
        except Exception:  # reported to the test, which fails with it
            result = {"ok": False, "error": traceback.format_exc()}
        done = base / f"r{round_}-w{worker}.json"
        (base / f"{done.name}.tmp").write_text(json.dumps(result))
        os.replace(base / f"{done.name}.tmp", done)  # the test never reads a half-written result


if __name__ == "__main__":
    main()
