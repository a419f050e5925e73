"""Keep every test item from leaking environment changes into the next one.

The notebooks run under nbval in kernels that inherit this process's environment when they
start, so a unit test or doctest that changed COURSE_PROFILE (say) without restoring it would
silently run the later notebooks in another profile.
"""

import os

# Under pytest-xdist each worker (and the notebook kernels it starts, which inherit its
# environment) gets its share of the cores: TensorFlow would otherwise start as many threads as
# there are cores in every worker, and the workers would fight over them.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_share))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(_share))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

_ENVIRONMENT_AT_START: dict[str, str] = {}


def pytest_sessionstart(session):
    _ENVIRONMENT_AT_START.update(os.environ)


def pytest_runtest_teardown(item, nextitem):
    if dict(os.environ) != _ENVIRONMENT_AT_START:
        os.environ.clear()
        os.environ.update(_ENVIRONMENT_AT_START)
