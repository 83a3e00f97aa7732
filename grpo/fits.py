"""Learning-speed fits: the saturating curve of ScaleRL (Khatri et al. 2025),

    R(s) = R0 + (A - R0) / (1 + (s_mid / s) ** B)

with R0 the starting performance (fitted too), A the asymptote, B the efficiency (steepness) and s_mid
the step at which half the gain is reached. A fit that fails is reported, never hidden.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit


@dataclass(frozen=True)
class Fit:
    asymptote: float  # A
    efficiency: float  # B
    midpoint: float  # s_mid
    r2: float
    failed: str | None = None  # why the fit failed, None if it did not


def saturating_curve(s, r0, asymptote, efficiency, midpoint):
    return r0 + (asymptote - r0) / (1 + (midpoint / s) ** efficiency)


def fit_curve(steps, values) -> Fit:
    """Fit R0, A, B, s_mid to a curve sampled at `steps` (> 0)."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    nan = float("nan")
    if len(steps) < 4 or not np.isfinite(values).all():
        return Fit(nan, nan, nan, nan, "too few points or non-finite values")
    start = (values[0], values[-max(1, len(values) // 10):].mean(), 1.0, float(np.median(steps)))
    bounds = ([-1.0, -1.0, 1e-3, steps.min() * 1e-3], [2.0, 2.0, 20.0, steps.max() * 100])
    try:
        (r0, asymptote, efficiency, midpoint), _ = curve_fit(saturating_curve, steps, values, p0=start, bounds=bounds,
                                                             maxfev=5000)
    except (RuntimeError, ValueError) as error:
        return Fit(nan, nan, nan, nan, f"no convergence: {error}".splitlines()[0][:80])
    residual = values - saturating_curve(steps, r0, asymptote, efficiency, midpoint)
    spread = ((values - values.mean()) ** 2).sum()
    r2 = float(1 - (residual**2).sum() / spread) if spread > 0 else nan
    if not np.isfinite(r2) or r2 < 0.5:
        return Fit(float(asymptote), float(efficiency), float(midpoint), r2, "poor fit (R² < 0.5): the curve does not saturate")
    return Fit(float(asymptote), float(efficiency), float(midpoint), r2)
