"""``warn``: a warning that points at the caller's line, not at the course's own code."""

from __future__ import annotations

import os
import sys
import warnings

# Pointed at the line inside helpers that raised it, a notebook would show a student code they
# never wrote; the first frame outside the package is their own cell's call. Python 3.12 has
# warnings.warn(skip_file_prefixes=...); on 3.11 the stack level is counted here.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # helpers/


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)``, attributed to the first caller outside ``helpers``."""
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=(_PACKAGE,))
        return
    level, frame = 2, sys._getframe(1)  # stacklevel 2: the function that called warn()
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)
