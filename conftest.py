"""Keep every test item from leaking environment changes into the next one.

The notebooks run under nbval in kernels that inherit this process's environment when they
start, so a unit test or doctest that changed COURSE_PROFILE (say) without restoring it would
silently run the later notebooks in another profile.
"""

import os

_ENVIRONMENT_AT_START: dict[str, str] = {}


def pytest_sessionstart(session):
    _ENVIRONMENT_AT_START.update(os.environ)


def pytest_runtest_teardown(item, nextitem):
    if dict(os.environ) != _ENVIRONMENT_AT_START:
        os.environ.clear()
        os.environ.update(_ENVIRONMENT_AT_START)
