"""Neural codes: the activations of intermediate layers, computed in batches.

:func:`extract_codes` (one forward pass for every requested layer, optionally cached to
``.npy``) and :func:`l2_normalize`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.session.files import save_npy_atomic
from helpers.training.fingerprint import fingerprint


def extract_codes(
    model: keras.Model,
    images: np.ndarray | tf.data.Dataset,
    layer_names: str | Sequence[str],
    batch_size: int = 256,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    flatten: bool = True,
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
    verbose: bool = True,
) -> dict[str, np.ndarray]:
    """Activations ("neural codes") of the named layers for every image, in batches.

    Parameters
    ----------
    model : keras.Model
        A functional or Sequential model (one with ``model.inputs``).
    images : (n, ...) array or tf.data.Dataset
        An array, or a *batched* dataset of images or ``(images, labels)``.
    layer_names : str or sequence of str
        E.g. ``["pool5", "fc6", "fc7"]``.
    batch_size : int
        Array input only; a dataset keeps its own batches.
    preprocess : callable, optional
        Applied to each numpy batch; by default integer images are divided by 255, floats
        passed unchanged. The result is cast to the model's input dtype.
    flatten : bool
        Each code as a row (n, d); otherwise the layer's shape (n, h, w, c).
    cache_dir : str or path, optional
        Folder for cached codes (None: no caching). A file's name hashes the model (architecture
        and weights), the images, ``preprocess``'s behaviour, ``flatten``, the layer and
        ``cache_key``, so nothing stale is read.
    cache_key : str, optional
        Required to cache a dataset: it must name the data *and its order*. Change it too when
        ``preprocess`` reads state its code does not show.

    Returns
    -------
    dict of str -> ndarray
        Layer name -> float32 codes in the order of ``images``; (0, d) for empty input.

    Examples
    --------
    >>> import keras, numpy as np
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(inputs))
    >>> codes = extract_codes(model, np.ones((5, 4), "uint8"), "fc", verbose=False)
    >>> codes["fc"].shape, codes["fc"].dtype
    ((5, 2), dtype('float32'))
    """
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    _check_arguments(model, images, names, batch_size, cache_dir, cache_key)
    # One sub-model returns every layer in one pass (Keras 3 has no K.function).
    # model.inputs, not model.input: after load_model, some Keras 3 releases give .input as a
    # one-element list, which makes a sub-model that expects a list.
    sub_model = keras.Model(model.inputs[0], [model.get_layer(name).output for name in names])
    preprocess = preprocess or _default_preprocess
    paths = None
    if cache_dir is not None:
        paths = _cache_paths(
            sub_model, names, images, preprocess, flatten, Path(cache_dir), cache_key or "codes"
        )
        if all(path.is_file() for path in paths.values()):
            return {name: np.load(path) for name, path in paths.items()}
    codes = _run_in_batches(sub_model, names, images, batch_size, preprocess, flatten, verbose)
    if paths is not None:
        for name, path in paths.items():
            _save_atomically(path, codes[name])  # whole, so an interrupted run leaves no part
    return codes


def l2_normalize(codes: np.ndarray) -> np.ndarray:
    """Scale every row of a (n, d) array to unit Euclidean length (float32).

    Raises
    ------
    ValueError
        If ``codes`` is not 2-D, holds NaN or infinity, or has an all-zero row (listed).

    Examples
    --------
    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 2.0]]))
    array([[0.6, 0.8],
           [0. , 1. ]], dtype=float32)
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(
            f"codes must be a 2-D (n, d) array, got shape {codes.shape}; "
            "flatten feature maps first (codes.reshape(len(codes), -1))."
        )
    if codes.dtype.kind not in "biuf":
        raise ValueError(f"codes must be numeric, got dtype {codes.dtype}.")
    if not np.all(np.isfinite(codes)):
        raise ValueError("codes hold NaN or infinite values; check the model and its inputs.")
    # Each row is divided by its largest magnitude (in float64) before the norm is taken:
    # squaring finite but huge values (float64 1e200, float32 3e38) would overflow to inf.
    peaks = np.abs(codes).max(axis=1).astype(np.float64) if codes.size else np.ones(len(codes))
    zero_rows = np.flatnonzero(peaks == 0)
    if zero_rows.size:
        raise ValueError(
            f"{zero_rows.size} code(s) are all zero (rows {zero_rows[:10].tolist()}"
            f"{'...' if zero_rows.size > 10 else ''}) and have no direction; use "
            "codes taken before the ReLU, or drop those images."
        )
    unit = np.empty(codes.shape, np.float32)
    for start in range(0, len(codes), 8192):  # row blocks: no float64 copy of a large matrix
        block = codes[start : start + 8192].astype(np.float64) / peaks[start : start + 8192, None]
        unit[start : start + 8192] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return unit


def _default_preprocess(batch: np.ndarray) -> np.ndarray:
    if np.issubdtype(batch.dtype, np.integer):
        return batch.astype(np.float32) / 255.0
    return batch


def _check_arguments(model, images, names, batch_size, cache_dir, cache_key) -> None:
    if len(getattr(model, "inputs", None) or []) != 1:
        raise ValueError(
            f"{type(model).__name__} {model.name!r} does not have exactly one "
            "symbolic input; extract_codes needs a functional or Sequential model "
            "of one input (not a subclassed one)."
        )
    if not names:
        raise ValueError("layer_names is empty; name at least one layer, e.g. ['fc7'].")
    known = [layer.name for layer in model.layers]
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(
            f"No layer named {missing} in model {model.name!r}; its layers are {known}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"layer_names repeats a layer: {names}.")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    input_rank = len(model.inputs[0].shape)
    if isinstance(images, tf.data.Dataset):
        spec = images.element_spec
        spec = spec[0] if isinstance(spec, (tuple, list)) else spec
        if len(spec.shape) != input_rank:
            raise ValueError(
                f"The dataset yields elements of shape {spec.shape}, the model wants "
                f"batches of rank {input_rank}; call dataset.batch(...) first."
            )
        if cache_dir is not None and cache_key is None:
            raise ValueError(
                "Caching codes of a tf.data.Dataset needs a cache_key naming the "
                "data and its order (a dataset's content cannot be hashed)."
            )
    elif isinstance(images, np.ndarray):
        expected = tuple(model.inputs[0].shape[1:])
        if images.ndim != input_rank or any(
            want is not None and want != got for want, got in zip(expected, images.shape[1:])
        ):
            raise ValueError(
                f"images have shape {images.shape}, the model expects (n, "
                f"{', '.join(str(d) for d in expected)})."
            )
    else:
        raise ValueError(
            f"images must be a numpy array or a tf.data.Dataset, got {type(images).__name__}."
        )


def _batches(images, batch_size):
    batch_size, seen = int(batch_size), 0
    if isinstance(images, np.ndarray):
        batches = (
            images[start : start + batch_size] for start in range(0, len(images), batch_size)
        )
    else:
        batches = (
            element[0] if isinstance(element, (tuple, list)) else element
            for element in images.as_numpy_iterator()
        )
    for batch in batches:
        # a NaN pixel would pass a ReLU network as a finite code: refuse it here
        if batch.dtype.kind == "f" and not np.all(np.isfinite(batch)):
            bad = np.flatnonzero(~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1)) + seen
            raise ValueError(
                f"images hold NaN or infinite pixel values (images {bad[:10].tolist()}"
                "); fix or drop them before extracting codes."
            )
        seen += len(batch)
        yield batch


def _run_in_batches(sub_model, names, images, batch_size, preprocess, flatten, verbose):
    if isinstance(images, np.ndarray):
        total = -(-len(images) // batch_size)
    else:
        cardinality = int(images.cardinality())
        total = cardinality if cardinality >= 0 else None
    dtype = sub_model.inputs[0].dtype
    outputs = {name: [] for name in names}
    for batch in tqdm(
        _batches(images, batch_size),
        total=total,
        disable=not verbose,
        desc=f"codes of {', '.join(names)}",
        unit="batch",
    ):
        # Eager calls: no graph tracing per call (nor TensorFlow's retracing warnings when a
        # notebook extracts codes many times); measured: no loss of speed.
        results = sub_model(tf.cast(preprocess(batch), dtype), training=False)
        results = results if isinstance(results, (list, tuple)) else [results]
        for name, result in zip(names, results):
            result = np.asarray(result, dtype=np.float32)
            outputs[name].append(result.reshape(len(result), -1) if flatten else result)
    codes = {}
    for name, output in zip(names, sub_model.outputs):
        if outputs[name]:
            codes[name] = np.concatenate(outputs[name])
        else:
            shape = tuple(output.shape[1:])
            codes[name] = np.zeros(
                (0, int(np.prod(shape))) if flatten else (0, *shape), dtype=np.float32
            )
    return codes


def _cache_paths(sub_model, names, images, preprocess, flatten, cache_dir, label):
    digest = hashlib.sha256()
    for weight in sub_model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        # Not weight.path: auto-named layers (conv2d_3) change names between sessions.
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(memoryview(value).cast("B"))  # no copy, unlike tobytes()
    if isinstance(images, np.ndarray):
        digest.update(f"{images.shape}{images.dtype}".encode())
        digest.update(memoryview(np.ascontiguousarray(images)).cast("B"))
    # Architecture (not only the weights: a MaxPool -> AveragePool change keeps them) and the
    # preprocessing's behaviour (code, closure and default constants, used globals).
    digest.update(fingerprint(sub_model, preprocess).encode())
    digest.update(f"flatten={flatten} key={label}".encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, output in zip(names, sub_model.outputs):
        layer_digest = digest.copy()
        layer_digest.update(f"{name}{tuple(output.shape)}".encode())
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{label}-{name}")
        paths[name] = cache_dir / f"{safe}-{layer_digest.hexdigest()[:16]}.npy"
    return paths


def _save_atomically(path: Path, array: np.ndarray) -> None:
    save_npy_atomic(path, array, suffix=".npy.partial")
