"""A ``tf.data`` input pipeline over uint8 images in memory or image files on disk.

:func:`make_dataset`; images stay uint8 and are scaled batch by batch inside the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from helpers.data.splits import check_count


def make_dataset(
    images,
    labels=None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
    preprocess: Callable | str = "scale",
    image_size: int | None = None,
    drop_remainder: bool = False,
):
    """Batches of preprocessed images (and labels), shuffled if asked, with prefetch.

    Parameters
    ----------
    images : uint8 array (n, h, w[, c]) or sequence of file paths
        In-memory images, or files decoded (and resized to ``image_size``) on the fly.
    labels : array-like (n, ...), optional
        Any shape (ints, multi-hot rows); None yields images only.
    shuffle : bool
        Reshuffle the whole set every epoch (``seed`` makes it reproducible).
    preprocess : 'scale', None or callable
        ``'scale'``: float32 in [0, 1]. A callable receives float32 batches in [0, 255] (e.g.
        ``keras.applications.vgg16.preprocess_input``). None: leave uint8.
    image_size : int, optional
        Resize to this square size; required for files.

    Examples
    --------
    >>> images = np.full((5, 2, 2, 3), 255, np.uint8)
    >>> batches = list(make_dataset(images, np.arange(5), batch_size=2))
    >>> [int(b[0].shape[0]) for b in batches], float(batches[0][0].numpy().max())
    ([2, 2, 1], 1.0)
    """
    import tensorflow as tf

    check_count("batch_size", batch_size)  # any int, numpy's too; not 2.5, not True
    from_files = not isinstance(images, np.ndarray) or images.dtype.kind in "USO"
    count = len(images)
    if count == 0:
        raise ValueError("make_dataset got no images.")
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != count:
            raise ValueError(f"{count} images but {len(labels)} labels; they must match.")
    if not from_files and images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 (got {images.dtype}); keep data uint8 and let "
            "the pipeline scale it."
        )
    # scaled per batch inside the pipeline (on the GPU when TensorFlow places it there): no
    # float32 copy of a whole data set ever exists; a shuffle moves indices, not pixels
    scale = preprocessor(preprocess)

    if from_files:
        dataset = _file_dataset(images, labels, image_size)
        if shuffle:
            dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(_read_file(image_size), num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    else:
        dataset = tf.data.Dataset.range(count)
        if shuffle:
            dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        dataset = dataset.map(_gatherer(images, labels), num_parallel_calls=tf.data.AUTOTUNE)
    if labels is None:
        dataset = dataset.map(lambda batch, _: scale(batch), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(
            lambda batch, target: (scale(batch), target), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def preprocessor(preprocess):
    import tensorflow as tf

    if preprocess is None:
        return lambda batch: batch
    if preprocess == "scale":
        return lambda batch: tf.cast(batch, tf.float32) / 255.0
    if callable(preprocess):
        return lambda batch: preprocess(tf.cast(batch, tf.float32))
    raise ValueError(f"preprocess must be 'scale', None or a function; got {preprocess!r}.")


def _gatherer(images: np.ndarray, labels):
    """A map function turning a batch of indices into the images (and labels) at them."""
    import tensorflow as tf

    targets = labels if labels is not None else np.zeros(len(images), np.int8)
    label_dtype = tf.as_dtype(targets.dtype)

    def take(indices):
        return images[indices], targets[indices]

    def gather(indices):
        batch, target = tf.numpy_function(take, [indices], (tf.uint8, label_dtype))
        batch.set_shape((None,) + images.shape[1:])
        target.set_shape((None,) + targets.shape[1:])
        return batch, target

    return gather


def _file_dataset(paths: Sequence, labels, image_size):
    import tensorflow as tf

    if image_size is None:
        raise ValueError("image_size is required when images are files (they differ in size).")
    files = [str(path) for path in paths]
    targets = labels if labels is not None else np.zeros(len(files), np.int8)
    return tf.data.Dataset.from_tensor_slices((files, targets))


def _read_file(image_size: int):
    import tensorflow as tf

    def read(path, target):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, (image_size, image_size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), target

    return read
