"""The instructor's tools: release, grading, the generated notebook cells.

Never in the student wheel (``pyproject.toml`` packages only ``helpers``). Run as modules from the
checkout: ``python -m instructor.release``, ``python -m instructor.grade``.
"""
