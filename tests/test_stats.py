"""Statistics and fits on tiny cases whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from grpo.fits import fit_curve, saturating_curve
from grpo.stats import bootstrap_interval, final_performance, iqm, probability_of_improvement, summarize


def test_iqm_by_hand():
    # 8 scores: trimming 25% each side leaves 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)
    assert iqm([2.0, 2.0, 2.0, 2.0]) == 2.0


def test_bootstrap_interval_covers_the_true_mean_and_repeats():
    scores = np.random.default_rng(7).normal(3.0, 1.0, size=60)
    low, high = bootstrap_interval(scores, np.mean, seed=0)
    assert low < 3.0 < high and high - low < 0.8
    assert (low, high) == bootstrap_interval(scores, np.mean, seed=0)
    assert bootstrap_interval([0.4, 0.4, 0.4], np.mean) == pytest.approx((0.4, 0.4))


def test_probability_of_improvement():
    same = [0.1, 0.5, 0.9]
    assert probability_of_improvement(same, same) == 0.5
    assert probability_of_improvement([4, 5], [1, 2]) == 1.0
    assert probability_of_improvement([1, 2], [4, 5]) == 0.0
    assert probability_of_improvement([1, 3], [2]) == 0.5  # one win, one loss


def test_summarize_and_final_performance():
    per_epoch = pd.DataFrame({"config_id": "c", "seed": np.repeat([0, 1], 20), "epoch": np.tile(np.arange(20), 2),
                              "reward_frac": np.concatenate([np.arange(20) / 20, np.ones(20)])})
    final = final_performance(per_epoch, "reward_frac")  # last 10% of 20 epochs: epochs 18, 19
    assert final.loc[("c", 0)] == pytest.approx((18 + 19) / 2 / 20) and final.loc[("c", 1)] == 1.0
    summary = summarize(final.to_numpy())
    assert summary["runs"] == 2 and summary["mean"] == pytest.approx((0.925 + 1) / 2)
    assert summary["mean_low"] <= summary["mean"] <= summary["mean_high"]


def test_fit_recovers_a_known_curve():
    steps = np.arange(1, 101)
    fit = fit_curve(steps, saturating_curve(steps, 0.5, 0.9, 2.0, 20.0))
    assert fit.failed is None and fit.r2 > 0.999
    assert (fit.asymptote, fit.efficiency, fit.midpoint) == pytest.approx((0.9, 2.0, 20.0), rel=1e-3)


def test_a_curve_that_does_not_saturate_is_marked_failed():
    noise = np.random.default_rng(0).normal(size=100)
    assert fit_curve(np.arange(1, 101), noise).failed is not None
    assert "too few" in fit_curve([1, 2], [0.1, 0.2]).failed
