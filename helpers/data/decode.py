"""Decode image files into one uint8 array, fast, and remember the result on disk.

:func:`decode_images` (parallel ``tf.data`` decoding) and :func:`cached_decode` (the same,
kept as ``.npy`` with a ``.json`` sidecar of shape, dtype and CRC-32).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from helpers.data.locks import clean_leftovers, folder_lock
from helpers.session.files import atomic_write, write_json_atomic
from helpers.session.messages import warn

CACHE_FOLDER = ".decoded"
_BATCH = 256
_CRC_CHUNK = 64 << 20
#: Cache files already checked by this process, by (path, size, mtime): checked once per kernel.
_checked: set[tuple] = set()


def decode_images(
    paths: Sequence[str | os.PathLike],
    image_size: int | tuple[int, int] | None = None,
    *,
    progress: bool = True,
) -> np.ndarray:
    """Decode image files (JPEG, PNG, BMP, GIF) to an RGB uint8 array (n, h, w, 3), in parallel.

    Greyscale images get 3 identical channels. ``image_size`` (int or (height, width)) resizes
    with antialiasing; None keeps the files' size, which must then be the same for all.

    Raises
    ------
    ValueError
        If ``paths`` is empty, or images differ in size while ``image_size`` is None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("L", (5, 4), color=200).save(folder / "grey.png")
    >>> images = decode_images([folder / "grey.png"], progress=False)
    >>> images.shape, images.dtype, int(images[0, 0, 0, 2])
    ((1, 4, 5, 3), dtype('uint8'), 200)
    """
    import tensorflow as tf

    if len(paths) == 0:
        raise ValueError("decode_images got no paths; check the folder the data was unpacked to.")
    size = _as_size(image_size)
    files = [os.fspath(path) for path in paths]

    def read(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        if size is None:
            return image
        resized = tf.image.resize(image, size, antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    dataset = (
        tf.data.Dataset.from_tensor_slices(files)
        .map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(_BATCH)
        .prefetch(2)
    )
    # Batches are copied into one preallocated array: memory stays at the result's size
    # (100,000 Tiny ImageNet images = 1.2 GB), no float32 or list-of-arrays copy. TensorFlow's
    # JPEG decoder releases the GIL, so the parallel map uses both cores.
    images = None
    start = 0
    with tqdm(total=len(files), unit="img", desc="decoding", disable=not progress) as bar:
        try:
            for batch in dataset.as_numpy_iterator():
                if images is None:
                    images = np.empty((len(files),) + batch.shape[1:], dtype=np.uint8)
                images[start : start + len(batch)] = batch
                start += len(batch)
                bar.update(len(batch))
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                "Images differ in size; pass image_size to resize them to one size "
                f"({str(error).splitlines()[0][:200]})."
            ) from error
    return images


def cached_decode(
    paths: Sequence[str | os.PathLike],
    cache_dir: str | os.PathLike,
    image_size: int | tuple[int, int] | None = None,
    *,
    progress: bool = True,
) -> np.ndarray:
    """Like :func:`decode_images`, but keep the result as ``.npy`` in ``cache_dir/.decoded``.

    The file's name hashes the file names relative to ``cache_dir`` (the data set's root) and
    the size, so another selection gets its own file. A cached array is memory-mapped
    copy-on-write: pixels are read on first use.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (4, 4), color=(10, 20, 30)).save(folder / "a.png")
    >>> first = cached_decode([folder / "a.png"], folder, progress=False)
    >>> len(list((folder / ".decoded").glob("*.npy")))
    1
    >>> bool((cached_decode([folder / "a.png"], folder, progress=False) == first).all())
    True
    """
    cache_dir = Path(cache_dir)
    key = _cache_key(paths, cache_dir, image_size)
    cache_file = cache_dir / CACHE_FOLDER / f"{key}.npy"
    expected = _expected_shape(len(paths), image_size)
    images = _read_cache(cache_file, expected)  # the common case needs no lock
    if images is not None:
        return images
    lock, unwritable = contextlib.ExitStack(), None
    try:  # one process decodes and writes; another loading the same set waits, then reads
        lock.enter_context(folder_lock(cache_file.parent, "the decoded-image cache"))
        clean_leftovers(cache_file.parent)
    except OSError as error:
        unwritable = error
    with lock:
        if unwritable is None:
            images = _read_cache(cache_file, expected, set_aside=True)
            if images is not None:
                return images
        images = decode_images(paths, image_size, progress=progress)
        if unwritable is not None:
            _warn_not_saved(cache_file, unwritable)
        else:
            _write_cache(cache_file, images)
    return images


def _expected_shape(count: int, image_size) -> tuple:
    size = _as_size(image_size)
    return (count,) + (size if size else (None, None)) + (3,)


def _read_cache(cache_file: Path, expected: tuple, *, set_aside: bool = False) -> np.ndarray | None:
    """The cached array if present and sound; a damaged one is set aside (``set_aside``)."""
    if not cache_file.is_file():
        return None
    sidecar = cache_file.with_suffix(".json")
    try:
        record = json.loads(sidecar.read_text())
        # copy-on-write mapping: instant, pages are read on first use (from the OS page
        # cache on a re-run), and a notebook may still modify its arrays in place
        images = np.load(cache_file, mmap_mode="c")
        problem = _problem(images, record, expected, cache_file)
    except FileNotFoundError:  # written by an older version, or a crash between two renames:
        return None  # not damage, so no warning; the rebuilt file replaces it
    except Exception as error:  # noqa: BLE001 - a damaged header fails numpy's parser in many
        # ways (EOFError, tokenize.TokenError, ValueError, ...); any of them means "rebuild"
        problem = f"cannot be read ({type(error).__name__}: {str(error)[:120]})"
    if problem is None:
        return np.asarray(images)
    if set_aside:  # under the lock: nobody is writing it; keep the bytes out of the way
        bad = cache_file.with_name(cache_file.name + ".bad")
        os.replace(cache_file, bad)
        sidecar.unlink(missing_ok=True)
        warn(
            f"The decoded-image cache {cache_file} {problem}; moved it to {bad.name} "
            "and decoding the images again."
        )
    return None


def _problem(images: np.ndarray, record: dict, expected: tuple, cache_file: Path) -> str | None:
    shape = tuple(images.shape)
    if shape != tuple(record["shape"]) or str(images.dtype) != record["dtype"]:
        return (
            f"holds {images.dtype} {shape} but its sidecar says {record['dtype']} "
            f"{tuple(record['shape'])}"
        )
    if (
        images.dtype != np.uint8
        or len(shape) != 4
        or any(want is not None and want != got for want, got in zip(expected, shape))
    ):
        return f"holds {images.dtype} {shape}, not uint8 images of shape {expected}"
    stat = cache_file.stat()
    identity = (str(cache_file), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if identity not in _checked:
        if _crc32(images) != record["crc32"]:
            return "fails its CRC-32 check (damaged on disk)"
        _checked.add(identity)
    return None


def _crc32(images: np.ndarray) -> int:
    flat = images.reshape(-1).view(np.uint8)
    crc = 0
    for start in range(0, flat.size, _CRC_CHUNK):
        crc = zlib.crc32(flat[start : start + _CRC_CHUNK], crc)
    return crc


def _write_cache(cache_file: Path, images: np.ndarray) -> None:
    """Save array and sidecar atomically; a failure only warns."""
    sidecar = cache_file.with_suffix(".json")
    try:
        # the array first, and no old sidecar meanwhile: a sidecar never describes another array
        sidecar.unlink(missing_ok=True)
        with atomic_write(cache_file, "wb", suffix=".npy.tmp") as stream:  # .tmp: a leftover
            _save(stream, images)
        write_json_atomic(
            sidecar,
            {"shape": list(images.shape), "dtype": str(images.dtype), "crc32": _crc32(images)},
            indent=None,
            suffix=".json.tmp",
        )
        stat = cache_file.stat()  # just written from memory: this process need not check it again
        _checked.add((str(cache_file), stat.st_size, stat.st_mtime_ns, stat.st_ino))
    except OSError as error:
        _warn_not_saved(cache_file, error)


def _save(stream, images: np.ndarray) -> None:
    np.save(stream, images)  # one place for the bytes written, where tests inject a full disk


def _warn_not_saved(cache_file: Path, error: OSError) -> None:
    warn(
        f"Could not save the decoded-image cache {cache_file} ({error}); the images are "
        "fine, but the next load decodes them again."
    )


def _as_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if len(size) != 2 or any(int(side) != side or side < 1 for side in size):
        raise ValueError(
            f"image_size must be a positive int or (height, width); got {image_size!r}."
        )
    return int(size[0]), int(size[1])


def _cache_key(paths: Sequence, root: Path, image_size) -> str:
    # plain string work: pathlib per file costs ~1 s for 100,000 paths
    prefix = os.fspath(root).rstrip(os.sep) + os.sep
    digest = hashlib.sha1(repr(_as_size(image_size)).encode())
    names = (
        name[len(prefix) :] if name.startswith(prefix) else name for name in map(os.fspath, paths)
    )
    digest.update("\n".join(names).encode())
    return digest.hexdigest()[:16]
