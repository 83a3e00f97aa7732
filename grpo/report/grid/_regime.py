"""The RLVR-shaped regime's numbers (a grid on task ``stream``): the base policy each
seed starts from, the spread of difficulty the stream gives, how far the best arm moves from the
base, comparisons at equal samples where arms sample at different rates, whether each finding
is about the level reached or about speed, and `full`'s headline findings side by side.

Pure, as grpo.report.grid._compute: the records come in through ReportData, `full`'s effects as
a table its caller read.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grpo.experiment.results import PRIMARY
from grpo.report._data import ReportData
from grpo.report._stats import Contrast, bootstrap_interval, paired_contrast

SLOPE_EPOCHS = 10  # final-window slopes are reported in success per this many epochs
LATE_FRACTION = 1 / 3  # the plateau test reads the last third of training: enough evaluated epochs for a slope
START = "success_at_start"  # per run: the primary outcome of the policy before any RL step (the base)
START_ENTROPY = "entropy_at_start"
COMPARED_COLUMNS = ["factor", "level", "reference", "full_difference", "full_low", "full_high", "full_verdict",
                    "difference", "low", "high", "verdict", "about", "carries_over"]


@dataclass
class Regime:
    base_success: tuple[float, float, float]  # mean held-out success of the base policies over seeds, with interval
    base_entropy: tuple[float, float, float]  # mean entropy (nats a token) of the base, with interval
    base_shared: bool  # every configuration of a seed starts from the same success (the base is shared)
    best: str | None  # config_id of the best configuration
    best_gain: Contrast | None  # its held-out success minus its base's, paired over seeds
    spread: pd.DataFrame  # per epoch: mean fraction of groups with pass rate in (0, 1), over configurations and seeds
    rates: pd.Series  # config_id -> responses sampled an epoch (mean over seeds and epochs)
    equal_samples: pd.DataFrame  # equal-sample contrasts of the levels whose arms sample at other rates than the reference's
    budget: float  # the sample budget of those contrasts (the least any arm reaches)
    slopes: pd.DataFrame  # per level: held-out success's slope over the last third of training, interval, still_improving
    plateaued: float  # share of the levels whose slope's interval does not lie above 0
    compared: pd.DataFrame  # COMPARED_COLUMNS: each of full's headline findings beside its estimate here
    unmatched: pd.DataFrame  # this grid's main effects whose factor `full` does not vary (no counterpart there)
    cost: dict[str, tuple[int, float]]  # "all" / "design": (trials, their summed wall seconds), see trial_cost


def value_at_samples(curves: pd.DataFrame, metric: str, budget: float) -> pd.Series:
    """Each run's `metric` at `budget` responses sampled, interpolated linearly between the
    evaluated epochs around it (a run that never reaches the budget: NaN).
    curves: config_id, seed, samples, metric (one row per evaluated epoch) -> index (config_id, seed)."""
    values = {}
    for (config_id, seed), run in curves.dropna(subset=[metric]).groupby(["config_id", "seed"], sort=True):
        run = run.sort_values("samples")
        samples, value = run.samples.to_numpy(dtype=float), run[metric].to_numpy(dtype=float)
        values[(config_id, seed)] = float(np.interp(budget, samples, value)) if samples[0] <= budget <= samples[-1] else np.nan
    return pd.Series(values, dtype=float).rename_axis(["config_id", "seed"])


def equal_sample_contrasts(curves: pd.DataFrame, configs: pd.DataFrame, axes: dict, references: dict, metric: str,
                           budget: float) -> pd.DataFrame:
    """Per non-reference level of each axis whose arm samples at another rate than its reference's
    arm: the paired contrast (level arm - reference arm, each averaged over its configurations per
    seed) of `metric` at `budget` responses sampled."""
    at_budget = value_at_samples(curves, metric, budget).unstack("config_id")  # [seed config]
    rate = curves.groupby("config_id").samples.max() / curves.groupby("config_id").epoch.max().add(1)
    rows = []
    for factor, levels in axes.items():
        reference = references[factor]
        arm = {level: [c for c in configs.index if configs.loc[c, factor] == level and c in at_budget] for level in levels}
        for level in levels:
            if level == reference or not arm[level] or not arm[reference]:
                continue
            level_rate, reference_rate = float(rate[arm[level]].mean()), float(rate[arm[reference]].mean())
            if np.isclose(level_rate, reference_rate):
                continue
            contrast = paired_contrast(at_budget[arm[level]].mean(axis=1), at_budget[arm[reference]].mean(axis=1))
            rows.append({"factor": factor, "level": level, "reference": reference, "budget": budget,
                         "rate": level_rate, "reference_rate": reference_rate, "difference": contrast.difference,
                         "low": contrast.low, "high": contrast.high, "p": contrast.p, "pairs": contrast.pairs})
    return pd.DataFrame(rows, columns=["factor", "level", "reference", "budget", "rate", "reference_rate", "difference",
                                       "low", "high", "p", "pairs"])


def late_slopes(curves: pd.DataFrame, configs: pd.DataFrame, axes: dict, epochs: int) -> pd.DataFrame:
    """Per level of each axis: the least-squares slope of held-out success over each run's
    evaluated epochs in the last LATE_FRACTION of training, averaged over the level's
    configurations per seed, then over seeds with a bootstrap interval, per SLOPE_EPOCHS epochs;
    `still_improving` where the interval lies above 0. (The final window's few epochs, which the
    grid report's slopes read, leave a slope too wide to tell a plateau from a rise.)
    curves: config_id, seed, epoch, heldout_sorted_frac."""
    late = curves[curves.epoch >= epochs * (1 - LATE_FRACTION)].dropna(subset=["heldout_sorted_frac"])
    per_run = {}
    for config_id, curve in late.groupby("config_id", sort=False):
        epoch = curve.epoch - curve.groupby("seed").epoch.transform("mean")
        value = curve.heldout_sorted_frac - curve.groupby("seed").heldout_sorted_frac.transform("mean")
        with np.errstate(invalid="ignore", divide="ignore"):  # a single evaluated epoch has no slope
            per_run[config_id] = (epoch * value).groupby(curve.seed).sum() / (epoch**2).groupby(curve.seed).sum()
    slopes = pd.DataFrame(per_run) * SLOPE_EPOCHS  # [seed config]
    rows = []
    for factor, levels in axes.items():
        for level in levels:
            members = [c for c in slopes.columns if configs.loc[c, factor] == level]
            arm = slopes[members].mean(axis=1).dropna().to_numpy(dtype=float) if members else np.array([])  # [seed]
            low, high = bootstrap_interval(arm)
            rows.append({"factor": factor, "level": level, "slope": float(arm.mean()) if len(arm) else np.nan,
                         "low": low, "high": high, "still_improving": bool(low > 0)})
    return pd.DataFrame(rows, columns=["factor", "level", "slope", "low", "high", "still_improving"])


def about(effects: pd.DataFrame, slopes: pd.DataFrame) -> pd.Series:
    """Per effect: "level" where both arms have levelled off (neither's slope lies above 0, see
    late_slopes), else "speed" (a difference at this training length, not the level either would reach)."""
    rising = {(row.factor, str(row.level)) for row in slopes.itertuples() if row.still_improving}
    return pd.Series(["speed" if (row.factor, str(row.level)) in rising or (row.factor, str(row.reference)) in rising
                      else "level" for row in effects.itertuples()], index=effects.index, dtype=object)


def compare_with_full(effects: pd.DataFrame, full: pd.DataFrame | None) -> pd.DataFrame:
    """Each of full's main effects whose factor, level and reference this grid also has, side by
    side with this grid's: carries over where both are decisive with one sign; reverses where both
    are decisive with opposite signs; else says which side is not decisive."""
    if full is None or not len(effects):
        return pd.DataFrame(columns=COMPARED_COLUMNS)
    here = effects.assign(level=effects.level.astype(str), reference=effects.reference.astype(str))
    there = full.assign(level=full.level.astype(str), reference=full.reference.astype(str))
    if "verdict" not in there:
        there = there.assign(verdict=np.where(there.decisive, "decisive", "not decisive"))
    if "verdict" not in here:
        here = here.assign(verdict=np.where(here.decisive, "decisive", "not decisive"))
    joined = there.merge(here, on=["factor", "level", "reference"], suffixes=("_full", ""))

    def carries(row) -> str:
        if row.decisive_full and row.decisive:
            return "carries over" if np.sign(row.difference_full) == np.sign(row.difference) else "reverses"
        if row.decisive_full:
            return "does not carry over (not decisive here)"
        return "decisive here only" if row.decisive else "not decisive in either"

    return pd.DataFrame({
        "factor": joined.factor, "level": joined.level, "reference": joined.reference,
        "full_difference": joined.difference_full, "full_low": joined.low_full, "full_high": joined.high_full,
        "full_verdict": joined.verdict_full, "difference": joined.difference, "low": joined.low, "high": joined.high,
        "verdict": joined.verdict, "about": joined.about, "carries_over": [carries(row) for row in joined.itertuples()],
    }, columns=COMPARED_COLUMNS)


def without_counterpart(effects: pd.DataFrame, full: pd.DataFrame | None) -> pd.DataFrame:
    """This grid's main effects whose factor `full` does not vary (loss_agg: full's seed policy
    emits no token sequence to aggregate over); every effect where full's effects are absent."""
    if full is None:
        return effects.iloc[0:0]
    return effects[~effects.factor.isin(set(full.factor))]


def trial_cost(runs: pd.DataFrame, design: list[str]) -> dict[str, tuple[int, float]]:
    """The sweep's cost as its trials recorded it: {"all": (trials, summed wall seconds), "design":
    the same for the trials that trained a configuration of the design grid (`design`: its
    config_ids; such a trial carries the tuning seeds too)}. A trial of a group records its wall
    time on every run of its configurations: one trial is one (trial, wall_s) pair.
    runs: config_id, trial, wall_s (every run of the plan; a run not trained has no wall_s)."""
    trained = runs.dropna(subset=["wall_s"])

    def summed(part: pd.DataFrame) -> tuple[int, float]:
        trials = part.drop_duplicates(["trial", "wall_s"])
        return len(trials), float(trials.wall_s.sum())
    return {"all": summed(trained), "design": summed(trained[trained.config_id.isin(design)])}


def regime(data: ReportData, ranked: list[str], best: str | None, effects: pd.DataFrame, axes: dict, references: dict,
           full: pd.DataFrame | None) -> tuple[Regime, pd.DataFrame]:
    """The regime's numbers from a stream grid's ReportData (finals with START and START_ENTROPY;
    curves with samples, mixed_pass_frac and the primary source), and `effects` with `about`."""
    finals = data.finals
    start = finals[START].unstack("config_id")  # [seed config]
    entropy = finals[START_ENTROPY].unstack("config_id")
    per_seed = start.mean(axis=1)
    base_shared = bool((start.max(axis=1) - start.min(axis=1)).max() == 0) if start.shape[1] else True

    def mean_interval(values: pd.Series) -> tuple[float, float, float]:
        low, high = bootstrap_interval(values.to_numpy(dtype=float))
        return float(values.mean()), low, high

    gain = None
    if best is not None:
        gain = paired_contrast(finals.loc[best][PRIMARY].reindex(per_seed.index), per_seed)
    curves = data.curves
    spread = curves.groupby("epoch").mixed_pass_frac.mean().rename("mixed_pass_frac").reset_index()
    rates = (curves.groupby("config_id").samples.max() / curves.groupby("config_id").epoch.max().add(1)).rename("rate")
    budget = float(curves.groupby(["config_id", "seed"]).samples.max().min()) if len(curves) else float("nan")
    source = curves.rename(columns={"heldout_sorted_frac": PRIMARY})
    equal = equal_sample_contrasts(source[source.config_id.isin(ranked)], data.configs, axes, references, PRIMARY, budget)
    epochs = int(data.configs.epochs.max()) if len(data.configs) else 0
    slopes = late_slopes(curves[curves.config_id.isin(ranked)], data.configs, axes, epochs)
    plateaued = float((~slopes.still_improving).mean()) if len(slopes) else float("nan")
    effects = effects.assign(about=about(effects, slopes))
    return Regime(mean_interval(per_seed), mean_interval(entropy.mean(axis=1)), base_shared, best, gain, spread, rates,
                  equal, budget, slopes, plateaued, compare_with_full(effects, full),
                  without_counterpart(effects, full),
                  trial_cost(data.study.runs if data.study is not None else data.runs, list(data.configs.index))), effects
