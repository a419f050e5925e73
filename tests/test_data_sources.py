"""helpers.data.sources: the resolution order of fetch, corrupt files, the offline error."""

import hashlib
import io
import os
import zipfile

import pytest

from helpers.data import archives, sources
from helpers.data.archives import Archive
from helpers.data.sources import DataNotFoundError, DataSource


def _toy_zip(path, text=b"data"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("toy-root/inside.txt", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache, no mirror, full profile, and a registry entry 'toy' with a real URL."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    official = _toy_zip(tmp_path / "official" / "toy.zip", b"official")
    toy = DataSource(
        "toy",
        "Toy set",
        (
            Archive(
                "toy.zip",
                official.as_uri(),
                size=official.stat().st_size,
                md5=hashlib.md5(official.read_bytes()).hexdigest(),
            ),
        ),
        root="toy-root",
        homepage="https://example.org/toy",
    )
    monkeypatch.setitem(sources.REGISTRY, "toy", toy)
    return tmp_path


def _no_network(monkeypatch):
    def fail(archive, destination):
        raise OSError(f"download of {archive.url} failed (no network in this test)")

    monkeypatch.setattr(archives, "download", fail)


def test_fetch_downloads_then_unpacks_once_and_reports_cache_afterwards(env):
    first = sources.fetch("toy")
    assert (first.source, first.origin, first.is_subset) == ("download", "download", False)
    assert (first.path / "inside.txt").read_bytes() == b"official"
    second = sources.fetch("toy")
    assert (second.source, second.origin) == ("cache", "download")
    assert second.path == first.path


def test_fetch_uses_a_mirror_archive_checked_against_its_sha256sums(env, monkeypatch):
    _no_network(monkeypatch)
    mirror = env / "mirror"
    subset = _toy_zip(mirror / "toy.zip", b"subset")
    (mirror / "SHA256SUMS").write_text(
        f"{hashlib.sha256(subset.read_bytes()).hexdigest()}  toy.zip\n"
    )
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    fetched = sources.fetch("toy")
    assert fetched.source == "mirror"
    assert fetched.is_subset  # its size differs from the official archive's
    assert (fetched.path / "inside.txt").read_bytes() == b"subset"


def test_a_mirror_file_failing_its_checksum_is_reported_and_skipped(env, monkeypatch):
    mirror = env / "mirror"
    _toy_zip(mirror / "toy.zip", b"tampered")
    (mirror / "SHA256SUMS").write_text("0" * 64 + "  toy.zip\n")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    with pytest.warns(UserWarning, match="sha256 checksum mismatch"):
        fetched = sources.fetch("toy")
    assert fetched.source == "download"
    assert (fetched.path / "inside.txt").read_bytes() == b"official"


def test_a_truncated_cached_archive_is_set_aside_and_fetched_again(env):
    cached = _toy_zip(env / "cache" / "toy" / "toy.zip", b"official")
    cached.write_bytes(cached.read_bytes()[:40])
    with pytest.warns(UserWarning, match="unusable"):
        fetched = sources.fetch("toy")
    assert fetched.source == "download"
    assert (env / "cache" / "toy" / "toy.zip.corrupt").stat().st_size == 40
    assert (fetched.path / "inside.txt").read_bytes() == b"official"


def test_an_interrupted_unpacking_is_not_taken_for_a_cache_hit(env):
    (env / "cache" / "toy" / "toy-root").mkdir(parents=True)  # folder without the marker
    assert sources.fetch("toy").source == "download"


def test_offline_error_names_the_set_every_place_and_the_remedies(env, monkeypatch):
    _no_network(monkeypatch)
    with pytest.raises(DataNotFoundError) as caught:
        sources.fetch("toy")
    message = str(caught.value)
    cache = os.path.join(str(env), "cache", "toy")
    for expected in (
        "Toy set ('toy')",
        f"cache: {cache}",
        "mirror: COURSE_DATA_MIRROR is unset",
        "download of file://",
        "only with allow_sample=True",
        "COURSE_DATA_MIRROR",
        os.path.join(cache, "toy.zip"),
        "COURSE_PROFILE=sample",
    ):
        assert expected in message, expected
    assert message.count("No data found") == 1


def test_a_smoke_run_prefers_a_mirror_and_never_downloads(env, monkeypatch):
    calls = []
    monkeypatch.setattr(archives, "download", lambda *args: calls.append(args))
    mirror = env / "mirror"
    subset = _toy_zip(mirror / "toy.zip", b"subset")
    (mirror / "SHA256SUMS").write_text(
        f"{hashlib.sha256(subset.read_bytes()).hexdigest()}  toy.zip\n"
    )
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    assert sources.fetch("toy", allow_sample=True).source == "mirror"
    assert calls == []


def test_allow_sample_falls_back_to_a_generated_sample_kept_apart(env, monkeypatch):
    _no_network(monkeypatch)
    fetched = sources.fetch("urban_tribes", allow_sample=True)
    assert fetched.source == "generated sample" and fetched.is_subset
    assert fetched.path == env / "cache" / "samples" / "urban_tribes" / "pictures_all"
    assert len(list(fetched.path.glob("*.jpg"))) == 11 * 64
    # Without allow_sample the sample is never picked up, whatever the profile: the notebook
    # decides, the data layer does not read COURSE_PROFILE.
    for profile in ("full", "sample"):
        monkeypatch.setenv("COURSE_PROFILE", profile)
        with pytest.raises(DataNotFoundError):
            sources.fetch("urban_tribes")


def test_system_copies_are_used_in_place_for_plain_files(env, monkeypatch):
    system = env / "system"
    system.mkdir()
    entry = sources.REGISTRY["fashion_mnist"]
    for archive in entry.archives:
        (system / archive.filename).write_bytes(b"x")
    monkeypatch.setitem(
        sources.REGISTRY,
        "fashion_mnist",
        DataSource(**{**entry.__dict__, "system_dirs": (str(system),)}),
    )
    fetched = sources.fetch("fashion_mnist")
    assert (fetched.source, fetched.path) == ("system", system)


def test_every_registry_entry_names_its_archives_and_root():
    for name, entry in sources.REGISTRY.items():
        assert entry.name == name and entry.root and entry.archives
        for archive in entry.archives:
            assert archive.url is None or archive.url.startswith(("http://", "https://"))
    assert sources.REGISTRY["tiny_imagenet"].archives[0].size == 248_100_043
    assert [a.md5 for a in sources.REGISTRY["voc2007"].archives] == [
        "c52e279531787c972589f7e41ab4ae64",
        "b6e924de25625d8de591ea690078ad9f",
    ]


@pytest.mark.skipif(
    not os.environ.get("COURSE_DATA_MIRROR"),
    reason="COURSE_DATA_MIRROR is unset: no local mirror to check against",
)
def test_the_real_mirror_archive_unpacks_to_its_zip_listing(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    fetched = sources.fetch("car_vs_other")
    assert fetched.source == "mirror"
    mirror_zip = os.path.join(os.environ["COURSE_DATA_MIRROR"], "a5_images.zip")
    listed = sorted(n for n in zipfile.ZipFile(mirror_zip).namelist() if not n.endswith("/"))
    unpacked = sorted(
        p.relative_to(fetched.path.parent).as_posix()
        for p in fetched.path.rglob("*")
        if p.is_file()
    )
    assert unpacked == listed
