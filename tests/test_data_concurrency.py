"""Issue 15, cases 1, 2 and 7: processes sharing one data cache, and what killed ones leave.

Real processes (not threads), started together round after round on an empty cache; every
round's result is checked file by file against the archive the test wrote.
"""

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers.data import archives, car_vs_other, sources
from helpers.data.archives import Archive

WORKER = Path(__file__).with_name("_data_worker.py")
ROOT = Path(__file__).resolve().parent.parent
#: Car classes and other vehicles, written out here (not taken from the module under test).
CARS = ["n02814533", "n03100240", "n03670208", "n03977966", "n04285008"]
VEHICLES = [
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
]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _mirror(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return folder


def _run_rounds(tmp_path, mode, workers, rounds, env):
    """Start the workers once, release them together each round, return every round's results."""
    base = tmp_path / "rounds"
    base.mkdir()
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), mode, str(base), str(rounds), str(w)],
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    results = []
    try:
        for round_ in range(rounds):
            (base / f"go{round_}").touch()
            wanted = [base / f"r{round_}-w{w}.json" for w in range(workers)]
            stop_at = time.monotonic() + 60
            while not all(path.exists() for path in wanted):
                assert time.monotonic() < stop_at, "workers did not finish within 60 s"
                assert all(p.poll() in (None, 0) for p in processes), [
                    p.stderr.read() for p in processes if p.poll()
                ]
                time.sleep(0.01)
            results.append([json.loads(path.read_text()) for path in wanted])
    finally:
        for process in processes:
            process.wait(timeout=30)
    return base, results


def _leftovers(folder: Path) -> list[str]:
    return [
        p.name
        for p in folder.rglob("*")
        if p.name.startswith((".unpacking-", ".building-", ".stale-"))
        or p.name.endswith((".part", ".tmp"))
    ]


def test_three_processes_loading_one_data_set_into_an_empty_cache_all_get_the_same_full_tree(
    tmp_path,
):
    members = {
        f"toy/class{c}/{i:03d}.bin": bytes([c, i % 256]) * (50 + i)
        for c in range(4)
        for i in range(60)
    }
    mirror = _mirror(tmp_path / "mirror", {"toy.zip": _zip(members)})
    # the decoded array the stand-in decoder must give, computed here from the archive's bytes
    expected_images = np.stack(
        [
            np.frombuffer((d := hashlib.sha256(members[name]).digest()) + d[:16], np.uint8).reshape(
                4, 4, 3
            )
            for name in sorted(members)
        ]
    )
    base, results = _run_rounds(
        tmp_path,
        "load",
        workers=3,
        rounds=3,
        env={"COURSE_DATA_MIRROR": str(mirror), "COURSE_PROFILE": "full"},
    )
    for round_, outcome in enumerate(results):
        assert all(result["ok"] for result in outcome), [r.get("error") for r in outcome]
        assert {result["images_sha256"] for result in outcome} == {
            hashlib.sha256(expected_images).hexdigest()
        }
        tree = base / f"round{round_}" / "toy" / "toy"
        found = {p.relative_to(tree.parent).as_posix(): p.read_bytes() for p in tree.rglob("*.bin")}
        assert found == members  # every file, byte for byte, and nothing else
        assert archives.read_marker(tree.parent)["files"] == len(members)
        assert _leftovers(base / f"round{round_}") == []


def test_two_processes_building_car_vs_other_get_one_complete_tree_with_cars(tmp_path):
    others = [f"n0{i:07d}" for i in range(1, 9)]
    wnids = CARS + VEHICLES[:2] + others
    members = {
        "tiny-imagenet-200/wnids.txt": "\n".join(wnids).encode(),
        "tiny-imagenet-200/words.txt": b"",
    }
    for wnid in wnids:
        for i in range(6):
            members[f"tiny-imagenet-200/train/{wnid}/images/{wnid}_{i}.JPEG"] = (
                f"{wnid}/{i}".encode() * 40
            )
    mirror = _mirror(tmp_path / "mirror", {"tiny-imagenet-200.zip": _zip(members)})
    base, results = _run_rounds(
        tmp_path,
        "build",
        workers=2,
        rounds=3,
        env={"COURSE_DATA_MIRROR": str(mirror), "COURSE_PROFILE": "full"},
    )
    for round_, outcome in enumerate(results):
        assert all(result["ok"] for result in outcome), [r.get("error") for r in outcome]
        assert sorted(result["source"] for result in outcome) == [
            "built from Tiny ImageNet",
            "cache",
        ]
        tree = base / f"round{round_}" / "car_vs_other" / "a5_images"
        origins = {}
        for line in (tree / "SOURCES.tsv").read_text().splitlines():
            name, wnid, original = line.split("\t")
            # each copy is byte for byte the Tiny ImageNet file it names
            assert (tree / name).read_bytes() == members[
                f"tiny-imagenet-200/train/{wnid}/images/{original}"
            ]
            origins[name] = wnid
        files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.jpg"))
        assert files == sorted(origins)
        cars = [n for n in files if "/car/" in n]
        assert len(cars) == 6 * len(CARS) and all(origins[n] in CARS for n in cars)
        assert len(files) - len(cars) == 6 * len(others)
        assert not any(origins[n] in VEHICLES for n in files)
        assert _leftovers(base / f"round{round_}") == []


def _toy_registry(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setitem(
        sources.REGISTRY,
        "toy",
        sources.DataSource(
            "toy", "Toy", (Archive("toy.zip", None),), root="toy", homepage="https://example.org"
        ),
    )


def test_leftovers_of_a_killed_process_are_removed_only_once_its_lock_is_gone(
    tmp_path, monkeypatch
):
    _toy_registry(monkeypatch, tmp_path)
    folder = tmp_path / "cache" / "toy"
    folder.mkdir(parents=True)
    (folder / "toy.zip").write_bytes(_zip({"toy/a.bin": b"a" * 100}))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time, pathlib; from filelock import FileLock\n"
                "folder = pathlib.Path(sys.argv[1]); lock = FileLock(folder / '.lock'); "
                "lock.acquire()\n"
                "(folder / '.unpacking-live').mkdir(); "
                "(folder / '.toy.zip.x.part').write_bytes(b'1')\n"
                "print('held', flush=True); time.sleep(30)"
            ),
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        outcome = {}
        worker = threading.Thread(target=lambda: outcome.update(fetched=sources.fetch("toy")))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            worker.start()
            stop_at = time.monotonic() + 30
            while not any("Waiting for another process" in str(w.message) for w in caught):
                assert time.monotonic() < stop_at, "the fetch never said it was waiting"
                time.sleep(0.05)  # the fetch waits on the lock, past its quiet wait
        assert worker.is_alive() and (folder / ".unpacking-live").is_dir()
    finally:
        holder.send_signal(signal.SIGKILL)  # killed, as a crashed kernel would be
        holder.wait(timeout=10)
    worker.join(timeout=20)
    assert outcome["fetched"].path == folder / "toy"
    assert (folder / "toy" / "a.bin").read_bytes() == b"a" * 100
    assert _leftovers(folder) == []


def test_an_unmarked_tree_and_staging_folders_of_an_earlier_crash_are_replaced_by_a_full_unpack(
    tmp_path, monkeypatch
):
    _toy_registry(monkeypatch, tmp_path)
    folder = tmp_path / "cache" / "toy"
    (folder / "toy").mkdir(parents=True)
    (folder / "toy" / "half.bin").write_bytes(b"half")  # a crash after the move, before the marker
    (folder / ".unpacking-old" / "toy").mkdir(parents=True)
    (folder / "a5_images.zip.123.tmp").write_bytes(b"x")
    (folder / "toy.zip").write_bytes(_zip({"toy/a.bin": b"a", "toy/b/c.bin": b"c"}))
    fetched = sources.fetch("toy")
    assert sorted(
        p.relative_to(fetched.path).as_posix() for p in fetched.path.rglob("*") if p.is_file()
    ) == ["a.bin", "b/c.bin"]
    assert _leftovers(folder) == []


def test_a_marked_car_vs_other_tree_with_missing_files_is_rebuilt_not_trusted(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    tiny = tmp_path / "tiny"
    for wnid in CARS[:1] + ["n00000001"]:
        (tiny / "train" / wnid / "images").mkdir(parents=True)
        for i in range(3):
            (tiny / "train" / wnid / "images" / f"{wnid}_{i}.JPEG").write_bytes(
                wnid.encode() + bytes([i])
            )
    (tiny / "wnids.txt").write_text(f"{CARS[0]}\nn00000001\n")
    folder = tmp_path / "cache" / "car_vs_other"
    with pytest.warns(UserWarning, match="only 3"):
        car_vs_other.build_from_tiny_imagenet(
            tiny, folder, marker={"origin": "test", "is_subset": True}
        )
    assert sources.from_marker("car_vs_other", folder, "cache") is not None
    victim = next((folder / "a5_images" / "train" / "car").iterdir())
    victim.unlink()
    assert sources.from_marker("car_vs_other", folder, "cache") is None
