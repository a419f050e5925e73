#!/usr/bin/env bash
# The released notebook's grading cell must leave the runtime's own packages as they are.
#
#   scripts/check_grading_install.sh VENV_PYTHON FOLDER
#
# In the venv of VENV_PYTHON (the course installed, otter-grader not), runs what the grading cell
# runs, `grading.start(...)`, against a public test written into FOLDER, with the student's pip
# settings (no PIP_CONSTRAINT); checks that grader.check passes and fails as it should, and that
# `pip freeze` after it holds every line of `pip freeze` before it (otter-grader and its missing
# runtime packages are added; nothing installed before, ipywidgets 7 on Colab included, changed).
set -u
python=$1 folder=$2
rm -rf "$folder" && mkdir -p "$folder/tests" || exit 1
cat >"$folder/tests/q1.py" <<'TEST'
OK_FORMAT = True

test = {"name": "q1", "points": 1, "suites": [{"cases": [{"code": ">>> assert total([1, 2]) == 3\n", "hidden": False, "locked": False}], "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
TEST
"$python" -m pip freeze --all 2>/dev/null | sort >"$folder/freeze-before.txt"
(cd "$folder" && env -u PIP_CONSTRAINT -u PYTHONPATH "$python" - <<'CELL'
import importlib.util

assert importlib.util.find_spec("otter") is None, "otter-grader is installed already"
from helpers.session import grading

grader = grading.start("compat", tests_dir="tests")
assert not isinstance(grader, grading.Unavailable), grader.why
total = sum
assert "All test cases passed" in str(grader.check("q1")), "a right answer failed"
total = len
assert "All test cases passed" not in str(grader.check("q1")), "a wrong answer passed"
print("grader.check: a right answer passes, a wrong one fails")
CELL
) || { echo "grading cell: FAILED"; exit 1; }
"$python" -m pip freeze --all 2>/dev/null | sort >"$folder/freeze-after.txt"
changed=$(comm -23 "$folder/freeze-before.txt" "$folder/freeze-after.txt")
echo "added: $(comm -13 "$folder/freeze-before.txt" "$folder/freeze-after.txt" | tr '\n' ' ')"
if [ -n "$changed" ]; then
  echo "changed or removed by the grading cell's install:"; echo "$changed"; exit 1
fi
echo "no installed package changed"
