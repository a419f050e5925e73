"""Reference implementations of what the notebooks ask students to write (never in the wheel).

One module per notebook (``nb02``, ``nb04``, ...): the functions that answer a graded question
live here, not in ``helpers``, so the student's library holds no answer key. Tests and
benchmarks import them from here.
"""
