"""Learning-speed fits: the saturating curve of ScaleRL (Khatri et al. 2025, "The Art of Scaling
Reinforcement Learning Compute for LLMs"),

    R(s) = R0 + (A - R0) / (1 + (s_mid / s) ** B)

with R0 the starting performance, A the asymptote, B the efficiency (steepness) and s_mid the
step at which half the gain is reached. The curve is a seed-mean, so it comes with its own
seed-to-seed noise (the standard error of the mean at each step); a fit is judged against
that noise, not by R² alone: a curve that saturates early is mostly noise around its plateau
and has a low R², yet its A is well determined.

A fit that fails says why (`kind: detail`), and its parameters are not reported as findings:
- no convergence, too few points, non-finite values;
- a flat curve: the saturating curve explains no more than a constant does, given the noise;
- a parameter at the bound of its search box (the optimum lies outside what was searched);
- the asymptote outside the metric's range [0, 1] by more than the noise;
- the midpoint outside the observed steps (R0 and B, or A, are then extrapolations);
- residuals larger than the noise allows (the curve's shape is wrong).
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.optimize import curve_fit

METRIC_RANGE = (0.0, 1.0)  # fractions: success, reward_frac, accuracies
NOISE_TOLERANCE = 2.0  # residual RMS may exceed the seed-to-seed noise RMS by this factor
FLAT_P = 1e-3  # a curve is flat unless the fit beats a constant at this significance
AT_BOUND = 1e-3  # relative distance to a bound that counts as "at the bound"


@dataclass(frozen=True)
class Fit:
    r0: float
    asymptote: float  # A
    efficiency: float  # B
    midpoint: float  # s_mid
    r2: float
    noise_ratio: float  # residual RMS / noise RMS: about 1 for a good fit
    failed: str | None = None  # why the fit failed ("kind: detail"), None if it did not


def saturating_curve(s, r0, asymptote, efficiency, midpoint):
    return r0 + (asymptote - r0) / (1 + (midpoint / s) ** efficiency)


def fit_curve(steps, values, noise) -> Fit:
    """Fit R0, A, B, s_mid to a curve sampled at `steps` (> 0) whose points have standard
    error `noise` (a number, or one per point)."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    noise = np.broadcast_to(np.asarray(noise, dtype=float), values.shape)
    nan = float("nan")
    if len(steps) < 5 or not (np.isfinite(values).all() and np.isfinite(noise).all()):
        return Fit(nan, nan, nan, nan, nan, nan, "no fit: too few points or non-finite values")
    sigma = np.maximum(noise, 1e-3 * max(1e-9, np.abs(values).max()))  # a noiseless curve still weighs its points
    low, high = METRIC_RANGE
    span = high - low
    bounds = np.array([[low - span, low - span, 0.05, steps.min() / 100], [high + span, high + span, 20.0, steps.max() * 100]])
    tail = max(1, len(values) // 10)
    start = np.clip([values[:tail].mean(), values[-tail:].mean(), 1.0, float(np.median(steps))],
                    bounds[0] * (1 + 1e-6), bounds[1] * (1 - 1e-6))
    try:
        params, _ = curve_fit(saturating_curve, steps, values, p0=start, sigma=sigma, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError) as error:
        return Fit(nan, nan, nan, nan, nan, nan, f"no fit: no convergence, {error}".splitlines()[0][:80])
    r0, asymptote, efficiency, midpoint = (float(p) for p in params)
    residual = values - saturating_curve(steps, *params)
    spread = ((values - values.mean()) ** 2).sum()
    r2 = float(1 - (residual**2).sum() / spread) if spread > 0 else nan
    chi2_fit = float(((residual / sigma) ** 2).sum())
    chi2_flat = float((((values - np.average(values, weights=sigma**-2)) / sigma) ** 2).sum())
    noise_ratio = float(np.sqrt(chi2_fit / len(values)))
    fit = Fit(r0, asymptote, efficiency, midpoint, r2, noise_ratio)

    if chi2_flat - chi2_fit < stats.chi2.ppf(1 - FLAT_P, df=3):
        return _failed(fit, "flat: the curve explains no more than a constant, given its seed-to-seed noise")
    logs = (False, False, True, True)  # B and s_mid are scales: compared on a log axis
    for name, value, bound_low, bound_high, log in zip(("R0", "A", "B", "s_mid"), params, *bounds, logs):
        value_t, low_t, high_t = np.log([value, bound_low, bound_high]) if log else (value, bound_low, bound_high)
        if min(value_t - low_t, high_t - value_t) <= AT_BOUND * (high_t - low_t):
            return _failed(fit, f"at a bound: {name} = {value:.4g} at the bound of its search range")
    tolerance = NOISE_TOLERANCE * float(np.sqrt(np.mean(sigma**2)))
    if not low - tolerance <= asymptote <= high + tolerance:
        return _failed(fit, f"out of range: asymptote A = {asymptote:.3f} outside the metric's range [{low:g}, {high:g}]")
    if not steps.min() <= midpoint <= steps.max():
        return _failed(fit, f"midpoint: s_mid = {midpoint:.3g} outside the observed steps [{steps.min():g}, {steps.max():g}]")
    if noise_ratio > NOISE_TOLERANCE:
        return _failed(fit, f"residuals: {noise_ratio:.1f}x the seed-to-seed noise; the curve does not saturate this way")
    return fit


def _failed(fit: Fit, reason: str) -> Fit:
    return Fit(fit.r0, fit.asymptote, fit.efficiency, fit.midpoint, fit.r2, fit.noise_ratio, reason)
