"""helpers.retrieval against references written here: brute-force loops, scikit-learn, hand work."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import average_precision_score

from helpers import retrieval
from helpers.retrieval import ranking


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
    monkeypatch.setattr(
        ranking, "MEMORY_BUDGET_BYTES", 7 * 50 * ranking._RANKING_BYTES_PER_ENTRY
    )  # 7 per block
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
    assert precision[-1] == pytest.approx(
        np.mean([(labels == labels[q]).sum() - 1 for q in range(n)]) / (n - 1)
    )


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


# ---------------------------------------------------------------- 1. one normalisation rule
def raw_codes_of_varied_norms(n=60, d=16, seed=20):
    """Gaussian codes, rows rescaled by factors 0.1..10: normalising changes the ranking."""
    codes, labels = gaussian_codes(n=n, d=d, seed=seed)
    scales = np.random.default_rng(seed).uniform(0.1, 10, size=(n, 1))
    return (codes * scales).astype(np.float32), labels


def ap_of_a_ranking(ranking, labels, query):
    relevant = labels[ranking] == labels[query]
    hits = np.cumsum(relevant)
    return float(np.sum(hits[relevant] / (np.flatnonzero(relevant) + 1)) / relevant.sum())


@pytest.mark.parametrize("normalize", [True, False])
def test_knn_lists_the_ranking_that_the_map_scores_under_the_same_normalize(normalize):
    codes, labels = raw_codes_of_varied_norms()
    n = len(codes)
    _, ranking = retrieval.knn(codes, codes, k=n - 1, exclude=np.arange(n), normalize=normalize)
    _, per_query = retrieval.mean_average_precision(
        codes, labels, normalize=normalize, return_per_query=True
    )
    from_knn = [ap_of_a_ranking(ranking[q], labels, q) for q in range(n)]
    np.testing.assert_allclose(per_query, from_knn, rtol=0, atol=1e-12)
    reference = normalised(codes) if normalize else codes
    for q in range(n):
        assert list(ranking[q]) == brute_force_ranking(reference, q)


def test_normalize_changes_the_ranking_of_codes_of_varied_norms():
    # Guards the test above: on these codes the two rules really rank differently.
    codes, _ = raw_codes_of_varied_norms()
    assert any(
        brute_force_ranking(codes, q) != brute_force_ranking(normalised(codes), q)
        for q in range(60)
    )


def test_sq_distances_default_to_distances_between_unit_codes():
    queries, _ = gaussian_codes(n=5, seed=21)
    database, _ = raw_codes_of_varied_norms(n=9)
    unit_q, unit_x = normalised(queries), normalised(database)
    expected = ((unit_q[:, None, :] - unit_x[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(retrieval.sq_distances(queries, database), expected, atol=2e-6)


# ---------------------------------------------------------------- 2. checks before the cast
@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-40, 1e30])
def test_finite_float64_extremes_are_normalised_before_the_cast(scale):
    codes, labels = gaussian_codes(n=60, seed=22)
    extreme = codes.astype(np.float64) * scale
    _, per_query = retrieval.mean_average_precision(extreme, labels, return_per_query=True)
    expected = [brute_force_ap(normalised(codes), labels, q) for q in range(60)]
    np.testing.assert_allclose(per_query, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        retrieval.sq_distances(extreme[:4], extreme),
        retrieval.sq_distances(codes[:4], codes),
        atol=1e-6,
    )


def test_raw_codes_beyond_float32_range_are_called_too_large_not_nan():
    codes = np.array([[1e39, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="rows 0 are too large for float32.*normalize=True"):
        retrieval.mean_average_precision(codes, [0, 0, 1], normalize=False)
    with pytest.raises(ValueError, match="too large"):
        retrieval.knn(codes, codes, k=1, normalize=False)


def test_raw_codes_too_small_for_float32_distances_are_refused_not_ranked_wrongly():
    codes, labels = gaussian_codes(n=10, seed=23)
    with pytest.raises(ValueError, match="too small for float32 distances"):
        retrieval.mean_average_precision(codes.astype(np.float64) * 1e-20, labels, normalize=False)


def test_integer_codes_are_checked_and_ranked_like_floats():
    codes, labels = integer_codes(n=30, seed=24)
    _, from_ints = retrieval.mean_average_precision(
        codes.astype(np.int64), labels, normalize=False, return_per_query=True
    )
    expected = [brute_force_ap(codes, labels, q) for q in range(30)]
    np.testing.assert_allclose(from_ints, expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- 3. NaN labels
@pytest.mark.parametrize("labels", [[0.0, 1.0, np.nan, 1.0, 0.0], ["a", "b", None, "b", "a"]])
def test_missing_labels_are_refused_by_every_ranking_metric(labels):
    codes = np.random.default_rng(25).standard_normal((5, 3))
    for metric in (retrieval.mean_average_precision, retrieval.precision_recall_at_k):
        with pytest.raises(ValueError, match=r"labels hold NaN.* at rows 2 \(1 missing value"):
            metric(codes, np.array(labels, dtype=object if labels[2] is None else float))


def test_average_precision_refuses_nan_in_the_list_or_as_the_query_label():
    with pytest.raises(ValueError, match="sorted_labels hold NaN at rows 1 "):
        retrieval.average_precision([1.0, np.nan, 0.0], 1.0)
    with pytest.raises(ValueError, match="query_label hold NaN or None at rows 0 "):
        retrieval.average_precision([1.0, 2.0, 0.0], np.nan)


def test_per_class_ap_refuses_nan_truth():
    with pytest.raises(ValueError, match="y_true hold NaN at rows 1 "):
        retrieval.per_class_average_precision([[1.0], [np.nan], [0.0]], [[0.5], [0.2], [0.1]])


# ---------------------------------------------------------------- 4. exactness of the distances
def test_one_dimensional_raw_codes_far_from_the_origin_rank_like_float64():
    # Values near 1000 (float32 step 6e-5) with gaps of 1e-3..1: the expansion's error is
    # u * 2e6 ~ 0.1, larger than many gaps; the difference form keeps every gap.
    rng = np.random.default_rng(26)
    codes = (1000 + np.cumsum(rng.uniform(1e-3, 1, size=80)) * rng.choice([-1, 1])).astype(
        np.float32
    )[rng.permutation(80), None]
    labels = rng.integers(0, 3, size=80)
    expected = [brute_force_ap(codes, labels, q) for q in range(80)]
    _, per_query = retrieval.mean_average_precision(
        codes, labels, normalize=False, return_per_query=True
    )
    np.testing.assert_allclose(per_query, expected, rtol=0, atol=1e-12)


def test_the_expansion_would_misrank_those_one_dimensional_codes(monkeypatch):
    # Guards the test above: with the difference form off, the same codes rank wrongly.
    rng = np.random.default_rng(26)
    codes = (1000 + np.cumsum(rng.uniform(1e-3, 1, size=80)) * rng.choice([-1, 1])).astype(
        np.float32
    )[rng.permutation(80), None]
    labels = rng.integers(0, 3, size=80)
    monkeypatch.setattr(ranking, "DIFFERENCE_FORM_MAX_FEATURES", 0)
    expected = [brute_force_ap(codes, labels, q) for q in range(80)]
    _, per_query = retrieval.mean_average_precision(
        codes, labels, normalize=False, return_per_query=True
    )
    assert np.abs(per_query - expected).max() > 1e-3


def test_low_dimensional_distances_are_numpys_float32_differences_bit_for_bit():
    rng = np.random.default_rng(27)
    database = (100 + 10 * rng.standard_normal((50, 2))).astype(np.float32)
    queries = database[:7]
    expected = ((queries[:, None, :] - database[None, :, :]) ** 2).sum(axis=2, dtype=np.float32)
    np.testing.assert_array_equal(
        retrieval.sq_distances(queries, database, normalize=False), expected
    )


@pytest.mark.parametrize("d", [3, 64, 1024])
def test_distance_error_stays_within_the_documented_bound(d):
    rng = np.random.default_rng(28)
    codes = (3 + rng.standard_normal((40, d))).astype(np.float32)
    got = retrieval.sq_distances(codes, codes, normalize=False).astype(np.float64)
    wide = codes.astype(np.float64)
    exact = ((wide[:, None, :] - wide[None, :, :]) ** 2).sum(axis=2)
    norms = np.sqrt((wide**2).sum(axis=1))
    bound = (d + 2) * 2.0**-24 * (norms[:, None] + norms[None, :]) ** 2
    assert (np.abs(got - exact) <= bound).all()


# ---------------------------------------------------------------- 5. the ecosystem's conventions
def test_knn_returns_distances_then_indices_like_sklearn_kneighbors():
    from sklearn.neighbors import NearestNeighbors

    database, _ = gaussian_codes(n=50, seed=29)
    queries, _ = gaussian_codes(n=6, seed=30)
    distances, indices = NearestNeighbors(n_neighbors=4).fit(database).kneighbors(queries)
    sq_dists, ours = retrieval.knn(queries, database, k=4, normalize=False)
    np.testing.assert_array_equal(ours, indices)
    np.testing.assert_allclose(sq_dists, distances**2, rtol=1e-5)


def test_the_precision_at_k_curve_no_longer_shadows_sklearns_name():
    assert not hasattr(retrieval, "precision_recall_curve")
    assert "precision_recall_at_k" in retrieval.__all__


# ---------------------------------------------------------------- 7. hygiene
def test_progress_bar_only_when_verbose(monkeypatch, capsys):
    codes, labels = gaussian_codes(n=40, seed=31)
    monkeypatch.setattr(ranking, "MEMORY_BUDGET_BYTES", 4 * 40 * ranking._RANKING_BYTES_PER_ENTRY)
    quiet = retrieval.mean_average_precision(codes, labels)
    assert "ranking queries" not in capsys.readouterr().err
    loud = retrieval.mean_average_precision(codes, labels, verbose=True)
    assert "ranking queries" in capsys.readouterr().err
    assert quiet == loud


def test_tf32_switch_is_off_while_any_thread_computes_and_restored_after_the_last(monkeypatch):
    import threading

    monkeypatch.setattr(ranking, "_gpu_visible", lambda: True)
    original = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(True)
    try:
        inside, barrier, seen = threading.Barrier(2), threading.Barrier(2), []

        def compute(wait_longer):
            with ranking.full_float32_matmul():
                inside.wait()
                seen.append(tf.config.experimental.tensor_float_32_execution_enabled())
                if wait_longer:
                    barrier.wait()  # the other thread has left by now
                    seen.append(tf.config.experimental.tensor_float_32_execution_enabled())
            if not wait_longer:
                barrier.wait()

        threads = [threading.Thread(target=compute, args=(flag,)) for flag in (True, False)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert seen == [False, False, False]
        assert tf.config.experimental.tensor_float_32_execution_enabled() is True
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(original)


def test_tf32_setting_is_untouched_without_a_gpu(monkeypatch):
    monkeypatch.setattr(ranking, "_gpu_visible", lambda: False)
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    with ranking.full_float32_matmul():
        assert tf.config.experimental.tensor_float_32_execution_enabled() == before


def test_blocks_are_sized_within_the_memory_budget():
    for n_db, n_queries in [(50_000, 50_000), (1_000, 3), (10**7, 10)]:
        for per_entry in (ranking._RANKING_BYTES_PER_ENTRY, ranking._DISTANCE_BYTES_PER_ENTRY):
            rows = ranking.rows_per_block(n_db, n_queries, per_entry)
            assert rows == 1 or rows * n_db * per_entry <= ranking.MEMORY_BUDGET_BYTES
            assert rows <= n_queries


def test_two_to_the_31_rows_are_refused_before_any_copy():
    huge = np.broadcast_to(np.ones((1, 2), dtype=np.float32), (2**31, 2))  # no memory behind it
    with pytest.raises(ValueError, match="at most 2\\*\\*31 - 1"):
        retrieval.mean_average_precision(huge, np.broadcast_to(0, (2**31,)))
    with pytest.raises(ValueError, match="database has 2,147,483,648 rows"):
        retrieval.knn(np.ones((1, 2)), huge, k=1)
