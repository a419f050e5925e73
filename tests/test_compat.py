"""The declared version floors are the ones `make compat` tests, and the code checks."""

import re
import tomllib
from pathlib import Path

from helpers.session import setup

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _pins(path):
    lines = (ROOT / path).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_every_declared_floor_is_the_version_pinned_in_constraints_floors():
    floors = {}
    for requirement in _pyproject()["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
        floors[name] = version
    pinned = _pins("constraints/floors.txt")
    assert set(floors) == set(pinned)
    for name, floor in floors.items():  # 2.19 is pinned as 2.19.0
        assert pinned[name].split(".")[: len(floor.split("."))] == floor.split("."), name


def test_the_python_of_each_constraint_set_meets_requires_python():
    minimum = _pyproject()["requires-python"].removeprefix(">=")
    for path in (ROOT / "constraints").glob("*.txt"):
        python = re.search(r"^# python: python(3\.\d+)$", path.read_text(), re.M).group(1)
        assert tuple(map(int, python.split("."))) >= tuple(map(int, minimum.split("."))), path


def test_setup_notebooks_version_check_refuses_exactly_what_the_floors_exclude():
    floors = {
        name: tuple(int(p) for p in version.split(".")[:2])
        for name, version in _pins("constraints/floors.txt").items()
    }
    assert setup.MIN_TENSORFLOW == floors["tensorflow"]
    assert setup.MIN_KERAS == floors["keras"]
