"""What the tests of the hidden-test modules (tests/test_verdicts_nb*.py) share.

- :func:`master_points`: a master's points per auto-graded question, read from its raw cells;
- :func:`sandboxed_setup`: the release and the grading setup of a sandboxed test run;
- :func:`verdict`: a hidden case's code run in this process, as the grading kernel would, the
  namespace standing in for the student's kernel (the master's reference functions, or a
  deliberately wrong variant), and ``case.check`` deciding.
"""

import os
import sys
from pathlib import Path

import nbformat
import numpy as np
import yaml

from instructor import release
from instructor.grading import sandbox, verdicts


def master_points(master: Path) -> dict:
    """{question: points} of the master's auto-graded questions, read from its raw cells."""
    found = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(cell.source)
            if not config.get("manual"):
                found[config["name"]] = config["points"]
    return found


def sandboxed_setup(master: Path, tmp_path: Path, seconds: float) -> verdicts.Setup:
    """Release ``master`` into ``tmp_path/dist`` and build the setup that grades it in the
    sandbox: the course wheel unpacked, this venv, the mirror when COURSE_DATA_MIRROR names one."""
    release.release_notebook(master, tmp_path / "dist")
    site = verdicts.unpack_wheel(release.build_wheel(tmp_path / "wheel"), tmp_path / "site")
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    return verdicts.Setup(
        venv=Path(sys.prefix),
        course_site=site,
        limits=sandbox.Limits(seconds=seconds),
        cell_timeout=seconds / 2,
        mirror=Path(mirror) if mirror and Path(mirror).is_dir() else None,
    )


def plain(value):
    """A case's ``result`` as ``{key: array}``, the way the grading runner saves it."""
    values = value if isinstance(value, dict) else {"value": value}
    got = {}
    for key, one in values.items():
        if hasattr(one, "numpy"):
            one = one.numpy()
        got[key] = np.asarray(one)
        assert not got[key].dtype.hasobject, (key, type(one))
    return got


def verdict(case, namespace, hidden):
    """ "" when ``case`` passes with ``namespace`` as the kernel's globals, else the reason."""
    scope = dict(namespace)
    scope.update({key: np.asarray(value) for key, value in case.inputs.items()})
    try:
        exec(compile(case.code, f"<case {case.name}>", "exec"), scope)
        got = plain(scope["result"])
    except Exception as error:  # noqa: BLE001 - a failing answer fails the case
        return f"{type(error).__name__}: {error}"
    return case.check(got, hidden.expected[case.name], hidden.reference) or ""
