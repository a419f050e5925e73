"""Issue 15, cases 3, 4, 6, 7 and 8: damaged archives and caches, full disks, unsafe archives.

Each test injects one fault and checks for a clear error or a correct result, and that nothing
half-made is left where a later load would use it.
"""

import errno
import hashlib
import io
import json
import shutil
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from helpers import session
from helpers.data import archives, car_vs_other, decode, sources, unpacking
from helpers.data.archives import Archive, ArchiveError, DiskFullError, UnsafeArchiveError
from helpers.data.locks import CacheNotWritableError
from helpers.session import paths


def _zip(members, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar(members, links=()):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def _leftovers(folder: Path) -> list[str]:
    return [
        p.name
        for p in folder.rglob("*")
        if p.name.startswith((".unpacking-", ".building-", ".stale-"))
        or p.name.endswith((".part", ".tmp"))
    ]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A registry entry 'toy' (toy.zip -> toy/) and an empty cache, full profile, no mirror."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setitem(
        sources.REGISTRY,
        "toy",
        sources.DataSource(
            "toy", "Toy", (Archive("toy.zip", None),), root="toy", homepage="https://example.org"
        ),
    )
    return tmp_path / "cache" / "toy"


def _corrupt_deflated_zip() -> bytes:
    data = bytearray(_zip({"a5_images/train/car/0000.jpg": bytes(range(256)) * 64}))
    start = data.index(b"a5_images/train/car/0000.jpg") + len("a5_images/train/car/0000.jpg")
    data[start + 10 : start + 40] = b"\xff" * 30  # inside the deflate stream: zlib fails on it
    return bytes(data)


# --- case 3: a corrupt deflated zip without checksum --------------------------------------


def test_a_corrupt_deflated_zip_is_an_archive_error_not_a_raw_zlib_error(tmp_path):
    path = tmp_path / "a5_images.zip"
    path.write_bytes(_corrupt_deflated_zip())
    with pytest.raises(zlib.error):  # the fault is real: plain zipfile raises zlib's error
        with zipfile.ZipFile(path) as archive:
            archive.testzip()
    with pytest.raises(ArchiveError, match="a5_images.zip cannot be read"):
        archives.verify_file(path, Archive("a5_images.zip", None))


def test_a_corrupt_cached_car_vs_other_zip_is_set_aside_and_the_sample_used(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_PROFILE", "sample")
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    folder = tmp_path / "cache" / "car_vs_other"
    folder.mkdir(parents=True)
    corrupt = _corrupt_deflated_zip()
    (folder / "a5_images.zip").write_bytes(corrupt)
    with pytest.warns(UserWarning, match="a5_images.zip is unusable"):
        fetched = car_vs_other.fetch_car_vs_other(allow_sample=True)
    assert fetched.source == "generated sample"
    assert (folder / "a5_images.zip.corrupt").read_bytes() == corrupt
    assert not (folder / "a5_images.zip").exists() and not (folder / "a5_images").exists()


# --- case 4: decoded-array caches ---------------------------------------------------------


def _fake_decode(paths, image_size=None, *, progress=True):
    """Stand-in decoder (no TensorFlow): image i is filled with the first byte of file i."""
    return np.stack([np.full((3, 2, 3), Path(p).read_bytes()[0], np.uint8) for p in paths])


@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.setattr(decode, "decode_images", _fake_decode)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(bytes([10 + i]))
    expected = np.stack([np.full((3, 2, 3), 10 + i, np.uint8) for i in range(6)])
    return paths, expected


def _damage_header(path):
    path.write_bytes(
        b"\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, 'sha"
        + b" " * 60
        + b"\n"
    )


def _truncate_header(path):
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '|u1'" + b" " * 20)


def _flip_one_pixel(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _other_shape_same_count(path):
    array = np.load(path)
    np.save(path, array.reshape(6, 2, 3, 3))  # same bytes, another shape


@pytest.mark.parametrize(
    "damage",
    [
        _damage_header,
        _truncate_header,
        lambda p: p.write_bytes(b""),
        _flip_one_pixel,
        _other_shape_same_count,
    ],
    ids=["bad header", "cut header", "zero bytes", "flipped pixel", "other shape"],
)
def test_a_damaged_decoded_cache_is_set_aside_with_one_warning_and_rebuilt(
    images, tmp_path, damage
):
    paths, expected = images
    assert np.array_equal(decode.cached_decode(paths, tmp_path, progress=False), expected)
    (cache_file,) = (tmp_path / ".decoded").glob("*.npy")
    damage(cache_file)
    with pytest.warns(UserWarning) as caught:
        again = decode.cached_decode(paths, tmp_path, progress=False)
    assert len(caught) == 1 and "moved it to" in str(caught[0].message)
    assert np.array_equal(again, expected)
    assert cache_file.with_name(cache_file.name + ".bad").is_file()
    assert np.array_equal(np.load(cache_file), expected)  # rebuilt, and sound
    assert json.loads(cache_file.with_suffix(".json").read_text())["crc32"] == zlib.crc32(
        expected.tobytes()
    )


def test_a_cache_without_sidecar_from_an_older_version_is_rebuilt_quietly(images, tmp_path):
    paths, expected = images
    decode.cached_decode(paths, tmp_path, progress=False)
    (cache_file,) = (tmp_path / ".decoded").glob("*.npy")
    np.save(cache_file, np.zeros_like(expected))  # unverifiable content: must not be returned
    cache_file.with_suffix(".json").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(decode.cached_decode(paths, tmp_path, progress=False), expected)
    assert (
        np.array_equal(np.load(cache_file), expected) and cache_file.with_suffix(".json").is_file()
    )


def test_an_unwritable_decoded_cache_only_warns_and_leaves_nothing(images, tmp_path, monkeypatch):
    paths, expected = images

    def refuse(folder, what=None):
        raise CacheNotWritableError(
            f"The data cache {folder} cannot be written (Read-only file system)."
        )

    monkeypatch.setattr(decode, "folder_lock", refuse)  # what a read-only folder raises
    with pytest.warns(UserWarning, match="Could not save the decoded-image cache"):
        result = decode.cached_decode(paths, tmp_path, progress=False)
    assert np.array_equal(result, expected)
    assert not (tmp_path / ".decoded").exists() or not any((tmp_path / ".decoded").iterdir())


def test_a_full_disk_while_saving_the_decoded_cache_only_warns_and_leaves_no_temp_file(
    images, tmp_path, monkeypatch
):
    paths, expected = images

    def full_disk(stream, array):
        stream.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(decode, "_save", full_disk)
    with pytest.warns(UserWarning, match="No space left on device"):
        result = decode.cached_decode(paths, tmp_path, progress=False)
    assert np.array_equal(result, expected)
    assert sorted(p.name for p in (tmp_path / ".decoded").iterdir()) == [".lock"]
    monkeypatch.undo()  # room again: the next load decodes and saves
    monkeypatch.setattr(decode, "decode_images", _fake_decode)
    assert np.array_equal(decode.cached_decode(paths, tmp_path, progress=False), expected)
    assert len(list((tmp_path / ".decoded").glob("*.npy"))) == 1


# --- case 6: SHA256SUMS, archives that will not unpack, full disks, unsafe entries --------

SUM = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize(
    "text",
    [
        f"{SUM}  a.zip\n",
        f"{SUM} *a.zip\n",
        f"{SUM}  ./a.zip\n",
        f"SHA256 (a.zip) = {SUM}\n",
        f"SHA256 (./a.zip) = {SUM.upper()}\n",
        f"\ufeff{SUM}  a.zip\r\n",
        f"# made by hand\n\n{SUM}  a.zip",
    ],
    ids=["gnu", "gnu binary", "dot slash", "bsd", "bsd dot slash upper", "bom crlf", "comment"],
)
def test_sha256sums_in_every_common_format_give_the_same_entry(tmp_path, text):
    (tmp_path / "SHA256SUMS").write_bytes(text.encode("utf-8"))
    assert archives.read_sha256sums(tmp_path) == {"a.zip": SUM}


@pytest.mark.parametrize(
    "data,match",
    [
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a text checksum list"),
        (b"hello world\n", "line 1: 'hello world' is not"),
        (f"{SUM[:-1]}  a.zip\n".encode(), "line 1"),
    ],
    ids=["binary", "prose", "short digest"],
)
def test_a_sha256sums_that_is_no_checksum_list_is_a_clear_error(tmp_path, data, match):
    (tmp_path / "SHA256SUMS").write_bytes(data)
    with pytest.raises(ArchiveError, match=match):
        archives.read_sha256sums(tmp_path)


def test_a_mirror_with_a_garbage_sha256sums_is_skipped_with_a_warning(toy, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.zip").write_bytes(_zip({"toy/a.bin": b"a"}))
    (mirror / "SHA256SUMS").write_bytes(b"\x00\xff garbage")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    monkeypatch.setattr(archives, "download", _offline)
    with (
        pytest.warns(UserWarning, match="mirror skipped"),
        pytest.raises(sources.DataNotFoundError, match="SHA256SUMS is not a text checksum list"),
    ):
        sources.fetch("toy")


def _offline(archive, destination):
    raise OSError(f"download of {archive.url} failed (offline test)")


def test_a_mirror_archive_vouched_for_but_not_unpackable_falls_through_to_the_next_source(
    toy, tmp_path, monkeypatch
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bad = _tar({"elsewhere/a.bin": b"a"})  # checksum right, content not the data set
    (mirror / "toy.zip").write_bytes(bad)
    (mirror / "SHA256SUMS").write_text(f"{hashlib.sha256(bad).hexdigest()}  toy.zip\n")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    good = _zip({"toy/a.bin": b"good"})

    def download(archive, destination):
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(good)
        return destination

    monkeypatch.setattr(archives, "download", download)
    with pytest.warns(UserWarning, match="do not contain toy/"):
        fetched = sources.fetch("toy")
    assert (fetched.source, (fetched.path / "a.bin").read_bytes()) == ("download", b"good")
    assert (mirror / "toy.zip").read_bytes() == bad  # a mirror's file is never moved


def test_a_full_disk_while_unpacking_is_reported_as_such_and_leaves_no_tree(toy, monkeypatch):
    toy.mkdir(parents=True)
    (toy / "toy.zip").write_bytes(_zip({f"toy/{i}.bin": bytes(2000) for i in range(5)}))
    real_copy = shutil.copyfileobj

    def copy_until_full(source, target, length=0):
        real_copy(io.BytesIO(source.read(100)), target)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", copy_until_full)
    with pytest.raises(DiskFullError, match=r"No space left on the disk of .*toy while unpacking"):
        sources.fetch("toy")
    assert not (toy / "toy").exists() and archives.read_marker(toy) is None
    assert _leftovers(toy) == [] and (toy / "toy.zip").is_file()  # the archive itself is kept


def test_an_archive_larger_than_the_free_space_fails_before_writing_anything(toy, monkeypatch):
    toy.mkdir(parents=True)
    (toy / "toy.zip").write_bytes(_zip({"toy/a.bin": bytes(5000)}))
    monkeypatch.setattr(unpacking, "disk_free", lambda folder: 1000)
    with pytest.raises(
        DiskFullError, match="to unpack toy: it needs 5,000 bytes and 1,000 bytes are free"
    ):
        sources.fetch("toy")
    assert sorted(p.name for p in toy.iterdir()) == [".lock", "toy.zip"]


@pytest.mark.parametrize(
    "name,data",
    [
        ("toy.tar", _tar({"toy/a.bin": b"a", "toy/../../escaped.bin": b"x"})),
        ("toy.zip", _zip({"toy/a.bin": b"a", "../escaped.bin": b"x"})),
        ("toy.tar", _tar({"toy/a.bin": b"a"}, links=[("toy/link", "/etc/passwd")])),
    ],
    ids=["tar dot-dot", "zip dot-dot", "tar absolute symlink"],
)
def test_an_entry_pointing_outside_its_folder_is_refused_as_unsafe(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="outside|absolute|link"):
        archives.unpack([path], tmp_path / "cache", "toy")
    assert not (tmp_path / "cache" / "toy").exists() and not (tmp_path / "escaped.bin").exists()
    assert _leftovers(tmp_path / "cache") == []


# --- case 7: the size limit ---------------------------------------------------------------


def test_an_archive_unpacking_past_its_limit_is_refused_before_extraction(tmp_path, monkeypatch):
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip({"toy/zeros.bin": bytes(3_000_000)}))
    assert path.stat().st_size < 10_000  # 3 MB of zeros in a few kB
    monkeypatch.setattr(unpacking, "UNPACK_FLOOR", 1_000_000)
    with pytest.raises(
        UnsafeArchiveError, match="would unpack to 3.0 MB, more than its limit of 1.0 MB"
    ):
        archives.unpack([path], tmp_path / "cache", "toy")
    assert not (tmp_path / "cache" / "toy").exists()
    # the registry's own limit is used when it has one
    with pytest.raises(UnsafeArchiveError, match="limit"):
        archives.unpack([path], tmp_path / "cache", "toy", limits=[2_999_999])
    assert archives.unpack([path], tmp_path / "cache", "toy", limits=[3_000_000]).is_dir()


def test_an_unpacked_tree_with_fewer_files_than_listed_is_never_marked(tmp_path, monkeypatch):
    path = tmp_path / "toy.zip"
    path.write_bytes(_zip({"toy/a.bin": b"a", "toy/b.bin": b"b"}))
    real_extract = zipfile.ZipFile.extractall

    def lose_one(self, folder, *args, **kwargs):
        real_extract(self, folder, *args, **kwargs)
        (Path(folder) / "toy" / "b.bin").unlink()  # a file lost on the way (a flaky disk)

    monkeypatch.setattr(zipfile.ZipFile, "extractall", lose_one)
    with pytest.raises(ArchiveError, match="list 2 files under toy/ but 1 were unpacked"):
        archives.unpack([path], tmp_path / "cache", "toy", marker={"origin": "test"})
    assert archives.read_marker(tmp_path / "cache") is None
    assert not (tmp_path / "cache" / "toy").exists()


# --- case 8: COURSE_DATA_DIR --------------------------------------------------------------


def test_a_course_data_dir_that_is_a_file_is_a_clear_error_naming_the_variable(
    tmp_path, monkeypatch
):
    (tmp_path / "afile").write_text("not a folder")
    for value in (tmp_path / "afile", tmp_path / "afile" / "below"):
        monkeypatch.setenv("COURSE_DATA_DIR", str(value))
        with pytest.raises(
            NotADirectoryError, match="COURSE_DATA_DIR=.*is \\(or lies under\\) a file"
        ):
            session.data_dir()


def test_a_relative_course_data_dir_is_taken_from_the_project_root_not_the_working_folder(
    tmp_path, monkeypatch
):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(paths, "repo_root", lambda: project)
    monkeypatch.setenv("COURSE_DATA_DIR", "cache/here")
    for folder in (elsewhere, project.parent):
        monkeypatch.chdir(folder)
        assert session.data_dir() == project / "cache" / "here"
    assert (project / "cache" / "here").is_dir() and not (elsewhere / "cache").exists()
