"""Trustworthy grading: submissions run in a sandbox, verdicts are decided outside it.

- :mod:`instructor.grading.sandbox`: bubblewrap sandbox with memory, process, time and output
  limits, one fixed code per breach.
- :mod:`instructor.grading.runner`: runs INSIDE the sandbox (standard library + nbclient only):
  executes the notebook, then the grader's calls, and writes their results as plain data.
- :mod:`instructor.grading.verdicts`: the hidden-test format (named cases) and the comparison of
  the plain results with values computed from the master notebook's reference solutions.
- :mod:`instructor.grading.hidden`: one module of cases per notebook.
"""

#: Part of every grading-cache key: bump it when a change alters the scores a submission gets.
GRADER_VERSION = "2"

#: The profile submissions run in unless ``COURSE_GRADING_PROFILE`` (or ``--profile``) says
#: otherwise: the sample profile cut to what the hidden cases need (helpers/session/profile.py).
DEFAULT_PROFILE = "grading"


def grading_profile(given: str | None = None) -> str:
    """``given``, else ``$COURSE_GRADING_PROFILE``, else :data:`DEFAULT_PROFILE`; checked."""
    import os

    from helpers.session.profile import PROFILES

    profile = (given or os.environ.get("COURSE_GRADING_PROFILE") or DEFAULT_PROFILE).strip()
    if profile not in PROFILES:
        raise ValueError(
            f"{profile!r} is not a profile of this course; grade in one of {', '.join(PROFILES)} "
            f"(default {DEFAULT_PROFILE}: COURSE_GRADING_PROFILE or --profile)."
        )
    return profile
