"""Aggregate statistics of runs, as the RL-evaluation literature recommends (rliable,
Agarwal et al. 2021): mean and interquartile mean with bootstrap intervals, and the
probability of improvement.

Data convention: ``scores`` is a 1-D array of one number per run (seed) of one configuration.
"""

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
FINAL_FRACTION = 0.1  # final performance: the mean over the last 10% of epochs (at least one)


def final_epochs(epochs: int) -> int:
    return max(1, int(np.ceil(FINAL_FRACTION * epochs)))


def final_performance(per_epoch: pd.DataFrame, metric: str) -> pd.Series:
    """per_epoch: one row per (config_id, seed, epoch) -> the mean of `metric` over each run's
    last `final_epochs` epochs, indexed by (config_id, seed)."""
    last_epoch = per_epoch.groupby("config_id").epoch.transform("max")
    window = per_epoch.groupby("config_id").epoch.transform(lambda e: final_epochs(e.max() + 1))
    final = per_epoch[per_epoch.epoch > last_epoch - window]
    return final.groupby(["config_id", "seed"])[metric].mean()


def iqm(scores, axis=None):
    """Interquartile mean: the mean of the middle 50% of the scores (along `axis`)."""
    return stats.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def bootstrap_interval(scores, statistic, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of `statistic` (called with an `axis` keyword) over the
    runs, seeded so it repeats. A single run, or runs that all agree, give the degenerate
    interval at that value."""
    scores = np.asarray(scores, dtype=float)
    if len(scores) < 2 or np.all(scores == scores[0]):
        value = float(statistic(scores))
        return value, value
    result = stats.bootstrap((scores,), statistic, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def probability_of_improvement(x, y) -> float:
    """P(X > Y) + P(X = Y) / 2 for a random run X of one configuration and Y of another:
    the Mann-Whitney U statistic of x over y divided by len(x) * len(y)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(stats.mannwhitneyu(x, y).statistic / (len(x) * len(y)))


def summarize(scores, seed: int = 0) -> dict[str, float]:
    """Mean and IQM of the runs' scores, each with its 95% bootstrap interval."""
    mean_low, mean_high = bootstrap_interval(scores, np.mean, seed)
    iqm_low, iqm_high = bootstrap_interval(scores, iqm, seed)
    return {"runs": len(scores), "mean": float(np.mean(scores)), "mean_low": mean_low, "mean_high": mean_high,
            "iqm": float(iqm(scores)), "iqm_low": iqm_low, "iqm_high": iqm_high}
