"""Tests of helpers.data.archives: checksums, verification, downloads and unpacking."""

import hashlib
import io
import tarfile
import zipfile

import pytest

from helpers.data import archives
from helpers.data.archives import Archive, ArchiveError


def _zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_file_digest_matches_hashlib_on_a_multi_chunk_file(tmp_path):
    data = bytes(range(256)) * 9000  # > 2 MiB, so several chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert archives.file_digest(path, "sha256") == hashlib.sha256(data).hexdigest()
    assert archives.file_digest(path, "md5") == hashlib.md5(data).hexdigest()


def test_verify_rejects_a_checksum_mismatch_and_accepts_the_right_one(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(_zip_bytes({"top/x.txt": b"x"}))
    right = hashlib.md5(path.read_bytes()).hexdigest()
    archives.verify_file(path, Archive("a.zip", None, md5=right))
    with pytest.raises(ArchiveError, match="md5 checksum mismatch"):
        archives.verify_file(path, Archive("a.zip", None, md5="0" * 32))


def test_a_mirror_sha256_replaces_the_official_size_check(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(_zip_bytes({"top/x.txt": b"x"}))
    official = Archive("a.zip", None, size=10**9)
    archives.verify_file(path, official, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ArchiveError, match="bytes, expected"):
        archives.verify_file(path, official)


@pytest.mark.parametrize("name,maker", [("a.zip", _zip_bytes), ("a.tar", _tar_bytes)])
def test_a_truncated_archive_without_checksum_fails_verification(tmp_path, name, maker):
    data = maker({"top/big.bin": bytes(range(256)) * 400})
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError):
        archives.verify_file(path, Archive(name, None))


def test_read_sha256sums_parses_text_and_binary_mode_lines(tmp_path):
    one, two = hashlib.sha256(b"1").hexdigest(), hashlib.sha256(b"2").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{one.upper()}  one.zip\n{two} *two.tar\n\n")
    assert archives.read_sha256sums(tmp_path) == {"one.zip": one, "two.tar": two}
    assert archives.read_sha256sums(tmp_path / "nowhere") == {}


def test_download_streams_a_file_url_and_verifies_it(tmp_path):
    source = tmp_path / "remote.zip"
    source.write_bytes(_zip_bytes({"top/x.txt": b"hello"}))
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    target = tmp_path / "cache" / "remote.zip"
    archives.download(
        Archive("remote.zip", source.as_uri(), size=source.stat().st_size, md5=md5), target
    )
    assert target.read_bytes() == source.read_bytes()
    assert not target.with_name("remote.zip.part").exists()


def test_a_download_with_the_wrong_checksum_leaves_no_file(tmp_path):
    source = tmp_path / "remote.zip"
    source.write_bytes(_zip_bytes({"top/x.txt": b"hello"}))
    target = tmp_path / "cache" / "remote.zip"
    with pytest.raises(ArchiveError):
        archives.download(Archive("remote.zip", source.as_uri(), md5="0" * 32), target)
    assert list((tmp_path / "cache").iterdir()) == []


def test_download_of_an_unreachable_url_fails_fast_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DOWNLOAD_TIMEOUT", "2")
    with pytest.raises(OSError, match="download of http://nonexistent.invalid/x.zip failed"):
        archives.download(Archive("x.zip", "http://nonexistent.invalid/x.zip"), tmp_path / "x.zip")


def test_unpack_merges_two_tars_into_one_root_and_marker_round_trips(tmp_path):
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    first.write_bytes(_tar_bytes({"root/x/1.txt": b"1"}))
    second.write_bytes(_tar_bytes({"root/y/2.txt": b"2"}))
    root = archives.unpack([first, second], tmp_path / "cache", "root")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.txt")) == [
        "x/1.txt",
        "y/2.txt",
    ]
    assert archives.read_marker(tmp_path / "cache") is None
    archives.write_marker(tmp_path / "cache", {"origin": "mirror"})
    assert archives.read_marker(tmp_path / "cache") == {"origin": "mirror"}


def test_unpack_refuses_an_archive_without_the_expected_root(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(_zip_bytes({"elsewhere/x.txt": b"x"}))
    with pytest.raises(ArchiveError, match="do not contain root/"):
        archives.unpack([path], tmp_path / "cache", "root")
    assert not (tmp_path / "cache" / "root").exists()
