"""rliable's conventions (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice";
the reference implementation is google-research/rliable, `metrics.py` and `library.py`): the
interquartile mean with stratified bootstrap intervals, paired IQM contrasts, performance profiles
(score distributions) and the probability of improvement. Pure: numbers in, numbers out, no I/O.

Data convention, in every function: ``scores`` is an array [run task] (rliable's
``{method: array[runs, tasks]}``, one method at a time); this project has one task (the sorting
task), so a configuration's scores are [seed 1]. A stratified bootstrap resamples the runs within
each task (column) with replacement. Resampling draws from ``np.random.default_rng(seed)`` with
grpo.report._stats's seed and resample count, so the same scores give the same intervals, and on
one task the interval is exactly grpo.report._stats.bootstrap_interval's (tests/report/test_rliable.py).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grpo.report._stats import BOOTSTRAP_SEED, RESAMPLES, check_resample_memory, iqm, percentile_interval


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% percentile-bootstrap interval."""

    value: float
    low: float
    high: float


def as_runs_by_tasks(scores) -> np.ndarray:
    """scores [run] or [run task] -> [run task] (float)."""
    scores = np.asarray(scores, dtype=float)
    return scores[:, None] if scores.ndim == 1 else scores


def stratified_resamples(runs: int, tasks: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Run indices [RESAMPLES run task]: each resample draws, within each task, `runs` of its runs
    with replacement (rliable's StratifiedBootstrap without task_bootstrap)."""
    check_resample_memory(runs * tasks)
    return np.random.default_rng(seed).integers(0, runs, size=(RESAMPLES, runs, tasks))


def stratified_interval(scores, statistic: Callable[..., np.ndarray] = iqm,
                        seed: int = BOOTSTRAP_SEED) -> Estimate:
    """`statistic` of scores [run task] (called on [resample run task] with ``axis=(1, 2)``, on the
    scores with ``axis=None``) with its 95% stratified percentile-bootstrap interval. A run with a
    NaN anywhere drops out; no run left: NaN."""
    scores = as_runs_by_tasks(scores)
    scores = scores[np.isfinite(scores).all(1)]
    runs, tasks = scores.shape
    if runs == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    value = float(statistic(scores, axis=None))
    if runs < 2 or np.all(scores == scores[0]):
        return Estimate(value, value, value)
    resampled = np.take_along_axis(scores[None], stratified_resamples(runs, tasks, seed), axis=1)  # [resample run task]
    low, high = percentile_interval(statistic(resampled, axis=(1, 2)))
    return Estimate(value, float(low), float(high))


def iqm_contrast(a, b, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """IQM(a) - IQM(b) for two configurations' scores on the same seeds (a[i] and b[i] a matched
    pair; a pair with a NaN drops out), with a paired stratified bootstrap interval: each resample
    draws the same seeds for both, so the seed-to-seed variation they share cancels."""
    a, b = as_runs_by_tasks(a), as_runs_by_tasks(b)
    both = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    a, b = a[both], b[both]
    runs, tasks = a.shape
    if runs == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    value = float(iqm(a) - iqm(b))
    if runs < 2:
        return Estimate(value, value, value)
    indices = stratified_resamples(runs, tasks, seed)  # [resample run task], shared by a and b
    resampled = (iqm(np.take_along_axis(a[None], indices, axis=1), axis=(1, 2))
                 - iqm(np.take_along_axis(b[None], indices, axis=1), axis=(1, 2)))  # [resample]
    low, high = percentile_interval(resampled)
    return Estimate(value, float(low), float(high))


def score_distribution(scores, thresholds) -> np.ndarray:
    """The performance profile (rliable's score distribution): for each threshold, the fraction of
    runs (over every run and task) whose score is above it. scores [run task], thresholds
    [threshold] -> [threshold]."""
    scores, thresholds = as_runs_by_tasks(scores), np.asarray(thresholds, dtype=float)
    return (scores.reshape(-1)[:, None] > thresholds[None, :]).mean(0)


def performance_profile(scores, thresholds, seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scores [run task], thresholds [threshold] -> the score distribution [threshold] and its 95%
    stratified percentile-bootstrap band (low, high), each [threshold]. Runs with a NaN drop out.
    A resample's profile is its draw counts times the above-threshold indicator, so no
    [resample run threshold] array is made."""
    scores, thresholds = as_runs_by_tasks(scores), np.asarray(thresholds, dtype=float)
    scores = scores[np.isfinite(scores).all(1)]
    runs, tasks = scores.shape
    profile = score_distribution(scores, thresholds)
    if runs < 2:
        return profile, profile, profile
    indices = stratified_resamples(runs, tasks, seed)  # [resample run task]
    cells = (np.arange(RESAMPLES)[:, None, None] * runs + indices) * tasks + np.arange(tasks)  # [resample run task]
    counts = np.bincount(cells.ravel(), minlength=RESAMPLES * runs * tasks).reshape(RESAMPLES, runs * tasks)
    above = (scores.reshape(-1)[:, None] > thresholds[None, :]).astype(float)  # [run*task threshold]
    low, high = percentile_interval(counts @ above / (runs * tasks))  # [resample threshold] -> [threshold] each
    return profile, low, high
