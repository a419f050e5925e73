"""Where each data set comes from, and ``fetch``: one call that finds it, checks it and unpacks it.

``fetch(name)`` tries, in order (DESIGN.md, "Data: one loader, any source"):

1. the cache, ``helpers.session.data_dir() / name`` (an unpacked folder whose marker exists, or
   the official archives put there by an earlier download or by hand);
2. the local mirror ``$COURSE_DATA_MIRROR`` (archives under their official names, checked
   against the mirror's ``SHA256SUMS``);
3. data installed on the system (FashionMNIST from the Debian package or the Keras cache);
4. the official URL (full profile only: a sample run should not pull gigabytes);
5. in the sample profile only, a generated sample in the official layout
   (``data_dir() / 'samples' / name``, kept apart so it is never mistaken for real data).

A file that fails its checks, or that will not unpack, is reported with a warning, set aside
as ``<name>.corrupt`` (a cache copy; a mirror's is left alone) and fetched from the next place.
When nothing resolves, one :class:`DataNotFoundError` lists every place looked and what to do.
Everything after the first cache look happens under the data set's inter-process lock
(:mod:`helpers.data.locks`), so concurrent notebooks wait for one another instead of racing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from helpers import session
from helpers.data import archives, locks
from helpers.data.archives import Archive, ArchiveError
from helpers.data.registry import REGISTRY, DataSource
from helpers.session.messages import warn

__all__ = [
    "REGISTRY",
    "SOURCES",
    "DataNotFoundError",
    "DataSource",
    "FetchedData",
    "fetch",
    "fetch_sample",
    "from_marker",
    "get_source",
]

#: Places in the order ``fetch`` tries them; a data set's ``source`` is one of these.
SOURCES = ("cache", "mirror", "system", "download", "generated sample")


class DataNotFoundError(FileNotFoundError):
    """No place could provide a data set; the message lists every place looked and what to do."""


@dataclass(frozen=True)
class FetchedData:
    """Where a fetched data set is and where it came from.

    Attributes
    ----------
    name : str
        Registry name.
    path : Path
        The unpacked root folder (e.g. ``.../tiny-imagenet-200``).
    source : str
        One of :data:`SOURCES` for this call (``'cache'`` on every call after the first).
    origin : str
        Where the bytes came from originally (``'mirror'``, ``'download'``, ...).
    is_subset : bool
        True when the archive differs from the official one (the mirror's Tiny ImageNet keeps
        150 images of most classes) or is a generated sample.
    """

    name: str
    path: Path
    source: str
    origin: str
    is_subset: bool

    def describe(self) -> str:
        """One line to print, e.g. "Tiny ImageNet-200: cache (from mirror, subset)"."""
        title = REGISTRY[self.name].title if self.name in REGISTRY else self.name
        origin = "" if self.origin == self.source else f" (first from {self.origin})"
        subset = (
            ", a subset of the official data"
            if self.is_subset and self.source != "generated sample"
            else ""
        )
        return f"{title}: {self.source}{origin}{subset} at {self.path}"


class FromSource:
    """Where a loaded data set came from; mixed into every loader's result (needs ``fetched``)."""

    fetched: FetchedData

    @property
    def source(self) -> str:
        """``'cache'``, ``'mirror'``, ``'system'``, ``'download'`` or ``'generated sample'``."""
        return self.fetched.source

    @property
    def is_subset(self) -> bool:
        """True when the data is a subset of the official archive (the mirror's, a sample)."""
        return self.fetched.is_subset


def get_source(name: str) -> DataSource:
    """The registry entry of ``name``.

    Examples
    --------
    >>> get_source("tiny_imagenet").archives[0].size
    248100043
    >>> get_source("mnist")
    Traceback (most recent call last):
    ...
    ValueError: Unknown data set 'mnist'; the registry has ...
    """
    if name not in REGISTRY:
        raise ValueError(f"Unknown data set {name!r}; the registry has {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def fetch(name: str, *, allow_sample: bool = False) -> FetchedData:
    """Find, check and unpack a data set, trying each place once, and say where it came from.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY` (``'tiny_imagenet'``, ``'voc2007'``, ``'fashion_mnist'``,
        ``'caltech256'``, ``'urban_tribes'``, ``'car_vs_other'``).
    allow_sample : bool
        A smoke run (the notebook passes ``session.is_sample()``): no download is tried, and a
        generated sample stands in when no real data is found locally.

    Returns
    -------
    FetchedData
        The unpacked root folder and its ``source``.

    Raises
    ------
    DataNotFoundError
        When no place provides the data; the message names every place looked.

    Notes
    -----
    Downloads are attempted only without ``allow_sample``. Unpacking happens once: a marker file
    written last records it, so the next call is a cheap ``'cache'`` hit. A corrupt cached
    archive is renamed ``*.corrupt`` (never deleted, never used) with a warning.

    Examples
    --------
    >>> fetch("no_such_set")
    Traceback (most recent call last):
    ...
    ValueError: Unknown data set 'no_such_set'; the registry has ...
    """
    source = get_source(name)
    folder = session.data_dir() / name
    cached = _from_marker(source, folder, "cache")
    if cached is not None:  # a marked tree is complete and never changed again: no lock needed
        return cached
    with locks.folder_lock(folder, source.title):
        cached = _from_marker(source, folder, "cache")  # another process may just have made it
        if cached is not None:
            return cached
        locks.clean_leftovers(folder)
        return _fetch_locked(source, folder, allow_sample)


def _fetch_locked(source: DataSource, folder: Path, allow_sample: bool) -> FetchedData:
    looked = [f"cache: {folder / source.root} (not unpacked there yet)"]
    located = _locate_archives(source, folder, looked, download=False)
    fetched = _unpack(source, folder, located, looked) if located else None
    if fetched is None and not source.packed:
        fetched = _installed_copy(source, looked)
    if fetched is None:
        if allow_sample:
            looked.append("download: not tried in a smoke run (allow_sample=True)")
        else:
            located = _locate_archives(source, folder, looked, download=True)
            fetched = _unpack(source, folder, located, looked) if located else None
    if fetched is not None:
        return fetched
    if allow_sample:
        return fetch_sample(source.name)
    looked.append("generated sample: only with allow_sample=True (the sample profile)")
    raise DataNotFoundError(_not_found_message(source, folder, looked))


def _unpack(source: DataSource, folder: Path, located, looked: list[str]) -> FetchedData | None:
    """Unpack verified archives; an archive that will not unpack is noted, set aside, skipped."""
    places, paths, is_subset = located
    origin = next((p for p in ("download", "mirror", "system") if p in places), "cache")
    record = {"origin": origin, "is_subset": is_subset, "archives": {p.name: str(p) for p in paths}}
    try:
        root = archives.unpack(
            paths,
            folder,
            source.root,
            packed=source.packed,
            limits=[a.max_unpacked for a in source.archives],
            marker=record,
        )
    except ArchiveError as error:
        bad = getattr(error, "path", None)
        note = f"unpacking: {error}"
        if bad is not None and Path(bad).parent == folder and Path(bad).is_file():
            os.replace(bad, Path(bad).with_name(Path(bad).name + ".corrupt"))
            note += f" Moved it to {Path(bad).name}.corrupt."
        warn(f"{source.title}: {note}")
        looked.append(note)
        return None
    return FetchedData(source.name, root, origin, origin, is_subset)


def fetch_sample(name: str) -> FetchedData:
    """Build (once) and unpack the generated sample of a data set, in its official layout.

    Examples
    --------
    >>> fetch_sample("no_such_set")
    Traceback (most recent call last):
    ...
    ValueError: Unknown data set 'no_such_set'; the registry has ...
    """
    from helpers.data import samples

    source = get_source(name)
    folder = session.data_dir() / "samples" / name
    cached = _from_marker(source, folder, "generated sample")
    if cached is not None:
        return cached
    with locks.folder_lock(folder, f"the {source.title} sample"):
        cached = _from_marker(source, folder, "generated sample")
        if cached is not None:
            return cached
        locks.clean_leftovers(folder)
        paths = samples.write_sample_archives(name, folder)
        root = archives.unpack(
            paths,
            folder,
            source.root,
            packed=source.packed,
            marker={"origin": "generated sample", "is_subset": True},
        )
        for path in paths:  # the unpacked copy is all that is needed; the archives are rebuildable
            path.unlink(missing_ok=True)
    return FetchedData(name, root, "generated sample", "generated sample", True)


def from_marker(name: str, folder: Path, label: str) -> FetchedData | None:
    """The finished tree of data set ``name`` in ``folder``, or None when it is not complete."""
    return _from_marker(get_source(name), folder, label)


def _from_marker(source: DataSource, folder: Path, label: str) -> FetchedData | None:
    record = archives.read_marker(folder)
    if record is None or not (folder / source.root).is_dir():
        return None
    counts = record.get("counts") or {}  # a built tree records its files per folder: cheap to check
    try:
        if any(len(os.listdir(folder / source.root / sub)) != n for sub, n in counts.items()):
            return None
    except OSError:
        return None
    return FetchedData(
        source.name,
        folder / source.root,
        label,
        record.get("origin", label),
        bool(record.get("is_subset", False)),
    )


def _installed_copy(source: DataSource, looked: list[str]) -> FetchedData | None:
    for directory in source.system_dirs:
        path = Path(directory).expanduser()
        missing = [a.filename for a in source.archives if not (path / a.filename).is_file()]
        if not missing:
            return FetchedData(source.name, path, "system", "system", False)
        looked.append(f"system: {path} (missing {', '.join(missing)})")
    return None


def _locate_archives(source: DataSource, folder: Path, looked: list[str], *, download: bool):
    """A verified copy of every archive, or None (reasons added to ``looked``).

    The first pass (``download=False``) looks in the cache and the mirror; the second
    (``download=True``) reuses what the cache holds and downloads the rest.
    """
    mirror = session.mirror_dir() if not download else None
    sums = {}
    if mirror is not None:
        try:
            sums = archives.read_sha256sums(mirror)
        except ArchiveError as error:  # an unreadable list vouches for nothing: skip the mirror
            warn(f"{source.title}: mirror skipped: {error}")
            looked.append(f"mirror: skipped: {error}")
            mirror = None
    places, paths, is_subset = [], [], False
    for archive in source.archives:
        cached = folder / archive.filename
        if cached.is_file() and _verified(cached, archive, None, looked, "cache", set_aside=True):
            places.append("cache")
            paths.append(cached)
            continue
        if download:
            try:
                paths.append(archives.download(archive, cached))
                places.append("download")
                continue
            except (archives.DiskFullError, locks.CacheNotWritableError):
                raise  # the cache's own fault: no other place would help, say it as it is
            except (OSError, ArchiveError) as error:
                looked.append(f"download: {error}")
                return None
        if not cached.exists():
            looked.append(f"cache: {cached} (absent)")
        if mirror is None:
            if session.mirror_dir() is None:
                looked.append("mirror: COURSE_DATA_MIRROR is unset")
        elif not (mirror / archive.filename).is_file():
            looked.append(f"mirror: {mirror / archive.filename} (absent)")
        elif _verified(
            mirror / archive.filename,
            archive,
            sums.get(archive.filename),
            looked,
            "mirror",
            set_aside=False,
        ):
            places.append("mirror")
            paths.append(mirror / archive.filename)
            is_subset = is_subset or _differs_from_official(mirror / archive.filename, archive)
            continue
        return None
    return places, paths, is_subset


def _verified(
    path: Path,
    archive: Archive,
    sha256: str | None,
    looked: list[str],
    place: str,
    *,
    set_aside: bool,
) -> bool:
    try:
        archives.verify_file(path, archive, sha256=sha256)
        return True
    except ArchiveError as error:
        note = f"{place}: {path} is unusable: {error}"
        if set_aside:  # keep the bytes for inspection, but out of the way of the next fetch
            os.replace(path, path.with_name(path.name + ".corrupt"))
            note += f" Moved to {path.name}.corrupt; fetching it again."
        warn(note)
        looked.append(note)
        return False


def _differs_from_official(path: Path, archive: Archive) -> bool:
    if archive.size is not None:
        return path.stat().st_size != archive.size
    if archive.md5 is not None:
        return archives.file_digest(path, "md5") != archive.md5
    return False


def _not_found_message(source: DataSource, folder: Path, looked: list[str]) -> str:
    names = ", ".join(a.filename for a in source.archives)
    by_hand = "; ".join(
        f"{a.url} -> {folder / a.filename}"
        if a.url
        else f"{a.filename} (no public URL known; see {source.homepage}) -> {folder / a.filename}"
        for a in source.archives
    )
    lines = [f"No data found for {source.title} ({source.name!r}). Looked in:"]
    lines += [f"  - {entry}" for entry in looked]
    lines += [
        "What to do (any one):",
        f"  - set COURSE_DATA_MIRROR to a folder holding {names} (with a SHA256SUMS file);",
        f"  - download by hand: {by_hand};",
        "  - run with COURSE_PROFILE=sample to use a small generated sample in the official "
        "layout.",
    ]
    return "\n".join(lines)
