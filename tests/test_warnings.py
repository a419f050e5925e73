"""helpers.session.messages.warn: a warning names the caller's line, not the course's code."""

import inspect
import warnings

import numpy as np

from helpers import retrieval


def recorded(call):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        call()
    return records


def test_a_warning_three_frames_deep_names_the_callers_file_and_line():
    # mean_average_precision -> _ranking.warn_no_positives -> warn: all inside helpers.
    labels = np.array([0, 0, 1])  # class 1 has one item: its query has no positive
    line = inspect.currentframe().f_lineno + 1
    records = recorded(lambda: retrieval.mean_average_precision(np.eye(3), labels))
    assert [record.category for record in records] == [RuntimeWarning]
    assert (records[0].filename, records[0].lineno) == (__file__, line)


def test_a_direct_warning_names_the_callers_file_and_line():
    line = inspect.currentframe().f_lineno + 1
    records = recorded(lambda: retrieval.average_precision(np.array([0, 0]), 1))
    assert [record.category for record in records] == [RuntimeWarning]
    assert (records[0].filename, records[0].lineno) == (__file__, line)
