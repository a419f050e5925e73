"""Issue 15, case 5, and issue 13's URL lists: downloads from a local server that misbehaves.

A threaded HTTP server on 127.0.0.1 cuts, stalls, trickles and lies about the length. Every
misbehaviour is bounded in time (the handlers stop when the test ends), and the download
settings are short: a read may wait 0.5 s, a whole download 1.5 s.
"""

import errno
import hashlib
import io
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers.data import archives, sources
from helpers.data.archives import Archive, ArchiveError, DiskFullError

BODY = bytes(range(256)) * 40  # 10,240 bytes
MD5 = hashlib.md5(BODY).hexdigest()


class Handler(BaseHTTPRequestHandler):
    stop: threading.Event

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _head(self, length):
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self):
        path = self.path.rsplit("/", 1)[-1]
        if path == "good":
            self._head(len(BODY))
            self.wfile.write(BODY)
        elif path == "cut":  # promises all, sends half, hangs up
            self._head(len(BODY))
            self.wfile.write(BODY[: len(BODY) // 2])
        elif path == "stall":  # headers and a little, then silence
            self._head(len(BODY))
            self.wfile.write(BODY[:100])
            self.wfile.flush()
            self.stop.wait(5)
        elif path == "trickle":  # a byte every 0.1 s: never idle long enough for the read timeout
            self._head(len(BODY))
            for byte in BODY:
                if self.stop.wait(0.1):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        elif path == "short-length":  # says fewer bytes than the file has
            self._head(len(BODY) - 1000)
            self.wfile.write(BODY)
        elif path == "no-number-length":
            self.send_response(200)
            self.send_header("Content-Length", "many")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        else:
            self.send_error(404)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("COURSE_DOWNLOAD_TIMEOUT", "0.5")
    monkeypatch.setenv("COURSE_DOWNLOAD_DEADLINE", "1.5")
    stop = threading.Event()
    handler = type("BoundHandler", (Handler,), {"stop": stop})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _parts(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")] if folder.exists() else []


def test_a_good_server_gives_the_verified_file(server, tmp_path):
    target = tmp_path / "f.bin"
    archives.download(Archive("f.bin", server + "good", size=len(BODY), md5=MD5), target)
    assert target.read_bytes() == BODY and _parts(tmp_path) == []


@pytest.mark.parametrize(
    "path,reason",
    [
        ("cut", "promised 10,240 bytes and sent 5,120|IncompleteRead"),
        ("stall", "timed out"),
        ("trickle", "deadline"),
        ("missing", "404"),
    ],
)
def test_a_misbehaving_server_fails_in_bounded_time_with_the_reason_and_no_file(
    server, tmp_path, path, reason
):
    target = tmp_path / "f.bin"
    started = time.monotonic()
    with pytest.raises(OSError, match=f"download of {server}{path} failed .*({reason})"):
        archives.download(Archive("f.bin", server + path), target)
    assert time.monotonic() - started < 5  # the settings bound it: 0.5 s per read, 1.5 s in all
    assert not target.exists() and _parts(tmp_path) == []


def test_a_server_that_lies_with_a_short_length_is_caught_by_the_checksum(server, tmp_path):
    with pytest.raises(ArchiveError, match="delivered a bad file .*md5 checksum mismatch"):
        archives.download(Archive("f.bin", server + "short-length", md5=MD5), tmp_path / "f.bin")
    assert list(tmp_path.iterdir()) == []


def test_a_non_numeric_content_length_is_ignored_and_the_file_still_verified(server, tmp_path):
    target = tmp_path / "f.bin"
    archives.download(Archive("f.bin", server + "no-number-length", md5=MD5), target)
    assert target.read_bytes() == BODY


def test_urls_are_tried_in_order_until_one_delivers_a_verified_file(server, tmp_path):
    archive = Archive(
        "f.bin",
        server + "cut",
        md5=MD5,
        mirrors=(server + "missing", server + "short-length", server + "good"),
    )
    archives.download(archive, tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == BODY and _parts(tmp_path) == []


def test_when_every_url_fails_the_error_names_each_one_and_why(server, tmp_path):
    archive = Archive(
        "f.bin", server + "cut", md5=MD5, mirrors=(server + "missing", server + "short-length")
    )
    with pytest.raises(OSError) as caught:
        archives.download(archive, tmp_path / "f.bin")
    message = str(caught.value)
    for url in archive.urls:
        assert url in message
    assert "404" in message and "checksum mismatch" in message


def test_a_full_disk_during_a_download_is_reported_as_such_and_not_retried(
    server, tmp_path, monkeypatch
):
    calls = []

    def full(handle, chunk):
        calls.append(len(chunk))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archives, "_write", full)
    archive = Archive("f.bin", server + "good", mirrors=(server + "good",))
    with pytest.raises(
        DiskFullError, match="No space left on the disk of .* while downloading f.bin"
    ):
        archives.download(archive, tmp_path / "f.bin")
    assert len(calls) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0", "soon"])
def test_an_invalid_download_timeout_names_the_variable(monkeypatch, tmp_path, value):
    monkeypatch.setenv("COURSE_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(
        ValueError, match=f"COURSE_DOWNLOAD_TIMEOUT='{value}' must be a positive, finite"
    ):
        archives.download(Archive("f.bin", "http://127.0.0.1:9/f.bin"), tmp_path / "f.bin")
    monkeypatch.setenv("COURSE_DOWNLOAD_TIMEOUT", "2")
    monkeypatch.setenv("COURSE_DOWNLOAD_DEADLINE", value)
    with pytest.raises(ValueError, match="COURSE_DOWNLOAD_DEADLINE"):
        archives.download_deadline()


def test_two_downloads_of_one_file_write_separate_part_files(server, tmp_path, monkeypatch):
    seen = []
    real_stream = archives._stream

    def record(url, partial, *args):
        seen.append(partial.name)
        return real_stream(url, partial, *args)

    monkeypatch.setattr(archives, "_stream", record)
    threads = [
        threading.Thread(
            target=archives.download,
            args=(Archive("f.bin", server + "good", md5=MD5), tmp_path / "f.bin"),
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(set(seen)) == 2 and all(name.endswith(".part") for name in seen)
    assert (tmp_path / "f.bin").read_bytes() == BODY and _parts(tmp_path) == []


def test_voc2007_lists_the_official_url_then_public_mirrors_of_the_same_files():
    for archive in sources.REGISTRY["voc2007"].archives:
        assert (
            archive.urls[0] == f"http://host.robots.ox.ac.uk/pascal/VOC/voc2007/{archive.filename}"
        )
        assert f"https://pjreddie.com/media/files/{archive.filename}" in archive.urls
        assert len(set(archive.urls)) == len(archive.urls) >= 3
        assert all(url.endswith("/" + archive.filename) for url in archive.urls)


def test_fetch_gets_a_data_set_from_a_mirror_url_when_the_official_one_is_down(
    server, tmp_path, monkeypatch
):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("toy/a.bin", BODY)
    data = buffer.getvalue()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setattr(Handler, "do_GET", _serve_zip(data), raising=True)
    monkeypatch.setitem(
        sources.REGISTRY,
        "toy",
        sources.DataSource(
            "toy",
            "Toy",
            (
                Archive(
                    "toy.zip",
                    server + "down/toy.zip",
                    md5=hashlib.md5(data).hexdigest(),
                    mirrors=(server + "up/toy.zip",),
                ),
            ),
            root="toy",
            homepage="https://example.org",
        ),
    )
    fetched = sources.fetch("toy")
    assert fetched.source == "download" and (fetched.path / "a.bin").read_bytes() == BODY


def _serve_zip(data):
    def do_GET(self):
        if self.path.startswith("/up/"):
            self._head(len(data))
            self.wfile.write(data)
        else:
            self.send_error(503)

    return do_GET


def test_fetch_reports_a_full_disk_during_a_download_instead_of_falling_back(
    server, tmp_path, monkeypatch
):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setattr(archives, "_write", _full_disk)
    monkeypatch.setitem(
        sources.REGISTRY,
        "toy",
        sources.DataSource(
            "toy",
            "Toy",
            (Archive("toy.zip", server + "good"),),
            root="toy",
            homepage="https://x.org",
        ),
    )
    with pytest.raises(DiskFullError, match="while downloading toy.zip"):
        sources.fetch("toy", allow_sample=False)
    assert sorted(p.name for p in (tmp_path / "cache" / "toy").iterdir()) == [".lock"]


def _full_disk(handle, chunk):
    raise OSError(errno.ENOSPC, "No space left on device")
