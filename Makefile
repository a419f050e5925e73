# The course's commands. Each one creates .venv and installs the pinned set when it is missing.
#   make test   lint (ruff), import contracts, unit tests and every notebook under nbval, sample
#               profile, on all cores (pytest-xdist); the end-to-end runs are left to `make check`
#   make check  make test + the end-to-end runs (release and grading of real notebooks, setup-cell
#               venvs, benchmark smoke runs, the adversarial grading suite): what CI runs
#   make run    execute every notebook in the sample profile into build/ (+ HTML), one line each
#   make lab    JupyterLab on the notebooks (full profile unless COURSE_PROFILE says otherwise)
#   make bench  the speed benchmarks in benchmarks/
#   make release  dist/: student notebooks + course wheel (students/), autograders (autograder/)
#   make grade SUBMISSIONS=<folder> [JOBS=n] [TRUSTED=1]  grade every notebook / hand-in zip there,
#               sandboxed -> <folder>/grades*.csv, feedback/
#   make compat the tests + notebooks on other version sets (constraints/*.txt), in throw-away
#               venvs under build/compat/ (slow, downloads; run before every release)
#   make clean  remove build/ and caches (keeps .venv and downloaded data; `make distclean` for all)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Quiet TensorFlow's C++ start-up chatter; the local mirror is used when it sits beside the repo.
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
ifeq ($(origin COURSE_DATA_MIRROR), undefined)
  ifneq ($(wildcard ../shared/data/mirror/SHA256SUMS),)
    export COURSE_DATA_MIRROR := $(abspath ../shared/data/mirror)
  endif
endif

.PHONY: install lint test check unit run lab bench bench-quick release grade compat clean distclean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[local,dev]"
	@touch $(STAMP)

# Workers for pytest-xdist (each notebook stays on one worker: --dist loadfile); conftest.py
# gives each worker its share of the cores for TensorFlow's threads.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTEST := COURSE_PROFILE=sample $(PY) -m pytest -ra --durations=15 -n $(JOBS) --dist loadfile

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PYTEST) -m "not slow"

check: lint
	$(PYTEST)

unit: $(STAMP)
	COURSE_PROFILE=sample $(PY) -m pytest -ra tests helpers

run: $(STAMP)
	COURSE_PROFILE=sample $(PY) scripts/run_notebooks.py --out build notebooks/*.ipynb

# JupyterLab refuses to start as root (containers, many lab machines) without --allow-root.
lab: $(STAMP)
	$(PY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do \
	  echo "== $$script"; $(PY) $$script || exit 1; done

bench-quick: $(STAMP)
	@for script in benchmarks/bench_*.py; do \
	  echo "== $$script --quick"; $(PY) $$script --quick || exit 1; done

# Offline: otter assign on every master notebook, and the helpers wheel built without network.
release: $(STAMP)
	$(PY) -m instructor.release --out dist

# Each submission in a bubblewrap sandbox (refused without one unless TRUSTED=1: trusted authors
# only), JOBS at a time, in the grading profile (COURSE_GRADING_PROFILE=sample or full to change it).
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder> [JOBS=n] [TRUSTED=1]"; exit 2; }
	@test -d dist/autograder || $(MAKE) release
	$(PY) -m instructor.grade "$(SUBMISSIONS)" \
	  --jobs $(JOBS) $(if $(filter 1 yes true,$(TRUSTED)),--trusted)
# Not part of `make test`: each set installs TensorFlow afresh. COMPAT_SETS picks the files.
COMPAT_SETS ?= constraints/floors.txt constraints/colab-2026-08.txt
compat:
	@status=0; for set in $(COMPAT_SETS); do scripts/compat.sh $$set || status=1; done; \
	  exit $$status

clean:
	rm -rf build .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
	find data -mindepth 1 -not -name README.md -delete
