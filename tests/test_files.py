"""helpers.session.files: atomic writes leave a complete file or the old one, never a temp file."""

import json

import numpy as np
import pytest

from helpers.session.files import atomic_write, save_npy_atomic, write_json_atomic


class Boom(Exception):
    pass


def test_a_successful_write_leaves_the_complete_file_and_nothing_else(tmp_path):
    target = tmp_path / "data.bin"
    with atomic_write(target) as file:
        file.write(b"x" * 100_000)
        assert not target.exists()  # not under the final name while being written
    assert target.read_bytes() == b"x" * 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "data.json"
    target.write_text('{"old": true}')
    with pytest.raises(Boom):
        with atomic_write(target, "w") as file:
            file.write('{"new": ')
            raise Boom
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_a_failure_of_the_first_write_leaves_the_folder_empty(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "a.json", {"not json": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="its folder .*missing.* does not exist"):
        write_json_atomic(tmp_path / "missing" / "a.json", {})
    assert list(tmp_path.iterdir()) == []


def test_the_temp_file_carries_the_suffix_and_lives_in_the_target_folder(tmp_path):
    with atomic_write(tmp_path / "a.bin", suffix=".tmp") as file:
        names = [p.name for p in tmp_path.iterdir()]
    assert names == [file.name.rsplit("/", 1)[-1]] and names[0].endswith(".tmp")


def test_json_and_npy_conveniences_round_trip(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"b": [1, 2]}, sort_keys=True)
    assert json.loads((tmp_path / "a.json").read_text()) == {"b": [1, 2]}
    save_npy_atomic(tmp_path / "a.npy", np.eye(2, dtype="float32"))
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.eye(2))
    with pytest.raises(ValueError):
        save_npy_atomic(tmp_path / "b.npy", np.array([{}], dtype=object))  # no pickles
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy"]


def test_only_whole_file_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "a", "ab"):
            pass
