#!/usr/bin/env bash
# `make compat`: check the course on another set of library versions, in a throw-away venv.
#
#   scripts/compat.sh constraints/floors.txt
#
# Builds build/compat/<set>/venv afresh with the Python named in the file's "# python:" line,
# installs the course WITHOUT extras under the file's constraints (+ the test tools, unpinned
# unless the file pins them), then runs the unit tests and every notebook in the sample profile
# (executed notebooks and HTML in build/compat/<set>/notebooks; data cache and outputs in
# build/compat/<set>/data). On Colab's sets (colab-*.txt) it then runs the released notebook's
# grading cell as a student's runtime would (scripts/check_grading_install.sh): it must install
# otter-grader leaving every installed package (Colab's ipywidgets 7 included) at its version,
# and grader.check must work. Exit status 0 only if all pass.
set -u
constraints=$1
name=$(basename "$constraints" .txt)
python=$(sed -n 's/^# python: *//p' "$constraints")
root=build/compat/$name
venv=$root/venv
if ! "$python" -c "" 2>/dev/null; then  # a pyenv shim without that version selected
  for candidate in "$(pyenv root 2>/dev/null)"/versions/*/bin/"$python"; do
    [ -x "$candidate" ] && python=$candidate
  done
fi
echo "== compat $name: $python ($("$python" --version 2>&1)), constraints $constraints"
rm -rf "$root" && mkdir -p "$root"
"$python" -m venv "$venv" || exit 1
# The file is the only constraint (it replaces any pip.conf constraint for this venv).
export PIP_CONSTRAINT=$(realpath "$constraints") PIP_DISABLE_PIP_VERSION_CHECK=1  # absolute: pip also runs elsewhere
"$venv/bin/python" -m pip install --quiet . pytest nbval nbconvert nbclient ipykernel || {
  echo "== compat $name: INSTALL FAILED"; exit 1; }
"$venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE \
  '^(tensorflow|keras|numpy|pandas|matplotlib|scikit-learn|tqdm|ipywidgets|ipykernel|jupyter.client|nbclient|nbval|pytest)==' \
  | tr '\n' ' '; echo
# Its own data cache and outputs: sets run side by side must not write the same saved models
# (and an installed course outside a checkout would otherwise share ~/.cache).
export COURSE_DATA_DIR=$PWD/$root/data
status=0
# The course's own sources are tested (the installed copy is the same code); -p no:cacheprovider
# and the rest come from pyproject's pytest options.
# The whole output goes to the log (a crash's stack trace is in it); the end of it to the screen.
echo "== compat $name: unit tests (whole output in $root/unit.log)"
COURSE_PROFILE=sample "$venv/bin/python" -m pytest -q -ra tests helpers >"$root/unit.log" 2>&1 \
  || status=1
tail -n 25 "$root/unit.log"
echo "== compat $name: notebooks (whole output in $root/notebooks.log)"
COURSE_PROFILE=sample "$venv/bin/python" scripts/run_notebooks.py --out "$root/notebooks" \
  notebooks/*.ipynb >"$root/notebooks.log" 2>&1 || status=1
tail -n 12 "$root/notebooks.log"
case $name in colab*)
  echo "== compat $name: the grading cell's install (whole output in $root/grading.log)"
  scripts/check_grading_install.sh "$venv/bin/python" "$root/grading" >"$root/grading.log" 2>&1 \
    || status=1
  tail -n 4 "$root/grading.log";;
esac
echo "== compat $name: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
