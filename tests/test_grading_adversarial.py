"""Hostile submissions against the sandboxed grader (instructor/grading).

A tiny otter-format assignment (two code questions, seconds per run) stands in for a notebook;
its named cases are declared here the way instructor/grading/hidden/nb03.py declares 03's. Every
hostile submission is graded in one run, one after the other, followed by an honest one: each
must score what its answers earn (computed from the master's question points), carry the code of
the limit it broke, leave the machine as it was, and not stop the run.
"""

import hashlib
import os
import secrets
import shutil
import sys
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell as C
from nbformat.v4 import new_markdown_cell as M
from nbformat.v4 import new_raw_cell as R

from instructor.grading import sandbox, verdicts

pytestmark = pytest.mark.skipif(
    sandbox.sandbox_problem() is not None, reason=f"no sandbox here: {sandbox.sandbox_problem()}"
)

ROOT = Path(__file__).resolve().parent.parent
# The venv running the tests (it has nbclient and ipykernel) is the grading venv.
VENV = Path(sys.prefix) if (Path(sys.prefix) / "pyvenv.cfg").exists() else ROOT / ".venv"
KERNEL = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
POINTS = {"q1": 2, "q2": 3}
TOKEN = secrets.token_hex(6)  # names every file a hostile submission tries to leave behind
SOLUTIONS = {"q1": "    return x * x", "q2": "    return sum(values)"}


def tiny(q1=SOLUTIONS["q1"], q2=SOLUTIONS["q2"], between="", first=""):
    """The tiny assignment; ``q1``/``q2`` the function bodies, ``between``/``first`` cells."""
    return nbformat.v4.new_notebook(
        metadata=KERNEL,
        cells=[
            R("# ASSIGNMENT CONFIG\nname: tiny_assignment"),
            M("# A tiny assignment"),
            C("import numpy as np\n" + first),
            R(f"# BEGIN QUESTION\nname: q1\npoints: {POINTS['q1']}"),
            R("# BEGIN SOLUTION"),
            C(
                f'def square(x):\n    """x squared."""\n'
                f"    # BEGIN SOLUTION\n{q1}\n    # END SOLUTION"
            ),
            R("# END SOLUTION"),
            R("# END QUESTION"),
            C(between),
            R(f"# BEGIN QUESTION\nname: q2\npoints: {POINTS['q2']}"),
            R("# BEGIN SOLUTION"),
            C(
                f'def total(values):\n    """The sum."""\n    # BEGIN SOLUTION\n{q2}\n'
                "    # END SOLUTION"
            ),
            R("# END SOLUTION"),
            R("# END QUESTION"),
        ],
    )


def hidden_module():
    """The tiny assignment's cases, in the format of instructor/grading/hidden/nb03.py."""
    module = types.ModuleType("tiny_hidden")
    module.NOTEBOOK, module.REFERENCE = "tiny_assignment", ["square", "total"]
    module.PRELUDE = "import numpy as np\n"
    rng = np.random.default_rng(9)

    def probe(got, expected, reference):  # 0 points: what the submission says it achieved
        return None if float(got["value"]) == 0 else f"probe {float(got['value'])}"

    module.cases = lambda: [
        verdicts.Case(
            "square_worked",
            "q1",
            1,
            "result = square(3.0)",
            public=True,
            expected=lambda ref, i: ref.square(3.0),
            check=verdicts.allclose(),
        ),
        verdicts.Case(
            "square_random",
            "q1",
            1,
            "result = square(x)",
            inputs={"x": rng.normal(size=20)},
            expected=lambda ref, i: ref.square(i["x"]),
            check=verdicts.allclose(),
        ),
        verdicts.Case(
            "total_worked",
            "q2",
            1,
            "result = total([1, 2])",
            public=True,
            expected=lambda ref, i: ref.total([1, 2]),
            check=verdicts.allclose(),
        ),
        verdicts.Case(
            "total_random",
            "q2",
            2,
            "result = total(list(x))",
            inputs={"x": rng.integers(0, 100, size=30)},
            expected=lambda ref, i: ref.total(list(i["x"])),
            check=verdicts.allclose(),
        ),
        verdicts.Case("probe", "q1", 0, "result = float(globals().get('PROBE', 0))", check=probe),
    ]
    return module


# What each hostile cell tries; PROBE counts what succeeded (0 when the sandbox held).
PROBE_START = "PROBE = 0\n"
HOSTILE = {
    # -- forging results in-process (three ways); no answers
    "forge_otter_classes": dict(
        answers=(),
        first=PROBE_START
        + """
try:
    import otter.test_files.abstract_test as _t
    _t.TestFile.passed_all = property(lambda self: True)
    _t.TestFile.score = property(lambda self: self.points)
    import otter.test_files.ok_test as _ok
    _ok.OKTestFile.run = lambda self, env: None
except Exception:
    pass""",
    ),
    "forge_numpy_and_asserts": dict(
        answers=(),
        first=PROBE_START
        + """
import builtins
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.isclose = lambda *a, **k: True
builtins.AssertionError = type('Never', (Exception,), {})""",
    ),
    "forge_equal_to_anything": dict(
        answers=(),
        first=PROBE_START
        + """
class Anything(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, *a, **k): return np.array(self, dtype=object)
def square(x): return Anything(0)
def total(values): return Anything(0)""",
        q1="    return Anything(0)",
        q2="    return Anything(0)",
    ),
    "forge_result_files": dict(
        answers=(),
        first=PROBE_START
        + """
import json, threading, glob, time
def _forge():
    while True:
        for path in glob.glob('/grading/out/*.json'):
            if 'status' in path or 'probe' in path:
                continue
            try:
                name = path.rsplit('/', 1)[1][:-5]
                np.save(f'/grading/out/{name}.value.npy', np.array(42.0))
                open(path, 'w').write(json.dumps({'keys': ['value'], 'error': None}))
            except OSError:
                pass
        time.sleep(0.001)
threading.Thread(target=_forge, daemon=True).start()""",
    ),
    # -- reading the hidden tests / the masters / the grades
    "read_hidden_tests": dict(
        answers=(),
        first=PROBE_START
        + """
import glob, os
for pattern in ['/work/main/notebooks/*.ipynb', '/work/*/dist/autograder/*', '**/tests/*.py',
                '/root/**', '/grading/in/*.json', '%s/**' % os.path.expanduser('~/..'),
                '**/*autograder*', '**/grades*.csv']:
    for path in glob.glob(pattern, recursive=True):
        if 'autograder' in path or 'grades' in path or path.endswith('.ipynb') and 'main' in path:
            PROBE += 1
for path in ['/work/main/notebooks', '/work/wt-grading', '/root/.pyenv/versions']:
    PROBE += os.path.isdir(path) and not path.endswith('versions')""",
    ),
    # -- writing outside its folder, into $HOME and /tmp
    "write_outside": dict(
        answers=("q1", "q2"),
        first=PROBE_START
        + f"""
import os
for path in [os.path.expanduser('~/pwned-{TOKEN}'), '/tmp/pwned-{TOKEN}',
             '/root/pwned-{TOKEN}', '/work/main/pwned-{TOKEN}', '/grading/in/pwned-{TOKEN}',
             '/opt/course/pwned-{TOKEN}', '/usr/pwned-{TOKEN}', '/etc/pwned-{TOKEN}']:
    try:
        with open(path, 'w') as file:
            file.write('x')
        PROBE += not path.startswith(('/tmp', os.path.expanduser('~')))
    except OSError:
        pass""",
    ),
    # -- network
    "network": dict(
        answers=("q1", "q2"),
        first=PROBE_START
        + """
import socket
for host in [('1.1.1.1', 53), ('pypi.org', 443), ('10.0.0.1', 80)]:
    try:
        socket.create_connection(host, timeout=2).close()
        PROBE += 1
    except OSError:
        pass""",
    ),
    # -- limits
    # A process-limit, output or kill breach stops the whole run: answers after it are lost.
    "fork_bomb": dict(
        answers=("q1", "q2"),
        code="processes",
        score=0,
        between="""
import os
while True:
    try:
        os.fork()
    except OSError:
        pass""",
    ),
    "memory_bomb": dict(
        answers=("q1", "q2"),
        code="memory",
        between="""
hog = bytearray(3 * 2 ** 30)""",
    ),
    # Each process under the per-process limit, together over the total: the kernel's OOM
    # killer stops the largest (a child), the run goes on.
    "memory_bomb_in_processes": dict(
        answers=("q1", "q2"),
        code="memory",
        needs_cgroup=True,
        between="""
import os, time
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        hog = b'x' * (400 * 2 ** 20)
        time.sleep(5)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)""",
    ),
    "endless_cell": dict(
        answers=("q1", "q2"),
        code="timeout",
        between="""
while True:
    pass""",
    ),
    "endless_uninterruptible": dict(
        answers=("q1", "q2"),
        code="timeout",
        score=0,
        between="""
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    time.sleep(0.1)""",
    ),
    "output_100mb": dict(
        answers=("q1", "q2"),
        code="output",
        score=0,
        between="""
import sys
for _ in range(100):
    sys.stdout.write('x' * 2 ** 20)
    sys.stdout.flush()""",
    ),
    # A full /tmp or HOME is an error in the cell that filled it (the run goes on); its folder
    # past the limit stops the run.
    "fill_tmp_and_home": dict(
        answers=("q1", "q2"),
        code="disk",
        between="""
import os
for folder in ['/tmp', os.path.expanduser('~'), '/dev/shm']:
    try:
        with open(os.path.join(folder, 'filler'), 'wb') as file:
            for _ in range(300):
                file.write(b'x' * 2 ** 20)
    except OSError:
        pass
with open('/tmp/filler-2', 'wb') as file:  # /tmp is full: this cell fails, and says why
    for _ in range(100):
        file.write(b'x' * 2 ** 20)""",
    ),
    "fill_the_disk": dict(
        answers=("q1", "q2"),
        code="disk",
        score=0,
        between="""
import os, time
for index in range(40):
    with open(f'junk-{index}', 'wb') as file:
        file.write(b'x' * 16 * 2 ** 20)
    os.link(f'junk-{index}', f'link-{index}')  # its own hard links count once, not zero times
time.sleep(30)""",
    ),
    "kill_the_grader": dict(
        answers=("q1", "q2"),
        code="kernel-died",
        score=0,
        between="""
import os, signal, subprocess
subprocess.run(['pkill', '-9', '-f', 'pytest'])
subprocess.run(['pkill', '-9', '-f', 'runner.py'])
os.kill(os.getppid(), signal.SIGKILL)""",
    ),
}
NO_ANSWER = "    ..."
LIMITS = sandbox.Limits(
    seconds=60,
    memory=1 * 2**30,
    total_memory=1 * 2**30,
    processes=64,
    output=2**20,
    disk=256 * 2**20,
    scratch=64 * 2**20,
)


def cgroups_work() -> bool:
    """Whether this machine lets the grader make a memory cgroup (else RLIMIT_DATA only)."""
    group = sandbox.memory_cgroup(f"grading-probe-{os.getpid()}", 2**30)
    if group is not None:
        sandbox.remove_cgroup(group)
    return group is not None


def tree_hash(folder: Path, skip=()) -> str:
    """A hash of every file's path and bytes under ``folder`` (``skip``: names left out)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.name in skip:
            continue
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def token_files():
    """Files named with this run's token in $HOME and /tmp (left by a hostile submission)."""
    return [p for base in (Path.home(), Path("/tmp")) for p in base.glob(f"*{TOKEN}*")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("adversarial")
    master_path = base / "masters" / "tiny_assignment.ipynb"
    master_path.parent.mkdir()
    nbformat.write(tiny(), master_path)
    dist = base / "dist"
    (dist / "autograder").mkdir(parents=True)
    (dist / "autograder" / "tiny_assignment-tests.txt").write_text("secret hidden tests\n")
    submissions = base / "submissions"
    submissions.mkdir()
    for name, spec in HOSTILE.items():
        bodies = {
            q: spec.get(q) or (SOLUTIONS[q] if q in spec["answers"] else NO_ANSWER) for q in POINTS
        }
        nbformat.write(
            tiny(bodies["q1"], bodies["q2"], spec.get("between", ""), spec.get("first", "")),
            submissions / f"{name}.ipynb",
        )
    nbformat.write(tiny(), submissions / "zz_honest.ipynb")
    hidden = verdicts.load_hidden(hidden_module(), master_path)
    site = base / "site"
    shutil.copytree(ROOT / "helpers", site / "helpers")
    setup = verdicts.Setup(venv=VENV, course_site=site, limits=LIMITS, cell_timeout=10)
    before = {
        "submissions": tree_hash(submissions),
        "dist": tree_hash(dist),
        "token_files": token_files(),
    }
    results = {}
    for path in sorted(submissions.glob("*.ipynb")):
        results[path.stem] = verdicts.grade(path, hidden, setup, uid=61007)
    after = {
        "submissions": tree_hash(submissions),
        "dist": tree_hash(dist),
        "token_files": token_files(),
    }
    leftover = sandbox.tasks_of_uid(61007)
    return results, before, after, leftover


def expected_score(name):
    return (
        sum(POINTS[q] for q in HOSTILE[name]["answers"])
        if "score" not in HOSTILE[name]
        else HOSTILE[name]["score"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_submission_scores_what_its_answers_earn_and_carries_its_code(graded, name):
    results, _, _, _ = graded
    result = results[name]
    if HOSTILE[name].get("needs_cgroup") and not cgroups_work():
        pytest.skip("no memory cgroup here: memory is limited per process only")
    assert sum(result.scores.values()) == expected_score(name), (result.scores, result.cases)
    assert result.code == HOSTILE[name].get("code", ""), (result.code, result.log[-2000:])
    assert result.explanation == sandbox.CODES.get(result.code, "")
    if "PROBE +=" in HOSTILE[name].get("first", ""):  # its own count of what succeeded: 0
        assert result.cases["probe"] == "", result.cases["probe"]


@pytest.mark.slow
def test_the_run_goes_on_and_the_honest_submission_after_them_gets_full_marks(graded):
    results, _, _, leftover = graded
    honest = results["zz_honest"]
    assert sum(honest.scores.values()) == sum(POINTS.values()) and honest.code == ""
    assert set(results) == set(HOSTILE) | {"zz_honest"}
    assert leftover == [], "processes of the sandbox's uid survived the run"


@pytest.mark.slow
def test_nothing_outside_the_sandbox_changed(graded):
    _, before, after, _ = graded
    assert after == before


@pytest.mark.slow
def test_the_forgers_are_flagged_and_the_honest_submission_is_not(graded):
    results, _, _, _ = graded
    assert "otter-internals" in results["forge_otter_classes"].flags
    assert "grading-paths" in results["forge_result_files"].flags
    assert "signals" in results["kill_the_grader"].flags
    assert results["zz_honest"].flags == []
