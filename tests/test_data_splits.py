"""Tests of helpers.data.splits against splits computed independently in the test."""

import numpy as np
import pytest

from helpers.data.splits import check_count, fraction_split, per_class_split


def test_fraction_split_is_spec_01s_split():
    val, test, train = fraction_split(95_000, [0.1, 0.1], seed=42)
    order = np.random.default_rng(42).permutation(95_000)
    assert (len(val), len(test), len(train)) == (9_500, 9_500, 76_000)
    assert np.array_equal(val, order[:9_500]) and np.array_equal(test, order[9_500:19_000])
    assert np.array_equal(np.sort(np.concatenate([val, test, train])), np.arange(95_000))


def test_fraction_split_floors_the_leading_parts():
    parts = fraction_split(33, [0.1, 0.1], seed=0)
    assert [len(p) for p in parts] == [3, 3, 27]


def test_per_class_split_matches_a_loop_over_classes():
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 1, 2, 0, 1, 2])
    val, train = per_class_split(labels, [1, 2], seed=5)
    rng = np.random.default_rng(5)
    expected_val, expected_train = [], []
    for label in (0, 1, 2):
        members = [i for i in range(len(labels)) if labels[i] == label]
        shuffled = [members[j] for j in rng.permutation(len(members))]
        expected_val += shuffled[:1]
        expected_train += shuffled[1:3]
    assert val.tolist() == expected_val and train.tolist() == expected_train


def test_per_class_split_keeps_the_first_parts_fixed_when_the_last_grows():
    labels = np.repeat(np.arange(4), 20)
    small = per_class_split(labels, [5, 2], seed=1)
    large = per_class_split(labels, [5, 10], seed=1)
    assert np.array_equal(small[0], large[0])
    assert set(small[1]) <= set(large[1])


def test_per_class_split_names_a_class_that_is_too_small():
    with pytest.raises(ValueError, match="class 1 has 2 items but the split needs 3"):
        per_class_split(np.array([0, 0, 0, 1, 1]), [1, 2], seed=0)


def test_check_count_accepts_none_only_when_allowed():
    check_count("n", None, allow_none=True)
    with pytest.raises(ValueError, match="n must be an int >= 1; got None"):
        check_count("n", None)
    with pytest.raises(ValueError):
        check_count("n", True)
