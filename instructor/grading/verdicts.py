"""Verdicts decided outside the student's kernel: the hidden-test format and the grading of one
submission.

Why otter's own scoring is not used for verdicts: ``otter run`` executes the tests inside the
student's kernel and reads their results back from objects living in that kernel, so a submission
can patch otter's result classes (or ``gc.get_objects()`` its way to them) and score full marks
with no answers, and the hidden tests must be on disk where the submission can read them. Otter
stays what it is good at: the assignment format (``otter assign``, the student version, the
public ``grader.check`` cells).

How a verdict is produced:

1. The submission runs in the sandbox (:mod:`instructor.grading.sandbox`) through
   :mod:`instructor.grading.runner`: all its cells, then one call per :class:`Case` (the case's
   ``code`` with inputs the grader chose, saved as ``.npy``).
2. The kernel sends back plain data only: ``.npy`` files (read here with size limits, no symlinks
   and ``allow_pickle=False``) and a small JSON manifest.
3. Here, in the grader's own process, ``case.expected(reference, inputs)`` computes the expected
   value from the master notebook's reference solutions (read from the instructor's checkout,
   never shipped in the student wheel nor shown to the sandbox), and ``case.check`` compares.

The hidden cases of a notebook are declared in ``instructor/grading/hidden/nb<NN>.py`` (see
``nb03.py``): ``NOTEBOOK`` (its stem), ``REFERENCE`` (names of solution functions to take from
the master), ``PRELUDE`` (imports and constants those functions use) and ``cases()``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import types
import zipfile
from pathlib import Path
from typing import Any, Callable

import nbformat
import numpy as np

from instructor.grading import DEFAULT_PROFILE, sandbox

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("runner.py")
MAX_RESULT_BYTES = 64 * 2**20  # one .npy of a case's result
MAX_JSON_BYTES = 2**20

Check = Callable[[dict, Any, types.SimpleNamespace], "str | None"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One named test of a question, scored outside the kernel.

    Attributes
    ----------
    name : unique in its notebook; names the row of the case report.
    question : the question (``# BEGIN QUESTION`` name) the points go to.
    points : awarded when ``check`` passes.
    code : run in the student's kernel after the notebook (its names are visible, plus
        ``inputs``); sets ``result``: a value or a dict of values (numbers / arrays / tensors).
    check : ``(got, expected, reference) -> None`` when right, else the reason (one line).
        ``got`` is ``{key: np.ndarray}`` (key ``"value"`` when ``result`` was not a dict).
    expected : ``(reference, inputs) -> value`` computed in the grader; None: not needed.
    inputs : arrays the grader chooses, passed to ``code`` under these names.
    public : True when it mirrors a public test (the student saw this case).
    tripwires : dotted names of course routines (``helpers.retrieval.knn``) the question asks
        the student to write from scratch: while the case runs they raise instead, so an answer
        that delegates to them earns nothing and the feedback says why. A teaching signal, not
        a security boundary (it runs in the student's kernel).
    """

    name: str
    question: str
    points: float
    code: str
    check: Check
    expected: Callable[[types.SimpleNamespace, dict], Any] | None = None
    inputs: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    public: bool = False
    tripwires: tuple[str, ...] = ()


# ---- comparisons ----


def allclose(
    rtol: float = 1e-7, atol: float = 0.0, key: str = "value", equal_nan: bool = False
) -> Check:
    """A check: ``got[key]`` has the expected shape and values within the tolerances."""

    def check(got, expected, reference):
        value = np.asarray(got[key], dtype=np.float64)
        want = np.asarray(
            expected if not isinstance(expected, dict) else expected[key], dtype=np.float64
        )
        if value.shape != want.shape:
            return f"{key}: shape {value.shape}, expected {want.shape}"
        if not np.allclose(value, want, rtol=rtol, atol=atol, equal_nan=equal_nan):
            worst = np.nanmax(np.abs(value - want)) if value.size else 0.0
            return f"{key}: values differ from the reference (largest difference {worst:.3g})"
        return None

    return check


def all_of(*checks: Check) -> Check:
    """A check that passes when every one of ``checks`` does (the first failure is reported)."""

    def check(got, expected, reference):
        for one in checks:
            reason = one(got, expected, reference)
            if reason:
                return reason
        return None

    return check


def each_key(rtol: float = 1e-7, atol: float = 0.0, equal_nan: bool = False) -> Check:
    """``allclose`` on every key of a dict ``expected``."""

    def check(got, expected, reference):
        return all_of(*(allclose(rtol, atol, key, equal_nan) for key in expected))(
            got, expected, reference
        )

    return check


# ---- reference solutions, from the master notebook ----


def solution_sources(master: nbformat.NotebookNode) -> list[str]:
    """The code cells inside ``# BEGIN SOLUTION`` / ``# END SOLUTION`` raw cells."""
    sources, inside = [], False
    for cell in master.cells:
        head = cell.source.strip().upper()
        if cell.cell_type == "raw" and head.startswith("# BEGIN SOLUTION"):
            inside = True
        elif cell.cell_type == "raw" and head.startswith("# END SOLUTION"):
            inside = False
        elif inside and cell.cell_type == "code":
            sources.append(cell.source)
    return sources


def reference_functions(master_path: Path, names: list[str], prelude: str) -> types.SimpleNamespace:
    """The master's solution functions ``names``, defined after ``prelude`` in a fresh namespace.

    Only the ``def`` statements are taken (a solution cell that trains a model is not run).
    """
    master = nbformat.read(master_path, as_version=4)
    found = {}
    for source in solution_sources(master):
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name in names:
                found[node.name] = ast.get_source_segment(source, node)
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValueError(
            f"{master_path.name}: no solution function {missing} in its "
            "# BEGIN SOLUTION cells; fix REFERENCE in its hidden-test module."
        )
    namespace: dict = {}
    exec(compile(prelude, f"<prelude of {master_path.name}>", "exec"), namespace)
    for name in names:
        exec(compile(found[name], f"<{master_path.name}: {name}>", "exec"), namespace)
    return types.SimpleNamespace(**{name: namespace[name] for name in names})


# ---- plain data from the sandbox ----


def read_plain(path: Path, limit: int) -> bytes | None:
    """A regular file's bytes, or None (missing, a symlink, not regular, or over ``limit``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        return file.read(limit + 1)[:limit]


def read_json(path: Path) -> dict | None:
    data = read_plain(path, MAX_JSON_BYTES)
    try:
        value = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_result(out: Path, name: str) -> tuple[dict[str, np.ndarray] | None, str]:
    """A case's values as ``{key: array}`` (or None) and why they are missing."""
    manifest = read_json(out / f"{name}.json")
    if manifest is None:
        return None, "no result (the notebook did not get this far, or its kernel died)"
    if manifest.get("error"):
        return None, str(manifest["error"])[:300]
    got = {}
    for key in manifest.get("keys", [])[:32]:
        key = str(key)
        if not re.fullmatch(r"[A-Za-z0-9_]+", key):
            return None, f"result key {key!r} is not a plain name"
        data = read_plain(out / f"{name}.{key}.npy", MAX_RESULT_BYTES)
        if data is None:
            return None, f"result {key!r} is missing or larger than the limit"
        try:
            got[key] = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            return None, f"result {key!r} is not a plain array ({error})"[:300]
    return got, ""


# ---- flags: an extra layer only, never a verdict ----

FLAGS = {
    "otter-internals": r"otter\s*\.\s*(test_files|run|execute|grade|check)\b|TestFileResult|"
    r"GradingResults|from\s+otter\b",
    "gc-objects": r"gc\s*\.\s*get_(objects|referrers|referents)",
    "subclasses": r"__subclasses__",
    "frames": r"sys\s*\.\s*_getframe|inspect\s*\.\s*(currentframe|stack)|f_back|f_globals",
    "ctypes": r"\bctypes\b",
    "grading-paths": r"/grading\b|__grading_call|autograder|status\.json",
    "signals": r"os\s*\.\s*kill|killpg|pkill|killall|signal\s*\.\s*SIGKILL",
    "network": r"\bsocket\b|urllib|requests\s*\.\s*(get|post)|http\.client",
    "processes": r"os\s*\.\s*fork|multiprocessing|subprocess",
}


def flags_of(notebook: nbformat.NotebookNode, skip: set[str] = frozenset()) -> list[str]:
    """Names of :data:`FLAGS` whose pattern occurs in the notebook's code cells.

    ``skip``: sources of cells the course itself wrote (setup, otter's init), not the student's.
    """
    code = "\n".join(
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source not in skip
    )
    return [name for name, pattern in FLAGS.items() if re.search(pattern, code)]


# ---- one submission ----


@dataclasses.dataclass
class Result:
    """The grading of one submission.

    ``scores``: question -> points; ``reasons``: case name -> "" when passed, else the reason;
    ``code``: "" or a key of :data:`sandbox.CODES`; ``message``: its sentence; ``flags``: names
    of :data:`FLAGS`. ``cases`` and ``explanation`` are older names of ``reasons`` and
    ``message``.
    """

    scores: dict[str, float]
    reasons: dict[str, str]
    code: str = ""
    message: str = ""
    flags: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    log: str = ""
    errors: list[dict] = dataclasses.field(default_factory=list)  # the cells' errors

    @property
    def cases(self) -> dict[str, str]:
        return self.reasons

    @property
    def explanation(self) -> str:
        return self.message

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Result":
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


@dataclasses.dataclass
class Hidden:
    """A notebook's hidden-test module, loaded, with its expected values computed once."""

    notebook: str
    cases: list[Case]
    reference: types.SimpleNamespace
    expected: dict[str, Any]


def load_hidden(module: types.ModuleType | str, master_path: Path | None = None) -> Hidden:
    """Load a hidden-test module (object or notebook stem) and compute its expected values."""
    if isinstance(module, str):
        module = importlib.import_module(f"instructor.grading.hidden.{hidden_module_name(module)}")
    master_path = master_path or ROOT / "notebooks" / f"{module.NOTEBOOK}.ipynb"
    reference = reference_functions(master_path, list(module.REFERENCE), module.PRELUDE)
    cases = list(module.cases())
    names = [case.name for case in cases]
    if len(set(names)) != len(names) or not all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in names):
        raise ValueError(f"{module.__name__}: case names must be unique plain names: {names}")
    expected = {
        case.name: case.expected(reference, case.inputs) if case.expected else None
        for case in cases
    }
    return Hidden(module.NOTEBOOK, cases, reference, expected)


def hidden_module_name(stem: str) -> str:
    """``03_fashion_mnist_metric_learning`` -> ``nb03``."""
    return "nb" + stem.split("_", 1)[0]


def has_hidden_module(stem: str) -> bool:
    return (
        importlib.util.find_spec(f"instructor.grading.hidden.{hidden_module_name(stem)}")
        is not None
    )


@dataclasses.dataclass(frozen=True)
class Setup:
    """How submissions are run: the grading venv, the unpacked course wheel, data, limits."""

    venv: Path
    course_site: Path  # the student wheel, unpacked (its ``helpers`` package)
    profile: str = DEFAULT_PROFILE
    limits: sandbox.Limits = sandbox.Limits()
    cell_timeout: float = 1800.0
    threads: int = 1
    data_cache: Path | None = None
    mirror: Path | None = None
    trusted: bool = False


def unpack_wheel(wheel: Path, dest: Path) -> Path:
    """Unpack the course wheel (a zip) into ``dest``; return ``dest``."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(dest)
    for folder, _, files in os.walk(dest):  # readable by the sandbox's uid
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return dest


def extract_notebook(submission: Path, dest: Path) -> None:
    """Copy the submitted notebook (from its hand-in zip for a zip) to ``dest``."""
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as archive:
            names = [n for n in archive.namelist() if n.endswith(".ipynb")]
            if len(names) != 1:
                raise ValueError(
                    f"{submission.name}: a hand-in zip holds one notebook; found {names or 'none'}."
                )
            dest.write_bytes(archive.read(names[0]))
    else:
        shutil.copyfile(submission, dest)


def grade(
    submission: Path,
    hidden: Hidden,
    setup: Setup,
    uid: int | None = None,
    course_cells: set[str] = frozenset(),
) -> Result:
    """Run one submission in the sandbox and score every case of ``hidden`` outside it.

    ``uid``: the sandbox's uid; by default a free one is reserved for the run (two runs must
    never share one: the end of a run kills every process of its uid).
    """
    if uid is None:
        with sandbox.reserved_uid() as free:
            return grade(submission, hidden, setup, free, course_cells)
    root = Path(tempfile.mkdtemp(prefix="grading-"))
    try:
        work, out, given = root / "work", root / "out", root / "in"
        for folder in (work, out, given):
            folder.mkdir()
        notebook_path = work / f"{hidden.notebook}.ipynb"
        extract_notebook(submission, notebook_path)
        notebook = nbformat.read(notebook_path, as_version=4)
        trusted = setup.trusted
        inside = {
            "in": str(given) if trusted else "/grading/in",
            "out": str(out) if trusted else "/grading/out",
            "work": str(work) if trusted else "/submission",
        }
        calls = []
        for case in hidden.cases:
            paths = {}
            for key, value in case.inputs.items():
                np.save(given / f"{case.name}.{key}.npy", np.asarray(value), allow_pickle=False)
                paths[key] = f"{inside['in']}/{case.name}.{key}.npy"
            calls.append(
                {
                    "name": case.name,
                    "code": case.code,
                    "inputs": paths,
                    "tripwires": list(case.tripwires),
                }
            )
        (given / "calls.json").write_text(json.dumps({"cases": calls}))
        shutil.copyfile(RUNNER, given / "runner.py")
        for path in (given, *given.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        site = str(setup.course_site) if trusted else "/opt/course"
        env = {
            "PATH": f"{setup.venv}/bin:/usr/bin:/bin",
            "HOME": "/home/student",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONPATH": site,
            "PYTHONDONTWRITEBYTECODE": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
            "MPLBACKEND": "Agg",
            "COURSE_PROFILE": setup.profile,
            "COURSE_GRADING": "1",
            "COURSE_DATA_DIR": f"{inside['work']}/data",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_NUM_INTRAOP_THREADS": str(setup.threads),
            "TF_NUM_INTEROP_THREADS": str(setup.threads),
            "OMP_NUM_THREADS": str(setup.threads),
        }
        read_only = {"/grading/in": given, "/opt/course": setup.course_site}
        if setup.mirror:  # at its own path: the prepared cache's markers name its archives
            env["COURSE_DATA_MIRROR"] = str(setup.mirror)
            read_only[str(Path(setup.mirror).absolute())] = setup.mirror
        if trusted:
            env["HOME"] = str(work / "home")
            (work / "home").mkdir()
            if setup.data_cache:
                env["COURSE_DATA_DIR"] = str(setup.data_cache)
        mounts = sandbox.Mounts(
            venv=setup.venv, work=work, out=out, read_only=read_only, data_cache=setup.data_cache
        )
        argv = [
            f"{setup.venv}/bin/python",
            f"{inside['in']}/runner.py",
            f"{inside['work']}/{notebook_path.name}",
            f"{inside['in']}/calls.json",
            inside["out"],
            str(setup.cell_timeout),
        ]
        outcome = sandbox.run(argv, mounts, env=env, uid=uid, limits=setup.limits, trusted=trusted)
        status = read_json(out / "status.json") or {}
        code = outcome.code
        if not code:
            events = [e for e in status.get("events", []) if e in sandbox.CODES]
            if events:
                code = events[0]
            elif outcome.returncode != 0 or not status.get("finished"):
                code = "kernel-died"
        scores = {case.question: 0.0 for case in hidden.cases}
        reasons = {}
        for case in hidden.cases:
            got, why = read_result(out, case.name)
            if got is not None:
                try:
                    why = case.check(got, hidden.expected[case.name], hidden.reference) or ""
                except Exception as error:  # noqa: BLE001 - a malformed result fails the case
                    why = f"cannot be compared ({type(error).__name__}: {error})"[:300]
            reasons[case.name] = why
            if not why:
                scores[case.question] += case.points
        return Result(
            scores,
            reasons,
            code,
            sandbox.CODES.get(code, ""),
            flags_of(notebook, course_cells),
            outcome.seconds,
            outcome.text()[-4000:],
            [
                {"cell": int(e.get("cell", -1)), "error": str(e.get("error", ""))[:300]}
                for e in status.get("errors", [])[:50]
                if isinstance(e, dict)
            ],
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
