"""Statistics and fits on constructed data whose answers are known."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from grpo.errors import UsageError
from grpo.report._fits import fit_curve, saturating_curve
from grpo.report._stats import (
    RESAMPLES,
    bootstrap_interval,
    check_resample_memory,
    holm,
    iqm,
    paired_contrast,
    probability_of_improvement,
    resample,
    resample_counts,
    seeds_needed,
    split_halves,
    summarize,
)
from grpo.report.grid._compute import mark_replicated, tied_with_best


def test_iqm_by_hand():
    # 8 scores: trimming 25% each side leaves 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)
    assert iqm([2.0, 2.0, 2.0, 2.0]) == 2.0


def test_resample_counts_are_the_resampled_indices():
    x = np.random.default_rng(1).normal(size=30)
    indices, counts = resample(30, seed=5), resample_counts(30, seed=5)
    assert indices.shape == counts.shape == (RESAMPLES, 30) and (counts.sum(1) == 30).all()
    np.testing.assert_allclose(counts @ x / 30, x[indices].mean(1))


def test_paired_contrast_has_the_paired_error_not_the_unpaired_one():
    # a = u + e, b = u + 0.05 + f: seeds share u (sd 1), the noise of the difference is sd 0.1 * sqrt(2)
    rng = np.random.default_rng(0)
    n = 200
    shared = rng.normal(0, 1, n)
    a, b = shared + rng.normal(0, 0.1, n), shared + 0.05 + rng.normal(0, 0.1, n)
    contrast = paired_contrast(a, b)
    diffs = a - b
    assert contrast.difference == pytest.approx(diffs.mean())
    assert contrast.pairs == n and contrast.sd == pytest.approx(diffs.std(ddof=1))
    paired_se = diffs.std(ddof=0) / np.sqrt(n)  # the bootstrap's standard error of a mean
    assert contrast.se == pytest.approx(paired_se, rel=0.03)
    assert paired_se == pytest.approx(0.1 * np.sqrt(2) / np.sqrt(n), rel=0.15)
    assert contrast.se_unpaired == pytest.approx(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / n))
    assert contrast.se_unpaired / contrast.se > 6  # sd 1 shared vs sd 0.14 not shared
    assert contrast.half_width == pytest.approx(1.96 * paired_se, rel=0.05)
    assert contrast.high < 0  # -0.05 is far outside the paired noise, so its p-value is tiny, not floored at 1e-4
    assert contrast.p == pytest.approx(2 * norm.sf(abs(contrast.difference) / contrast.se)) and contrast.p < 1 / RESAMPLES
    # unpaired, the same data cannot tell the difference
    low_a, high_a = bootstrap_interval(a)
    low_b, high_b = bootstrap_interval(b)
    assert low_b < high_a and low_a < high_b


def test_a_diverged_seed_drops_out_of_its_pair():
    a = np.array([0.5, 0.6, np.nan, 0.7])
    b = np.array([0.4, 0.5, 0.9, np.nan])
    contrast = paired_contrast(a, b)
    assert contrast.pairs == 2 and contrast.difference == pytest.approx(0.1)
    assert (contrast.low, contrast.high, contrast.p) == pytest.approx((0.1, 0.1, 0.0))  # two equal differences


def test_paired_intervals_cover_at_their_level_and_repeat():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(300):
        shared = rng.normal(0, 1, 30)
        contrast = paired_contrast(shared + rng.normal(0.2, 0.3, 30), shared + rng.normal(0, 0.3, 30))
        covered += contrast.low <= 0.2 <= contrast.high
    assert 0.89 <= covered / 300 <= 0.99  # percentile intervals at n = 30 run a little narrow
    a, b = rng.normal(size=20), rng.normal(size=20)
    assert paired_contrast(a, b) == paired_contrast(a, b)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    adjusted = holm([0.02, np.nan, 0.01])
    assert np.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.02, 0.02])  # a family of two


def test_tied_set_on_a_hand_made_grid():
    rng = np.random.default_rng(0)
    seeds = list(range(40))
    shared = rng.normal(0.4, 0.2, 40)  # every configuration shares each seed's luck
    scores = pd.DataFrame({
        "best": shared + 0.10,
        "close": shared + 0.10 - 0.002 + rng.normal(0, 0.01, 40),  # within the paired noise of the best
        "worse": shared + 0.05 + rng.normal(0, 0.01, 40),  # 0.05 below: decisive when paired
    }, index=seeds).T
    tied = tied_with_best(scores, seeds)
    top = scores.mean(axis=1).idxmax()  # "best" or "close", whichever the noise favours
    assert tied.tied.to_dict() == {"best": True, "close": True, "worse": False}
    assert tied.loc[top, "difference"] == 0
    assert tied.loc["worse", "difference"] == pytest.approx((scores.loc[top] - scores.loc["worse"]).mean())
    assert tied.loc["worse", "p_holm"] == pytest.approx(min(1.0, 2 * tied.loc["worse", "p"]))  # 2 comparisons
    # unpaired, the 0.05 gap hides in the seeds' spread of 0.2
    low_best, _ = bootstrap_interval(scores.loc["best"])
    _, high_worse = bootstrap_interval(scores.loc["worse"])
    assert low_best < high_worse


def test_split_halves_and_replication():
    half_a, half_b = split_halves([5, 0, 3, 1, 2, 4, 6])
    assert list(half_a) == [0, 2, 4, 6] and list(half_b) == [1, 3, 5]
    full = pd.DataFrame({"factor": "f", "level": ["x", "y", "z", "w"], "difference": [0.1, -0.2, 0.3, 0.01],
                         "decisive": [True, True, True, False]})
    a = full.assign(difference=[0.05, -0.1, -0.01, 0.02])  # z flips its sign on half a
    b = full.assign(difference=[0.2, -0.3, 0.4, 0.0])
    marked = mark_replicated(full, a, b)
    assert marked.replicated.tolist() == [True, True, False, False]  # w: indecisive, nothing to replicate
    assert marked.difference_half_a.tolist() == [0.05, -0.1, -0.01, 0.02]


def test_probability_of_improvement_with_interval():
    same = [0.1, 0.5, 0.9]
    assert probability_of_improvement(same, same)[0] == 0.5
    assert probability_of_improvement([4, 5], [1, 2]) == (1.0, 1.0, 1.0)
    assert probability_of_improvement([1, 2], [4, 5])[0] == 0.0
    assert probability_of_improvement([1, 3], [2, np.nan])[0] == 0.0  # the second pair drops out: 1 < 2
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.3, 1, 50), rng.normal(0, 1, 50)
    estimate, low, high = probability_of_improvement(x, y)
    assert estimate == pytest.approx(np.mean(x[:, None] > y[None, :]))
    assert low < estimate < high and 0.4 < low and high < 0.8


def test_seeds_needed_by_hand():
    # (z_0.975 + z_0.8)^2 * (sd / d)^2 = (1.95996 + 0.84162)^2 * 4 = 31.39 -> 32
    assert seeds_needed(0.1, 0.05) == 32
    assert seeds_needed(0.1, -0.05) == 32 and seeds_needed(0.1, 0.0) == float("inf")


def test_summarize_leaves_out_diverged_seeds():
    summary = summarize([0.2, 0.4, np.nan, 0.6])
    assert summary["runs"] == 3 and summary["mean"] == pytest.approx(0.4)
    assert summary["mean_low"] < 0.4 < summary["mean_high"]
    assert summarize([np.nan])["runs"] == 0 and np.isnan(summarize([np.nan])["mean"])


STEPS = np.arange(1, 101)


def test_fit_recovers_a_known_curve():
    fit = fit_curve(STEPS, saturating_curve(STEPS, 0.5, 0.9, 2.0, 20.0), 0.001)
    assert fit.failed is None and fit.r2 > 0.999
    assert (fit.r0, fit.asymptote, fit.efficiency, fit.midpoint) == pytest.approx((0.5, 0.9, 2.0, 20.0), rel=1e-3)


def test_a_noisy_curve_that_saturates_early_is_accepted_and_its_asymptote_recovered():
    errors = []
    for draw in range(20):
        noisy = saturating_curve(STEPS, 0.5, 0.7, 2.0, 5.0) + np.random.default_rng(draw).normal(0, 0.03, 100)
        fit = fit_curve(STEPS, noisy, 0.03)
        assert fit.failed is None, fit.failed
        assert fit.r2 < 0.8  # R² alone would call it a poor fit: most of the variance is noise
        errors.append(abs(fit.asymptote - 0.7))
    assert np.median(errors) < 0.01 and max(errors) < 0.03


@pytest.mark.parametrize("values, noise, reason", [
    (np.full(100, 0.3), 0.03, "flat"),
    (0.3 + np.random.default_rng(0).normal(0, 0.03, 100), 0.03, "flat"),
    (0.001 * STEPS, 0.005, "at the bound"),  # a straight ramp: the asymptote runs to its bound
    (saturating_curve(STEPS, 0.1, 1.4, 1.0, 60.0), 0.01, "outside the metric's range"),
    (saturating_curve(STEPS, 0.0, 0.9, 2.0, 150.0), 0.001, "midpoint"),  # still bending at the last step
    (0.2 + 0.3 * np.sin(STEPS / 100 * np.pi), 0.001, "residuals"),  # rises, then falls
    (np.array([0.1, 0.2, 0.3]), 0.01, "too few"),
])
def test_fits_that_fail_say_why(values, noise, reason):
    fit = fit_curve(STEPS[: len(values)], values, noise)
    assert fit.failed is not None and reason in fit.failed


def test_a_bootstrap_that_cannot_fit_is_refused_before_it_is_made():
    """At 10^6 seeds the resample arrays alone would need about 261 GiB: one line, nothing allocated."""
    with pytest.raises(UsageError, match=r"^1,000,000 seeds: the paired bootstrap \(10,000 resamples x seeds\) needs about 261 GiB"):
        check_resample_memory(1_000_000)
    check_resample_memory(100)  # the committed reports' size: fine
