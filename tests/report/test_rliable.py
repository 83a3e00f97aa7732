"""grpo.report._rliable against hand-computed values, brute force, and rliable's own functions."""

import numpy as np
import pytest

from grpo.report._rliable import iqm_contrast, performance_profile, score_distribution, stratified_interval
from grpo.report._stats import RESAMPLES, bootstrap_interval, iqm, percentile_interval, probability_of_improvement, resample


def test_iqm_of_a_hand_checked_matrix():
    scores = np.arange(1.0, 9.0).reshape(4, 2)  # [run task]: 1..8, the middle four 3, 4, 5, 6
    assert stratified_interval(scores).value == pytest.approx(4.5)


def test_one_task_interval_is_the_reports_bootstrap_interval():
    scores = np.random.default_rng(3).beta(2, 2, size=12)  # [seed]
    estimate = stratified_interval(scores)
    assert (estimate.low, estimate.high) == bootstrap_interval(scores, iqm)
    assert estimate.value == pytest.approx(float(iqm(scores)))


def test_a_run_with_a_nan_drops_out():
    scores = np.array([[0.1, 0.2], [np.nan, 0.4], [0.5, 0.6], [0.7, 0.8]])
    assert stratified_interval(scores) == stratified_interval(scores[[0, 2, 3]])


def test_paired_iqm_contrast_removes_the_shared_seed_variation():
    b = np.random.default_rng(1).normal(size=15)  # [seed]: wide spread between seeds
    contrast = iqm_contrast(b + 0.1, b)  # every seed 0.1 better
    assert contrast.value == pytest.approx(0.1)
    assert contrast.low == pytest.approx(0.1) and contrast.high == pytest.approx(0.1)  # shift-equivariant per resample
    unpaired = stratified_interval(b + 0.1)
    assert unpaired.high - unpaired.low > 0.5  # the same arm alone is uncertain: only pairing removes it


def test_score_distribution_by_hand():
    np.testing.assert_allclose(score_distribution(np.array([0.1, 0.5, 0.9]), [0.0, 0.5, 1.0]), [1.0, 1 / 3, 0.0])


def test_performance_profile_band_is_brute_force():
    scores = np.random.default_rng(2).uniform(size=9)  # [seed], one task
    thresholds = np.linspace(0, 1, 11)
    profile, low, high = performance_profile(scores, thresholds)
    resampled = scores[resample(len(scores))]  # [RESAMPLES seed]: the same draws (one task)
    brute = (resampled[:, :, None] > thresholds).mean(1)  # [RESAMPLES threshold]
    expected_low, expected_high = percentile_interval(brute)
    np.testing.assert_allclose(profile, [(scores > t).mean() for t in thresholds])
    np.testing.assert_allclose(low, expected_low)
    np.testing.assert_allclose(high, expected_high)
    assert np.all(np.diff(profile) <= 0)


@pytest.fixture
def rliable():
    try:
        from rliable import library, metrics
    except Exception as error:  # absent, or arch 7 under pandas 3 (a TypeError at import): pyproject's `rliable` extra
        pytest.skip(f"rliable unusable here ({type(error).__name__}); install it with pip install -e '.[rliable]'")

    state = np.random.get_state()  # rliable's bootstrap draws from numpy's global generator
    np.random.seed(0)
    yield library, metrics
    np.random.set_state(state)


def test_iqm_and_intervals_agree_with_rliable(rliable):
    library, metrics = rliable
    scores = np.random.default_rng(5).beta(2, 3, size=(20, 3))  # [run task]
    ours = stratified_interval(scores)
    assert ours.value == pytest.approx(float(metrics.aggregate_iqm(scores)), abs=1e-12)
    points, intervals = library.get_interval_estimates({"method": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]),
                                                       reps=50_000)
    low, high = intervals["method"][:, 0]
    tolerance = 0.05 * (high - low)  # the Monte Carlo noise of two percentile endpoints: about 0.03 of the width
    assert ours.low == pytest.approx(low, abs=tolerance)
    assert ours.high == pytest.approx(high, abs=tolerance)


def test_one_task_iqm_interval_agrees_with_rliable(rliable):
    library, metrics = rliable
    scores = np.random.default_rng(6).beta(5, 2, size=(16, 1))  # [seed 1]: the grid's shape
    _, intervals = library.get_interval_estimates({"m": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]),
                                                  reps=50_000)
    low, high = intervals["m"][:, 0]
    ours = stratified_interval(scores)
    assert ours.low == pytest.approx(low, abs=0.05 * (high - low))
    assert ours.high == pytest.approx(high, abs=0.05 * (high - low))


def test_performance_profile_agrees_with_rliable(rliable):
    library, _ = rliable
    scores = np.random.default_rng(7).uniform(size=(12, 2))  # [run task]
    thresholds = np.linspace(0, 1, 21)
    profiles, bands = library.create_performance_profile({"m": scores}, thresholds, reps=RESAMPLES)
    profile, low, high = performance_profile(scores, thresholds)
    np.testing.assert_allclose(profile, profiles["m"])
    step = 1 / scores.size  # a profile moves in steps of one run in 24: the bands may differ by one
    np.testing.assert_allclose(low, bands["m"][0], atol=step + 1e-12)
    np.testing.assert_allclose(high, bands["m"][1], atol=step + 1e-12)


def test_probability_of_improvement_agrees_with_rliable(rliable):
    _, metrics = rliable
    rng = np.random.default_rng(8)
    a, b = rng.integers(0, 5, size=10) / 4, rng.integers(0, 5, size=10) / 4  # [seed]: ties included
    assert probability_of_improvement(a, b)[0] == pytest.approx(metrics.probability_of_improvement(a[:, None], b[:, None]))
