"""Car or other (``a5_images``) for notebook 05, read through Keras' class-folder utility."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from helpers import session
from helpers.data import archives, locks, sources
from helpers.data.sources import DataNotFoundError, FetchedData
from helpers.data.splits import ImageSplits, check_count
from helpers.session.messages import warn

CLASS_NAMES = ("other", "car")
#: Tiny ImageNet classes used as "car" (beach wagon, convertible, limousine, police van,
#: sports car).
CAR_WNIDS = ("n02814533", "n03100240", "n03670208", "n03977966", "n04285008")
#: Other vehicles of Tiny ImageNet, never used as "other" (a bus is not a fair negative).
VEHICLE_WNIDS = (
    "n02917067",
    "n03393912",
    "n03444034",
    "n03447447",
    "n03599486",
    "n03649909",
    "n03662601",
    "n03796401",
    "n04146614",
    "n04465501",
    "n04487081",
)
SPLIT_SIZES = {"train": 800, "validation": 288}


def load_car_vs_other(
    image_size: int = 64, *, batch_size: int = 256, allow_sample: bool = False
) -> ImageSplits:
    """The car-vs-other images as uint8 arrays, labels other = 0 and car = 1.

    Read with ``keras.utils.image_dataset_from_directory`` (class folders ``other``, ``car``
    in that order); the float batches it yields are rounded back to uint8.

    Parameters
    ----------
    image_size : int
        Side of the square images (the data is 64x64; other sizes are resized bilinearly).
    batch_size : int
        Batch size of the reading pass only.
    allow_sample : bool
        A smoke run: no download, and a generated sample when no real data is found.

    Returns
    -------
    ImageSplits
        ``train`` and ``val`` pairs ``(images uint8 (n, s, s, 3), labels int32 (n,))``,
        ``class_names`` ``['other', 'car']``, and ``source`` / ``describe()``.

    Notes
    -----
    Sources in order: ``a5_images.zip`` in the cache or mirror; then, when no such archive
    exists, a copy built from the Tiny ImageNet car classes (full profile: 800 + 800 train and
    288 + 288 validation images; fewer, with a warning, from a subset); then, with
    ``allow_sample``, a generated sample.

    Examples
    --------
    >>> load_car_vs_other(image_size=0)
    Traceback (most recent call last):
    ...
    ValueError: image_size must be an int >= 8; got 0.
    """
    import inspect

    import keras

    check_count("image_size", image_size, 8)
    fetched = fetch_car_vs_other(allow_sample=allow_sample)
    splits = {}
    for split in SPLIT_SIZES:
        dataset = keras.utils.image_dataset_from_directory(
            fetched.path / split,
            labels="inferred",
            label_mode="int",
            class_names=list(CLASS_NAMES),
            image_size=(image_size, image_size),
            batch_size=batch_size,
            shuffle=False,
            # verbose= exists from Keras 3.1; before, the "Found N files" line cannot be hidden.
            **(
                {"verbose": False}
                if "verbose"
                in inspect.signature(keras.utils.image_dataset_from_directory).parameters
                else {}
            ),
        )
        images, labels = [], []
        for batch_images, batch_labels in dataset.as_numpy_iterator():
            images.append(np.clip(np.round(batch_images), 0, 255).astype(np.uint8))
            labels.append(batch_labels.astype(np.int32))
        # The archive's folders are train/ and validation/; every loader calls the latter "val".
        splits["val" if split == "validation" else split] = (
            np.concatenate(images),
            np.concatenate(labels),
        )
    return ImageSplits(splits, list(CLASS_NAMES), fetched)


def fetch_car_vs_other(*, allow_sample: bool = False) -> FetchedData:
    """``a5_images`` from an archive, else built from Tiny ImageNet, else a generated sample.

    The build runs under the data set's inter-process lock: a second notebook asking at the
    same time waits and then reads the finished tree instead of building over it.
    """
    try:
        return sources.fetch("car_vs_other", allow_sample=False)
    except DataNotFoundError as no_archive:
        folder = session.data_dir() / "car_vs_other"
        with locks.folder_lock(folder, "car vs other (built from Tiny ImageNet)"):
            built = sources.from_marker("car_vs_other", folder, "cache")
            if built is not None:  # another process built it while this one waited
                return built
            try:
                tiny = sources.fetch("tiny_imagenet", allow_sample=False)
            except DataNotFoundError as no_tiny:
                if allow_sample:
                    return sources.fetch_sample("car_vs_other")
                raise DataNotFoundError(
                    f"{no_archive}\n\nBuilding it from Tiny ImageNet failed too:\n{no_tiny}"
                ) from None
            origin = f"built from Tiny ImageNet ({tiny.origin})"
            root = build_from_tiny_imagenet(
                tiny.path, folder, marker={"origin": origin, "is_subset": tiny.is_subset}
            )
        return FetchedData("car_vs_other", root, "built from Tiny ImageNet", origin, tiny.is_subset)


def build_from_tiny_imagenet(
    tiny_root: Path, folder: Path, seed: int = 42, *, marker: dict | None = None
) -> Path:
    """Copy Tiny ImageNet JPEGs into ``folder/a5_images/{train,validation}/{car,other}/NNNN.jpg``.

    Cars come from :data:`CAR_WNIDS`, others from every class that is not a vehicle; each pool
    is shuffled with ``seed``. A ``SOURCES.tsv`` records the original file of every image.
    The tree is built in a folder of a unique name, its file count per class folder checked
    against what was written, and then moved into place in one rename, under ``folder``'s
    inter-process lock; with ``marker``, the completion marker (with those counts) comes last.

    Returns
    -------
    Path
        ``folder / 'a5_images'``.
    """
    with locks.folder_lock(folder, "car vs other (built from Tiny ImageNet)"):
        locks.clean_leftovers(folder)
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder))
        try:
            counts = _copy_images(Path(tiny_root), staging, seed)
            found = {name: len(os.listdir(staging / name)) for name in counts}
            if found != counts:
                raise OSError(
                    f"Building car vs other in {staging} wrote {counts} files per "
                    f"folder but {found} are there; the disk or the source changed."
                )
            target = folder / "a5_images"
            (folder / archives.MARKER_NAME).unlink(missing_ok=True)
            if target.exists():  # an unmarked tree: a killed or damaged build
                os.replace(target, Path(tempfile.mkdtemp(prefix=".stale-", dir=folder)) / "old")
            os.replace(staging, target)
            if marker is not None:
                archives.write_marker(folder, {**marker, "counts": counts})
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            locks.clean_leftovers(folder)
    return target


def _copy_images(tiny_root: Path, staging: Path, seed: int) -> dict[str, int]:
    """Copy the chosen images into ``staging``; returns the files written per class folder."""
    wnids = sorted((tiny_root / "wnids.txt").read_text().split())
    pools = {
        "car": [w for w in wnids if w in CAR_WNIDS],
        "other": [w for w in wnids if w not in CAR_WNIDS + VEHICLE_WNIDS],
    }
    rng = np.random.default_rng(seed)
    wanted = sum(SPLIT_SIZES.values())
    lines, counts = [], {f"{split}/{kind}": 0 for split in SPLIT_SIZES for kind in pools}
    for kind, classes in pools.items():
        files = sorted(
            path
            for wnid in classes
            for path in (tiny_root / "train" / wnid / "images").glob("*.JPEG")
        )
        chosen = [files[i] for i in rng.permutation(len(files))[:wanted]]
        if len(chosen) < wanted:
            warn(
                f"Tiny ImageNet at {tiny_root} has only {len(chosen)} {kind} images "
                f"(wanted {wanted}); the car-vs-other splits are smaller."
            )
        n_train = round(len(chosen) * SPLIT_SIZES["train"] / wanted)
        for index, path in enumerate(chosen):
            split, number = ("train", index) if index < n_train else ("validation", index - n_train)
            name = f"{split}/{kind}/{number:04d}.jpg"
            (staging / split / kind).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / name)
            counts[f"{split}/{kind}"] += 1
            lines.append(f"{name}\t{path.parent.parent.name}\t{path.name}")
    for name in counts:
        (staging / name).mkdir(parents=True, exist_ok=True)
    (staging / "SOURCES.tsv").write_text("\n".join(lines) + "\n")
    return counts
