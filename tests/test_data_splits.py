"""Tests of helpers.data.splits against splits computed independently in the test."""

import numpy as np
import pytest

from helpers.data.splits import check_count, fraction_split, per_class_split, short_classes


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


def test_per_class_split_gives_a_short_class_what_is_left_and_reports_it():
    labels = np.array([0] * 10 + [1] * 6 + [2] * 9)
    val, test, train = per_class_split(labels, [2, 2, 5], seed=4, short_last=True)
    assert [int((labels[train] == c).sum()) for c in range(3)] == [5, 2, 5]
    assert [int((labels[val] == c).sum()) for c in range(3)] == [2, 2, 2]
    assert short_classes(labels, [2, 2, 5]) == {1: 2}
    assert not (set(val) & set(test) or set(val) & set(train) or set(test) & set(train))


def test_per_class_split_with_short_last_keeps_validation_and_test_for_every_n():
    labels = np.random.default_rng(2).integers(0, 5, 200)
    first = per_class_split(labels, [6, 6, 2], seed=9, short_last=True)
    for n in (4, 16, 100):
        val, test, train = per_class_split(labels, [6, 6, n], seed=9, short_last=True)
        assert np.array_equal(val, first[0]) and np.array_equal(test, first[1])
        assert set(first[2]) <= set(train)
    again = per_class_split(labels, [6, 6, 16], seed=9, short_last=True)
    other_seed = per_class_split(labels, [6, 6, 16], seed=10, short_last=True)
    assert np.array_equal(again[2], per_class_split(labels, [6, 6, 16], seed=9, short_last=True)[2])
    assert not np.array_equal(again[0], other_seed[0])


def test_per_class_split_with_short_last_still_refuses_a_class_with_nothing_to_train_on():
    with pytest.raises(ValueError, match="class 1 has 4 items but the split needs at least 5"):
        per_class_split(np.array([0] * 9 + [1] * 4), [2, 2, 3], seed=0, short_last=True)
    assert short_classes(np.array([0] * 9 + [1] * 7), [2, 2, 3]) == {}


def test_every_split_is_a_pair_with_names_and_extras():
    from helpers.data.sources import FetchedData
    from helpers.data.splits import ImageSplits, Split

    images, labels = np.zeros((3, 2, 2, 3), np.uint8), np.array([0, 1, 1])
    data = ImageSplits(
        {"train": (images, labels), "val": Split(images[:1], labels[:1], ids=[7])},
        ("a", "b"),
        FetchedData("toy", None, "cache", "cache", False),
    )
    x, y = data.train
    assert x is images and y is labels and data.train.images is images
    assert data.val.ids == [7] and data.class_names == ["a", "b"]
    with pytest.raises(ValueError, match="not among"):
        ImageSplits({"validation": (images, labels)}, ["a"], data.fetched)
