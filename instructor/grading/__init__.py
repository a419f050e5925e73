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
GRADER_VERSION = "1"
