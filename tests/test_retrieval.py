"""helpers.retrieval against references written here: brute-force loops, scikit-learn, hand work."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import average_precision_score

from helpers import _ranking, retrieval


# ---------------------------------------------------------------- references, written plainly
def brute_force_ranking(codes, query):
    """Other rows of ``codes`` by (squared distance, index), from float64 differences."""
    codes = np.asarray(codes, dtype=np.float64)
    distances = ((codes - codes[query]) ** 2).sum(axis=1)
    others = [j for j in range(len(codes)) if j != query]
    return sorted(others, key=lambda j: (distances[j], j))


def brute_force_ap(codes, labels, query):
    hits, total = 0, 0.0
    for rank, j in enumerate(brute_force_ranking(codes, query), start=1):
        if labels[j] == labels[query]:
            hits += 1
            total += hits / rank
    return total / hits if hits else math.nan


def normalised(codes):
    codes = np.asarray(codes, dtype=np.float64)
    return codes / np.linalg.norm(codes, axis=1, keepdims=True)


def integer_codes(n=40, d=3, seed=0):
    """Small integer codes: float32 distances are exact, and equal distances are common."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, size=(n, d)).astype(np.float32), rng.integers(0, 3, size=n)


def gaussian_codes(n=60, d=16, seed=0, n_classes=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    centres = rng.standard_normal((n_classes, d))
    return (centres[labels] + 1.5 * rng.standard_normal((n, d))).astype(np.float32), labels


# ---------------------------------------------------------------- distances and neighbours
def test_sq_distances_match_float64_differences():
    queries, _ = gaussian_codes(n=7, seed=1)
    database, _ = gaussian_codes(n=11, seed=2)
    expected = ((queries[:, None, :].astype(np.float64) - database[None, :, :]) ** 2).sum(axis=2)
    got = retrieval.sq_distances(queries, database, normalize=False)
    assert got.dtype == np.float32 and got.shape == (7, 11)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_sq_distances_of_duplicates_are_clamped_at_zero_not_negative():
    rng = np.random.default_rng(3)
    rows = (1000 + rng.standard_normal((20, 64))).astype(np.float32)  # large norms: big rounding
    distances = retrieval.sq_distances(rows, rows, normalize=False)
    assert (distances >= 0).all()
    # |x|^2 is about 6.4e7 here, so the expansion's rounding is ~8 per entry against an exact 0.
    assert np.abs(np.diag(distances)).max() <= 64


def test_knn_matches_a_full_stable_sort_with_ties_and_exclusion():
    codes, _ = integer_codes(n=50, d=2, seed=4)  # only 9 distinct points: ties everywhere
    exact = ((codes[:, None, :].astype(np.int64) - codes[None, :, :].astype(np.int64)) ** 2).sum(2)
    sq_dists, indices = retrieval.knn(codes, codes, k=12, exclude=np.arange(50), normalize=False)
    for query in range(50):
        others = np.delete(np.arange(50), query)
        expected = others[np.argsort(exact[query, others], kind="stable")][:12]
        np.testing.assert_array_equal(indices[query], expected)
        np.testing.assert_array_equal(sq_dists[query], exact[query, expected])


def test_knn_without_exclusion_puts_a_lower_index_duplicate_before_the_query():
    codes = np.array([[1.0, 2.0], [1.0, 2.0], [5.0, 5.0]])
    sq_dists, indices = retrieval.knn(codes, codes, k=3, normalize=False)
    np.testing.assert_array_equal(indices, [[0, 1, 2], [0, 1, 2], [2, 0, 1]])
    np.testing.assert_array_equal(sq_dists[2], [0, 25, 25])


def test_knn_excludes_the_query_by_index_not_by_dropping_the_first_column():
    codes = np.array([[1.0, 2.0], [1.0, 2.0], [5.0, 5.0]])
    _, indices = retrieval.knn(codes, codes, k=1, exclude=[0, 1, 2], normalize=False)
    # Row 1's nearest is its duplicate, row 0, which sorts before row 1 itself.
    np.testing.assert_array_equal(indices[:, 0], [1, 0, 0])


def test_knn_accepts_tensors_and_matches_brute_force():
    codes, _ = gaussian_codes(n=30, seed=5)
    _, indices = retrieval.knn(
        tf.constant(codes), tf.constant(codes), k=5, exclude=np.arange(30), normalize=False
    )
    for query in range(30):
        assert list(indices[query]) == brute_force_ranking(codes, query)[:5]


@pytest.mark.parametrize("k, exclude", [(0, None), (4, None), (3, [0, 1, 2]), (2.0, None)])
def test_knn_rejects_k_out_of_range(k, exclude):
    codes = np.eye(3)
    with pytest.raises(ValueError, match="k must be an integer"):
        retrieval.knn(codes, codes, k=k, exclude=exclude)


# ---------------------------------------------------------------- AP of one list
def test_average_precision_of_a_hand_worked_list():
    # Relevant at ranks 2, 3 and 6: (1/2 + 2/3 + 3/6) / 3.
    labels = ["dog", "cat", "cat", "dog", "dog", "cat"]
    assert retrieval.average_precision(labels, "cat") == pytest.approx((1 / 2 + 2 / 3 + 3 / 6) / 3)


def test_average_precision_equals_sklearn_on_a_ranked_list():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, size=200)
    expected = average_precision_score(labels == 1, -np.arange(200))
    assert retrieval.average_precision(labels, 1) == pytest.approx(expected, abs=1e-12)


def test_average_precision_without_relevant_items_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="AP is NaN"):
        assert math.isnan(retrieval.average_precision([1, 2, 2], 0))


# ---------------------------------------------------------------- mean average precision
def test_map_of_a_hand_worked_line_with_a_tie():
    # Points 0, 1, 2, 4. Query 2 sees rows 1 (d=1), then rows 0 and 3 tied at d=4: row 0 first,
    # so its only positive (row 3) is at rank 3 and its AP is 1/3.
    mean_ap, per_query = retrieval.mean_average_precision(
        [[0.0], [1.0], [2.0], [4.0]], [0, 0, 1, 1], normalize=False, return_per_query=True
    )
    np.testing.assert_allclose(per_query, [1, 1, 1 / 3, 1])
    assert mean_ap == pytest.approx((3 + 1 / 3) / 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_matches_a_brute_force_loop_on_integer_codes_with_ties(seed):
    codes, labels = integer_codes(n=45, d=3, seed=seed)
    expected = [brute_force_ap(codes, labels, q) for q in range(45)]
    mean_ap, per_query = retrieval.mean_average_precision(
        codes, labels, normalize=False, return_per_query=True
    )
    np.testing.assert_allclose(per_query, expected, rtol=0, atol=1e-12)
    assert mean_ap == pytest.approx(np.nanmean(expected), abs=1e-12)


def test_map_matches_sklearn_per_query_on_tie_free_normalised_codes():
    codes, labels = gaussian_codes(n=80, seed=7)
    unit = normalised(codes)
    expected = []
    for q in range(80):
        others = np.delete(np.arange(80), q)
        distances = ((unit[others] - unit[q]) ** 2).sum(axis=1)
        expected.append(average_precision_score(labels[others] == labels[q], -distances))
    mean_ap, per_query = retrieval.mean_average_precision(codes, labels, return_per_query=True)
    np.testing.assert_allclose(per_query, expected, atol=1e-12)
    assert mean_ap == pytest.approx(np.mean(expected), abs=1e-12)


def test_map_excludes_the_query_by_index_when_a_duplicate_sorts_before_it():
    # Rows 0 and 1 are equal, of different classes. Dropping "the first neighbour" of query 1
    # would drop row 0 (the tie goes to the lower index) and keep query 1 as its own positive.
    codes = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]
    labels = [0, 1, 1, 0]
    _, per_query = retrieval.mean_average_precision(codes, labels, return_per_query=True)
    expected = [brute_force_ap(normalised(codes), labels, q) for q in range(4)]
    np.testing.assert_allclose(per_query, expected)
    assert per_query[1] == pytest.approx(1 / 3)  # row 0 (d=0), row 3 (d=0.8), row 2 (d=2)


def test_map_ranks_a_near_duplicate_first_although_rounding_ties_it_with_the_query():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((30, 32))
    codes = np.vstack([base, base[5] + 1e-6 * rng.standard_normal(32)]).astype(np.float32)
    labels = np.append(np.arange(30) % 3, 1)
    # In float32 the near-duplicate (row 30) is at distance ~0 from query 5, like query 5 itself.
    assert brute_force_ranking(normalised(codes), 5)[0] == 30
    # Only the pair's own lists are compared: in other lists rows 5 and 30 are within float32
    # rounding of each other, and their order there is rounding, not the rule under test.
    _, per_query = retrieval.mean_average_precision(
        codes, labels, query_indices=[5, 30], return_per_query=True
    )
    expected = [brute_force_ap(normalised(codes), labels, q) for q in (5, 30)]
    np.testing.assert_allclose(per_query, expected, atol=1e-12)


def test_map_query_with_no_positive_is_nan_left_out_of_the_mean_and_counted_in_a_warning():
    codes = [[0.0], [1.0], [2.0], [4.0], [9.0]]
    labels = ["a", "a", "b", "a", "c"]  # b and c have a single member
    with pytest.warns(RuntimeWarning, match="2 of 5 queries have no positive"):
        mean_ap, per_query = retrieval.mean_average_precision(
            codes, labels, normalize=False, return_per_query=True
        )
    expected = [brute_force_ap(codes, labels, q) for q in range(5)]
    np.testing.assert_allclose(per_query, expected)
    assert np.isnan(per_query[[2, 4]]).all()
    assert mean_ap == pytest.approx(np.mean([expected[0], expected[1], expected[3]]))


def test_map_of_chosen_queries_is_reported_in_their_order():
    codes, labels = integer_codes(n=30, seed=9)
    queries = np.array([17, 3, 3, 29, 0])
    expected = [brute_force_ap(codes, labels, q) for q in queries]
    _, per_query = retrieval.mean_average_precision(
        codes, labels, query_indices=queries, normalize=False, return_per_query=True
    )
    np.testing.assert_allclose(per_query, expected, atol=1e-12)


def test_map_is_the_same_when_blocks_hold_a_few_queries(monkeypatch):
    codes, labels = gaussian_codes(n=50, seed=10, n_classes=5)
    monkeypatch.setattr(_ranking, "MEMORY_BUDGET_BYTES", 7 * 50 * 26)  # 7 queries per block
    _, per_query = retrieval.mean_average_precision(codes, labels, return_per_query=True)
    expected = [brute_force_ap(normalised(codes), labels, q) for q in range(50)]
    np.testing.assert_allclose(per_query, expected, atol=1e-12)


def test_map_accepts_tensors():
    codes, labels = gaussian_codes(n=25, seed=11)
    mean_ap = retrieval.mean_average_precision(tf.constant(codes), tf.constant(labels))
    expected = np.nanmean([brute_force_ap(normalised(codes), labels, q) for q in range(25)])
    assert mean_ap == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- precision-recall curve
def test_pr_curve_matches_a_brute_force_loop_and_ends_at_recall_one():
    codes, labels = integer_codes(n=36, seed=12)
    n = len(codes)
    precision_sum, recall_sum = np.zeros(n - 1), np.zeros(n - 1)
    for q in range(n):
        relevant = np.array([labels[j] == labels[q] for j in brute_force_ranking(codes, q)])
        hits = np.cumsum(relevant)
        precision_sum += hits / np.arange(1, n)
        recall_sum += hits / relevant.sum()
    precision, recall = retrieval.precision_recall_at_k(codes, labels, normalize=False)
    np.testing.assert_allclose(precision, precision_sum / n, atol=1e-12)
    np.testing.assert_allclose(recall, recall_sum / n, atol=1e-12)
    assert recall[-1] == pytest.approx(1.0)
    # At k = n - 1 every item is retrieved: precision is the mean share of positives.
    assert precision[-1] == pytest.approx(np.mean([(labels == labels[q]).sum() - 1 for q in range(n)]) / (n - 1))


def test_pr_curve_of_two_well_separated_pairs():
    precision, recall = retrieval.precision_recall_at_k(
        [[0.0], [0.1], [5.0], [5.2]], ["x", "x", "y", "y"], normalize=False
    )
    np.testing.assert_allclose(precision, [1, 1 / 2, 1 / 3])
    np.testing.assert_allclose(recall, [1, 1, 1])


# ---------------------------------------------------------------- per-class AP
def test_per_class_ap_equals_sklearn_with_tied_scores():
    rng = np.random.default_rng(13)
    y_true = rng.integers(0, 2, size=(120, 6))
    scores = np.round(rng.random((120, 6)) + 0.3 * y_true, 1)  # one decimal: many ties
    expected = average_precision_score(y_true, scores, average=None)
    np.testing.assert_allclose(
        retrieval.per_class_average_precision(y_true, scores), expected, atol=1e-12
    )


def test_per_class_ap_of_a_class_without_positives_is_nan_with_a_warning():
    y_true = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    scores = np.array([[0.3, 0.2], [0.3, 0.1], [0.1, 0.5], [0.0, 0.4]])
    with pytest.warns(RuntimeWarning, match="column"):
        ap = retrieval.per_class_average_precision(y_true, scores)
    # Class 0 by hand: scores 0.3 (a positive and a negative tied), 0.1 (positive), 0.0.
    # Thresholds: >= 0.3 gives precision 1/2 at recall 1/2; >= 0.1 gives 2/3 at recall 1.
    assert ap[0] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ap[0] == pytest.approx(average_precision_score(y_true[:, 0], scores[:, 0]))
    assert np.isnan(ap[1])


def test_per_class_ap_ignores_masked_entries_like_sklearn_on_the_remaining_rows():
    rng = np.random.default_rng(14)
    y_true = rng.integers(0, 2, size=(80, 4))
    scores = rng.random((80, 4))
    difficult = rng.random((80, 4)) < 0.2
    expected = [
        average_precision_score(y_true[~difficult[:, j], j], scores[~difficult[:, j], j])
        for j in range(4)
    ]
    got = retrieval.per_class_average_precision(y_true, scores, ignore=difficult)
    np.testing.assert_allclose(got, expected, atol=1e-12)


# ---------------------------------------------------------------- bad input
def test_nan_codes_are_refused_with_their_count_and_rows():
    codes = np.ones((6, 3))
    codes[2, 0] = np.nan
    codes[4, :2] = np.inf
    with pytest.raises(ValueError, match=r"3 NaN or infinite value\(s\) in 2 row\(s\): rows 2, 4"):
        retrieval.mean_average_precision(codes, np.zeros(6))


def test_zero_rows_cannot_be_normalised_but_can_be_ranked_raw():
    codes = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="all-zero row.*rows 1"):
        retrieval.mean_average_precision(codes, [0, 0, 1])
    with pytest.warns(RuntimeWarning, match="1 of 3 queries"):
        mean_ap = retrieval.mean_average_precision(codes, [0, 0, 1], normalize=False)
    # Query 0: row 1 (d=1, positive) first. Query 1: row 0 (d=1) first. Query 2: no positive.
    assert mean_ap == pytest.approx(1.0)


@pytest.mark.parametrize(
    "codes, labels, match",
    [
        (np.ones((4, 2)), [0, 1, 0], "labels has 3 entries but codes has 4 rows"),
        (np.ones((0, 2)), [], "empty"),
        (np.ones(4), [0, 1, 0, 1], "2-D"),
        (np.ones((1, 2)), [0], "at least 2 rows"),
    ],
)
def test_map_refuses_malformed_input(codes, labels, match):
    with pytest.raises(ValueError, match=match):
        retrieval.mean_average_precision(codes, labels)


def test_map_refuses_query_indices_outside_the_codes():
    with pytest.raises(ValueError, match="query_indices must lie in 0..3"):
        retrieval.mean_average_precision(np.eye(4), [0, 1, 0, 1], query_indices=[1, 4])


def test_queries_and_database_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="3 features but database rows have 2"):
        retrieval.sq_distances(np.ones((2, 3)), np.ones((2, 2)))


def test_per_class_ap_refuses_mismatched_shapes_and_non_binary_truth():
    with pytest.raises(ValueError, match="same shape"):
        retrieval.per_class_average_precision(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        retrieval.per_class_average_precision([[1], [-1]], [[0.5], [0.2]])
