"""Statistics of runs over seeds: aggregates and their bootstrap intervals (rliable's first two
layers: pure aggregates, then interval estimation; plotting lives beside each report kind, e.g. grpo.report.grid._figures).

Data convention, in every function: ``scores`` is a 1-D array with one number per seed of one
configuration, ``NaN`` where that seed's run diverged. Two configurations of one grid share
each seed's initial weights and random stream, so ``a[i]`` and ``b[i]`` (same seed) are a
matched pair: a comparison is the mean of the per-seed differences, with a paired bootstrap
interval over seeds (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice";
Efron & Tibshirani 1993, ch. 13 on paired designs). A pair with a NaN drops out.

Every resampling draws from ``np.random.default_rng(seed)`` with a fixed seed, so the same
scores give the same intervals; ``RESAMPLES`` keeps the Monte Carlo noise of an endpoint
well below the third decimal (about ``0.2 * se`` at 2,000 resamples, ``0.1 * se`` at 10,000).
"""

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import stats

from grpo.errors import UsageError

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # the family-wise error rate of a Holm-corrected family
POWER = 0.8  # the power asked of a future experiment in `seeds_needed`
RESAMPLES = 10_000
Z = float(stats.norm.ppf(1 - ALPHA / 2))  # the normal quantile of a two-sided CONFIDENCE interval (1.96)
DETECTION_Z = Z + float(stats.norm.ppf(POWER))  # z_{1-α/2} + z_power (2.80): seeds_needed, minimum_detectable_effect
BOOTSTRAP_SEED = 0


def iqm(scores, axis=None):
    """Interquartile mean: the mean of the middle 50% of the scores (along `axis`)."""
    return stats.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


RESAMPLED_BYTES = 8 + 8 + 4 + 8  # a resample's cell: its int64 index, offset, float32 count, and a temporary


def check_resample_memory(n: int) -> None:
    """UsageError in one line when the bootstrap over `n` seeds ([RESAMPLES n] arrays) cannot fit
    in the memory available, before any is made."""
    from grpo.core.footprint import available_bytes

    needed, available = RESAMPLES * n * RESAMPLED_BYTES, available_bytes("cpu")
    if available is not None and needed > available:
        raise UsageError(f"{n:,} seeds: the paired bootstrap ({RESAMPLES:,} resamples x seeds) needs about"
                         f" {needed / 2**30:,.0f} GiB, this machine has {available / 2**30:,.1f} GiB available;"
                         " report fewer seeds (a grid file naming a subset)")


@cache
def resample(n: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Bootstrap indices [RESAMPLES n]: each row draws n of the n seeds with replacement
    (read-only; one draw per (n, seed), shared by every statistic)."""
    check_resample_memory(n)
    indices = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    indices.flags.writeable = False
    return indices


@cache
def resample_counts(n: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """The same resamples as `resample(n, seed)`, as counts [RESAMPLES n] (how often each seed
    was drawn): a resampled mean of columns is then one matrix product, counts @ x / n."""
    offsets = (resample(n, seed) + n * np.arange(RESAMPLES)[:, None]).ravel()
    counts = np.bincount(offsets, minlength=RESAMPLES * n).reshape(RESAMPLES, n).astype(np.float32)
    counts.flags.writeable = False
    return counts


def percentile_interval(resampled: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of resampled statistics along `axis` (the resample axis)."""
    tail = 100 * ALPHA / 2
    low, high = np.percentile(resampled, [tail, 100 - tail], axis=axis)
    return low, high


def bootstrap_interval(scores, statistic=np.mean, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile-bootstrap interval of `statistic` (called with ``axis=-1``) over the
    seeds, NaNs left out. One seed, or seeds that all agree, give the degenerate interval."""
    scores = _finite(scores)
    if len(scores) == 0:
        return float("nan"), float("nan")
    if len(scores) < 2 or np.all(scores == scores[0]):
        value = float(statistic(scores, axis=-1))
        return value, value
    low, high = percentile_interval(statistic(scores[resample(len(scores), seed)], axis=-1))
    return float(low), float(high)


def summarize(scores, seed: int = BOOTSTRAP_SEED) -> dict[str, float]:
    """Runs (non-NaN seeds), mean and IQM, each with its 95% bootstrap interval."""
    finite = _finite(scores)
    mean_low, mean_high = bootstrap_interval(finite, np.mean, seed)
    iqm_low, iqm_high = bootstrap_interval(finite, iqm, seed)
    nan = float("nan")
    return {"runs": len(finite), "mean": float(finite.mean()) if len(finite) else nan, "mean_low": mean_low,
            "mean_high": mean_high, "iqm": float(iqm(finite)) if len(finite) else nan, "iqm_low": iqm_low,
            "iqm_high": iqm_high}


@dataclass(frozen=True)
class Contrast:
    """Mean of per-seed differences a - b with its paired bootstrap interval."""

    difference: float
    low: float
    high: float
    p: float  # two-sided p-value of "no difference" (difference / bootstrap standard error, normal)
    se: float  # paired standard error (bootstrap standard deviation of the mean difference)
    se_unpaired: float  # what the standard error would be if the seeds were not matched
    sd: float  # standard deviation of the per-seed differences
    pairs: int  # seeds present in both

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def paired_contrast(a, b, seed: int = BOOTSTRAP_SEED) -> Contrast:
    """a, b: scores of two configurations on the same seeds (NaN = diverged) -> the paired
    contrast a - b. The p-value of "no difference" is two-sided, from the difference over its
    bootstrap standard error (normal approximation): unlike a count of resamples beyond 0 it is
    not floored at 1 / RESAMPLES, which Holm's correction over a hundred comparisons needs."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    diffs = a - b
    n, nan = len(diffs), float("nan")
    if n == 0:
        return Contrast(nan, nan, nan, nan, nan, nan, nan, 0)
    difference = float(diffs.mean())
    sd = float(diffs.std(ddof=1)) if n > 1 else 0.0
    se_unpaired = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / n)) if n > 1 else 0.0
    if n < 2 or np.all(diffs == diffs[0]):
        return Contrast(difference, difference, difference, 1.0 if difference == 0 else 0.0, 0.0, se_unpaired, sd, n)
    means = diffs[resample(n, seed)].mean(-1)  # [RESAMPLES]
    low, high = percentile_interval(means)
    se = float(means.std(ddof=1))
    p = float(2 * stats.norm.sf(abs(difference) / se))
    return Contrast(difference, float(low), float(high), p, se, se_unpaired, sd, n)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): reject where adjusted p < ALPHA, and
    the family-wise error rate stays at most ALPHA. NaNs are left out of the family."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))  # monotone: never below the previous
        adjusted[index] = running
    return adjusted


def probability_of_improvement(a, b, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """P(X > Y) + P(X = Y) / 2 for a run X of one configuration and a run Y of another (the
    Mann-Whitney U statistic over len(a) * len(b); rliable's probability of improvement), with
    its 95% bootstrap interval. The seeds are resampled jointly (pairs stay matched).
    Returns (estimate, low, high)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    n = len(a)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    wins = (a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :])  # [seed_a seed_b]
    estimate = float(wins.mean())
    counts = resample_counts(n, seed).astype(float)  # [RESAMPLES seed]
    resampled = ((counts @ wins) * counts).sum(1) / n**2  # [RESAMPLES]
    low, high = percentile_interval(resampled)
    return estimate, float(low), float(high)


def seeds_needed(sd: float, difference: float) -> float:
    """Seeds for a paired two-sided test at level ALPHA to detect `difference` with power
    POWER when the per-seed differences have standard deviation `sd`: n = ((z_{1-α/2} +
    z_power) · sd / difference)²; infinite for a zero difference."""
    if difference == 0 or not np.isfinite(difference):
        return float("inf")
    return float(np.ceil((DETECTION_Z * sd / abs(difference)) ** 2))


def minimum_detectable_effect(sd: float, pairs: int) -> float:
    """The smallest true paired difference a two-sided test at level ALPHA detects with power
    POWER over `pairs` seeds whose differences have standard deviation `sd`: (z_{1-α/2} +
    z_power) · sd / √pairs (the inverse of `seeds_needed`); infinite below two pairs."""
    if pairs < 2 or not np.isfinite(sd):
        return float("inf")
    return float(DETECTION_Z * sd / np.sqrt(pairs))


def split_halves(seeds) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of the seeds, alternating in sorted order (0, 2, 4, ... and 1, 3,
    5, ...): a finding replicates when it holds on each half alone."""
    ordered = np.sort(np.asarray(seeds))
    return ordered[0::2], ordered[1::2]


def _finite(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    return scores[np.isfinite(scores)]
