"""helpers.session.report: the bootstrap interval of a mean and the headline line that shows it."""

import numpy as np
import pytest

from helpers.session import report


def test_bootstrap_interval_matches_the_normal_approximation_for_a_large_sample():
    values = np.random.default_rng(1).normal(0.7, 0.2, size=2_000)
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(len(values))  # central limit theorem
    low, high = report.bootstrap_interval(values)
    assert low == pytest.approx(values.mean() - half_width, abs=0.002)
    assert high == pytest.approx(values.mean() + half_width, abs=0.002)


def test_bootstrap_interval_agrees_with_a_plain_resampling_loop():
    values = np.random.default_rng(2).uniform(size=100) ** 3  # skewed, like per-query APs
    rng = np.random.default_rng(3)
    means = [rng.choice(values, size=len(values), replace=True).mean() for _ in range(20_000)]
    expected = np.percentile(means, [2.5, 97.5])
    np.testing.assert_allclose(report.bootstrap_interval(values), expected, atol=0.005)


def test_bootstrap_interval_leaves_out_nan_like_the_map_does():
    values = np.random.default_rng(4).uniform(size=50)
    with_nan = np.concatenate([values, [np.nan, np.nan]])
    assert report.bootstrap_interval(with_nan) == report.bootstrap_interval(values)


def test_bootstrap_interval_of_equal_values_is_that_value():
    assert report.bootstrap_interval([0.25] * 10) == (0.25, 0.25)


def test_bootstrap_interval_is_repeatable_with_the_same_seed_and_moves_with_another():
    values = np.random.default_rng(5).uniform(size=60)
    assert report.bootstrap_interval(values, seed=7) == report.bootstrap_interval(values, seed=7)
    assert report.bootstrap_interval(values, seed=7) != report.bootstrap_interval(values, seed=8)


@pytest.mark.parametrize(
    "values, kwargs, message",
    [
        ([[0.1, 0.2]], {}, "shape"),
        ([0.5], {}, "at least 2"),
        ([0.1, 0.2], {"confidence": 95}, "confidence"),
        ([0.1, 0.2], {"n_resamples": 10}, "n_resamples"),
    ],
)
def test_bootstrap_interval_rejects_bad_input_with_advice(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        report.bootstrap_interval(values, **kwargs)


def test_headline_shows_the_interval_between_the_value_and_the_reference():
    line = report.headline("mAP (100 queries)", 0.8123, reference=0.81, interval=(0.7804, 0.84))
    assert line.startswith(
        "▶ mAP (100 queries): 0.812 [95% interval 0.780-0.840] (reference 0.810)"
    )
