"""Reference builders of graded questions, kept out of the student wheel (one module per notebook).

A function a notebook asks the student to write does not live in ``helpers`` (the student's
library would hand them the answer); the instructor's tests and benchmarks import it from here.
"""
