"""Run a hidden case's code in this process, as the grading kernel would, and check the result.

For fast tests of a hidden-test module: the namespace stands in for the student's kernel (the
master's reference functions, or a deliberately wrong variant), the values go through the same
plain-array conversion as in the sandbox, and ``case.check`` decides.
"""

import numpy as np


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
