"""The report's numbers, computed from a ReportData alone: pure (no file is read or written;
grpo.report writes what this returns).

The primary outcome is `success` (grpo.experiment.results.PRIMARY): the fraction of sampled responses that
are exactly sorted, over each run's final window. It is the one metric every reward function
shares; `reward_frac` depends on each reward's scale and is compared only within one reward
function. Comparisons are paired over seeds (grpo.report._stats): seed s of two configurations starts
from the same weights and draws from the same random stream.
"""

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from grpo.core.config import CONFIG_FIELDS, TrainConfig, seed_default
from grpo.experiment.results import PRIMARY, final_window
from grpo.modes.losses import loss_options
from grpo.report._data import CURVE_METRICS, Completeness, ReportData, completeness_of
from grpo.report._fits import fit_curve
from grpo.report._names import configuration_name, ordered_levels
from grpo.report._stats import (
    ALPHA,
    Contrast,
    bootstrap_interval,
    holm,
    minimum_detectable_effect,
    paired_contrast,
    percentile_interval,
    probability_of_improvement,
    resample_counts,
    seeds_needed,
    split_halves,
    summarize,
)
from grpo.report.grid._regime import SLOPE_EPOCHS, Regime

HALVES = ("half_a", "half_b")
LEARNING_FLOOR = 0.05  # a configuration learns where its mean success reaches this (below: "stays near 0")
HELD_FIELDS = ("lr", "epsilon", "responses", "epochs", "steps_per_epoch", "dim")  # report.md's first line names them
LOSS_OPTION_FIELDS = ("epsilon",)  # of HELD_FIELDS, those a loss reads only if it declares them (its options)


@dataclass
class Robustness:
    """Each finding across the cells of a grid (grpo.report.grid._robustness computes it)."""

    cells: dict[str, str]  # cell -> the values it holds ("lr 0.001, epsilon 0.01"; the tuned cell: what was tuned)
    rows: pd.DataFrame  # ROBUSTNESS_COLUMNS: one row per finding and cell (robustness.csv)
    verdicts: pd.DataFrame  # one row per finding: factor, level, reference, verdict, flips, vanishes
    best: pd.DataFrame  # per cell: its best configuration and where the default cell's best stands in it
    sensitivity: pd.DataFrame  # main effects per sensitivity value: field, value, factor, level, difference, low, high, decisive
    tuning: pd.DataFrame  # per arm: chosen, objective, edge, stability, wins of each candidate (empty without tuning)
    incomplete: dict[str, int]  # cell -> configurations left out of it (runs missing or failed)
    gaps: list = field(default_factory=list)  # every gap of the study (grpo.experiment.completeness.study_gaps)


@dataclass
class Tables:
    grid: str
    grid_text: str | None
    commit: str
    seeds: list[int]
    completeness: Completeness
    axes: dict[str, list]  # varying axis -> its levels, in order
    held: dict[str, list]  # HELD_FIELDS the grid does not vary -> their values (one, unless another axis sets them)
    references: dict[str, object]  # varying axis -> the reference level of its effects
    configurations: pd.DataFrame  # one row per configuration, ranked by success (incomplete ones unranked)
    effects: pd.DataFrame  # main effect of each non-reference level
    interactions: pd.DataFrame  # two-way interactions
    fits: pd.DataFrame  # saturating-curve fit of each ranked configuration's success curve
    slopes: pd.DataFrame  # per level of each axis: its final-window slope of success, with interval, and still_improving
    within_reward: pd.DataFrame  # per reward function: reward_frac vs success
    replication: pd.DataFrame  # per half of the seeds: its best configuration and tied set
    unhealthy: pd.DataFrame  # runs that diverged, failed or are missing
    min_detectable: float  # median MDE at 80% power of the contrasts against the seed's default where both arms learn
    min_detectable_family: float  # the same under the family's correction (Holm over those contrasts: Bonferroni's z)
    learning_contrasts: tuple[int, int]  # (contrasts against the default whose arms both learn, all such contrasts)
    median_half_width: float  # median half-width of the paired 95% intervals against the seed's default (all of them)
    pairing_gain: float  # median (unpaired standard error / paired standard error) of those contrasts
    leaders_half_width: float  # median half-width of the paired intervals between the best and those tied with it
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # figure name -> tidy curves
    robustness: Robustness | None = None  # the findings across cells (grpo.report.grid.with_robustness)
    regime: Regime | None = None  # the RLVR-shaped regime's numbers (task stream; grpo.report.grid.render adds them)
    headline: pd.DataFrame | None = None  # rliable's view of the headline contrasts (grpo.report.grid._headline)
    profiles: pd.DataFrame | None = None  # performance profiles of the headline configurations (the same module)
    confirmation: pd.DataFrame = field(default_factory=pd.DataFrame)  # decisive findings on the confirm seeds (_confirm)
    conditional: pd.DataFrame = field(default_factory=pd.DataFrame)  # main effects within levels (_conditional)
    three_way: pd.DataFrame = field(default_factory=pd.DataFrame)  # three-way interactions (_conditional)


def held_values(configs: pd.DataFrame, axes: dict) -> dict[str, list]:
    """The HELD_FIELDS that are not axes -> their distinct values over the configurations that read
    them (a loss option such as epsilon: those whose loss reads it); a field none reads is left out."""
    readers = held_readers(configs, axes)
    held = {}
    for name in HELD_FIELDS:
        if name in axes or not len(configs):
            continue
        reading = configs[configs.loss_mode.isin(readers[name])] if name in readers else configs
        if len(reading):
            held[name] = sorted(reading[name].unique().tolist())
    return held


def held_readers(configs: pd.DataFrame, axes: dict) -> dict[str, list[str]]:
    """Each of LOSS_OPTION_FIELDS that is held fixed and that some loss mode of `configs` does not
    read -> the loss modes that read it (grpo.modes.losses.loss_options: epsilon, the losses that clip at it)."""
    modes = list(dict.fromkeys(configs.loss_mode))
    readers = {name: [mode for mode in modes if name in loss_options(mode)] for name in LOSS_OPTION_FIELDS
               if name not in axes}
    return {name: reading for name, reading in readers.items() if reading != modes}


def reference_level(axis: str, levels: list):
    """The level effects are measured against: the seed document's choice (TrainConfig's
    default) where the grid has it, else the first level."""
    default = getattr(TrainConfig(), axis)
    return default if default in levels else levels[0]


def compute(data: ReportData) -> Tables:
    runs, configs = data.runs, data.configs
    completeness = completeness_of(runs, configs)
    seeds = sorted(runs.seed.unique().tolist())
    axes = {name: ordered_levels(name, configs[name]) for name in data.axes}
    references = {name: reference_level(name, levels) for name, levels in axes.items()}
    labels = {config_id: configuration_name(configs.loc[config_id], axes) for config_id in configs.index}

    # Ranked configurations: complete, with at least one run that did not diverge
    done = configs.index[~configs.index.isin(completeness.missing + completeness.failed)]
    scores = data.finals[PRIMARY].unstack("seed").reindex(index=list(done), columns=seeds) if len(data.finals) else (
        pd.DataFrame(index=list(done), columns=seeds, dtype=float))  # [config seed]
    ranked = [config_id for config_id in done if scores.loc[config_id].notna().any()]
    scores = scores.loc[ranked]

    table = _configurations(data, configs, axes, labels, scores, completeness)
    halves = dict(zip(HALVES, split_halves(seeds)))
    tied = {"full": tied_with_best(scores, seeds)} | {half: tied_with_best(scores, list(s)) for half, s in halves.items()}
    if len(ranked):
        best = best_of(scores, seeds)
        table = table.join(tied["full"].add_prefix("best_"), on="config_id")
        table["tied_with_best"] = table.config_id.map(tied["full"].tied).fillna(False).astype(bool)
        for half in HALVES:
            table[f"tied_{half}"] = table.config_id.map(tied[half].tied).fillna(False).astype(bool)
        table["seeds_to_resolve"] = [seeds_needed(row.best_sd, row.best_difference)
                                     if row.tied_with_best and row.config_id != best else np.nan
                                     for row in table.itertuples()]
    else:
        best = None
        table = table.assign(tied_with_best=False, **{f"tied_{half}": False for half in HALVES})
    table = _versus_default(table, configs, scores, seeds, halves)
    table = _rank(table)

    seed_sets: dict[str, Iterable[int]] = {"full": seeds, **halves}
    effects_by_seeds = {name: factor_effects(scores, configs, axes, references, list(s)) for name, s in seed_sets.items()}
    effects = mark_consistent(*(effects_by_seeds[name][0] for name in ("full", *HALVES)))
    interactions = mark_consistent(*(effects_by_seeds[name][1] for name in ("full", *HALVES)))

    contrasts = table.dropna(subset=["default_half_width"])
    median_half_width = float(contrasts.default_half_width.median()) if len(contrasts) else float("nan")
    learning = contrasts[contrasts.default_learns.astype(bool)]
    min_detectable = float(learning.default_mde.median()) if len(learning) else float("nan")
    min_detectable_family = float(np.median([minimum_detectable_effect(r.default_sd, r.default_pairs, len(contrasts))
                                             for r in learning.itertuples()])) if len(learning) else float("nan")
    pairing_gain = float(contrasts.default_pairing_gain.median()) if len(contrasts) else float("nan")
    leaders = table[table.tied_with_best & (table.best_difference > 0)] if len(ranked) else table.iloc[:0]
    leaders_half_width = float(((leaders.best_high - leaders.best_low) / 2).median()) if len(leaders) else float("nan")
    replication = pd.DataFrame([
        {"half": half, "seeds": len(halves[half]), "best": labels.get(best_of(scores, list(halves[half])), "–"),
         "best is tied in the full data": bool(table.set_index("config_id").tied_with_best.get(best_of(scores, list(halves[half])), False)),
         "tied with its best": int(tied[half].tied.sum())} for half in HALVES]) if len(ranked) else pd.DataFrame()

    slopes = _level_slopes(data, configs, axes, ranked)
    effects = _mark_improving(effects, slopes)
    commit = ", ".join(sorted(runs.git_commit.dropna().astype(str).str[:10].unique())) if "git_commit" in runs else ""
    curves = _figure_curves(data, configs, axes, references, ranked)
    return Tables(
        grid=data.name, grid_text=data.grid_text, commit=commit or "not recorded", seeds=seeds,
        completeness=completeness, axes=axes, held=held_values(configs, axes), references=references,
        configurations=table, effects=effects,
        interactions=interactions, fits=_fits(data, labels, ranked, table), slopes=slopes, within_reward=_within_reward(table, axes),
        replication=replication, unhealthy=runs[runs.status != "ok"].reset_index(drop=True),
        min_detectable=min_detectable, min_detectable_family=min_detectable_family,
        learning_contrasts=(len(learning), len(contrasts)), median_half_width=median_half_width,
        pairing_gain=pairing_gain, leaders_half_width=leaders_half_width, curves=curves)


def _configurations(data, configs, axes, labels, scores, completeness) -> pd.DataFrame:
    rows = []
    finals = data.finals
    for config_id in configs.index:
        complete = config_id not in completeness.missing + completeness.failed
        row = {"config_id": config_id, "configuration": labels[config_id], **configs.loc[config_id, list(axes)].to_dict(),
               "complete": complete}
        if config_id in scores.index:
            summary = summarize(scores.loc[config_id].to_numpy())
            own = finals.loc[config_id]
            row |= {"runs": summary["runs"], "success_mean": summary["mean"], "success_low": summary["mean_low"],
                    "success_high": summary["mean_high"], "iqm": summary["iqm"], "iqm_low": summary["iqm_low"],
                    "iqm_high": summary["iqm_high"], "reward_frac_mean": own.reward_frac.mean(),
                    "greedy_train_acc": own.greedy_train_acc.mean(), "greedy_heldout_acc": own.greedy_heldout_acc.mean()}
            if data.regime:  # the base's held-out success (equal across configurations sharing it) and the stream's
                row |= {"success_at_start": own.success_at_start.mean(), "stream_success": own.stream_success.mean()}
        else:
            row["runs"] = 0
        rows.append(row)
    columns = ["config_id", "configuration", *axes, "complete", "runs", "success_mean", "success_low", "success_high",
               *(["success_at_start", "stream_success"] if data.regime else []),
               "iqm", "iqm_low", "iqm_high", "reward_frac_mean", "greedy_train_acc", "greedy_heldout_acc"]
    return pd.DataFrame(rows).reindex(columns=columns)


def best_of(scores: pd.DataFrame, seeds: list) -> str | None:
    """The configuration with the highest mean success on `seeds` (ties: the first in grid order)."""
    means = scores[seeds].mean(axis=1)
    return None if means.isna().all() else means.idxmax()


def _contrast_columns(contrast: Contrast) -> dict:
    return {"difference": contrast.difference, "low": contrast.low, "high": contrast.high, "p": contrast.p,
            "se": contrast.se, "sd": contrast.sd, "pairs": contrast.pairs,
            "mde": minimum_detectable_effect(contrast.sd, contrast.pairs)}


def tied_with_best(scores: pd.DataFrame, seeds: list) -> pd.DataFrame:
    """Per configuration: the paired contrast best - it on `seeds`, Holm over the comparisons,
    tied when the Holm-adjusted p is not below ALPHA (the best is tied with itself)."""
    best = best_of(scores, seeds) if len(scores) else None
    if best is None:
        return pd.DataFrame(columns=["difference", "low", "high", "p", "sd", "pairs", "p_holm", "tied"])
    rows = {config_id: _contrast_columns(paired_contrast(scores.loc[best, seeds], scores.loc[config_id, seeds]))
            for config_id in scores.index if config_id != best}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["difference", "low", "high", "p", "sd", "pairs"])
    frame["p_holm"] = holm(frame.p) if len(frame) else []
    frame["tied"] = ~(frame.p_holm < ALPHA)
    frame.loc[best] = {"difference": 0.0, "low": 0.0, "high": 0.0, "p": 1.0, "sd": 0.0, "pairs": len(seeds),
                       "p_holm": 1.0, "tied": True}
    return frame


def _versus_default(table, configs, scores, seeds, halves) -> pd.DataFrame:
    """Each ranked configuration against the seed document's choices with its other fields
    (grpo.core.config.seed_default): paired contrast, probability of improvement, Holm over the
    family, and whether a decisive difference keeps its sign in both halves of the seeds."""
    rows = []
    for config_id in scores.index:
        default = seed_default(TrainConfig(**configs.loc[config_id, list(CONFIG_FIELDS)].to_dict())).config_id
        row = {"config_id": config_id, "default_id": default}
        if default in scores.index and default != config_id:
            contrast = paired_contrast(scores.loc[config_id], scores.loc[default])
            poi = probability_of_improvement(scores.loc[config_id], scores.loc[default])
            row |= {"default_difference": contrast.difference, "default_low": contrast.low, "default_high": contrast.high,
                    "default_p": contrast.p, "default_half_width": contrast.half_width,
                    "default_sd": contrast.sd, "default_pairs": contrast.pairs,
                    "default_mde": minimum_detectable_effect(contrast.sd, contrast.pairs),
                    "default_learns": bool(min(np.nanmean(scores.loc[config_id]), np.nanmean(scores.loc[default]))
                                           >= LEARNING_FLOOR),
                    "default_pairing_gain": contrast.se_unpaired / contrast.se if contrast.se > 0 else np.nan,
                    "poi": poi[0], "poi_low": poi[1], "poi_high": poi[2]}
            for half, half_seeds in halves.items():
                row[f"default_{half}"] = paired_contrast(scores.loc[config_id, list(half_seeds)],
                                                         scores.loc[default, list(half_seeds)]).difference
        rows.append(row)
    columns = ["config_id", "default_id", "default_difference", "default_low", "default_high", "default_p",
               "default_half_width", "default_sd", "default_pairs", "default_mde", "default_learns",
               "default_pairing_gain", "poi", "poi_low", "poi_high",
               *(f"default_{half}" for half in HALVES)]
    versus = pd.DataFrame(rows).reindex(columns=columns)
    versus["default_p_holm"] = holm(versus.default_p) if len(versus) else []
    decisive = versus.default_p_holm < ALPHA
    versus["versus_default"] = np.where(decisive, np.where(versus.default_difference > 0, "better", "worse"), "")
    same_sign = np.ones(len(versus), dtype=bool)
    for half in HALVES:
        same_sign &= np.sign(versus[f"default_{half}"]) == np.sign(versus.default_difference)
    versus["default_consistent"] = decisive & same_sign
    versus["is_default"] = versus.config_id == versus.default_id
    return table.merge(versus, on="config_id", how="left")


def _rank(table: pd.DataFrame) -> pd.DataFrame:
    order = table.sort_values(["complete", "success_mean", "iqm"], ascending=False, na_position="last", kind="stable")
    ranked = order.success_mean.notna() & order.complete
    order.insert(0, "rank", pd.array(np.where(ranked, np.cumsum(ranked), 0), dtype="Int64"))
    order.loc[~ranked, "rank"] = pd.NA
    return order.reset_index(drop=True)


def cells_by_levels(configs: pd.DataFrame, ranked: list, factors: list[str], axes: dict) -> dict:
    """(levels of `factors`) -> {values of the other axes -> config_id}, over the ranked configurations."""
    others = [name for name in axes if name not in factors]
    cells: dict = {}
    for config_id in ranked:
        config = configs.loc[config_id]
        cells.setdefault(tuple(config[name] for name in factors), {})[tuple(config[name] for name in others)] = config_id
    return cells


def paired_means(values: np.ndarray, groups: list[list[str]], index: dict) -> list[np.ndarray]:
    """values [config seed ...]; groups: lists of config_ids, one per term, aligned cell by cell.
    Returns per term the mean over cells [seed ...], each cell kept only where every term of it
    is finite: a diverged run drops out of its pairs."""
    stacked = np.stack([values[[index[c] for c in group]] for group in groups])  # [term cell seed ...]
    keep = np.isfinite(stacked).all(0)  # [cell seed ...]
    count = keep.sum(0)
    with np.errstate(invalid="ignore"):
        return [np.where(keep, term, 0).sum(0) / np.where(count > 0, count, np.nan) for term in stacked]


def effect_terms(configs, ranked, axes, references):
    """Yields (factor, level, reference, factor_b, level_b, reference_b, groups): the config
    groups whose per-seed difference is the effect. A main effect compares level with the
    reference in every cell of the other axes; an interaction compares the effect of level
    under level_b with the effect under reference_b."""
    for factor, levels in axes.items():
        reference = references[factor]
        cells = cells_by_levels(configs, ranked, [factor], axes)
        for level in levels:
            shared = [key for key in cells.get((level,), {}) if key in cells.get((reference,), {})]
            if level != reference and shared:
                yield factor, level, reference, "", "", "", [[cells[(level,)][k] for k in shared],
                                                             [cells[(reference,)][k] for k in shared]]
    names = list(axes)
    for i, factor in enumerate(names):
        for factor_b in names[i + 1:]:
            cells = cells_by_levels(configs, ranked, [factor, factor_b], axes)
            ref, ref_b = references[factor], references[factor_b]
            for level in axes[factor]:
                for level_b in axes[factor_b]:
                    if level == ref or level_b == ref_b:
                        continue
                    corners = [(level, level_b), (ref, level_b), (level, ref_b), (ref, ref_b)]
                    shared = [k for k in cells.get(corners[0], {}) if all(k in cells.get(c, {}) for c in corners[1:])]
                    if shared:
                        yield factor, level, ref, factor_b, level_b, ref_b, [[cells[c][k] for k in shared] for c in corners]


def factor_effects(scores: pd.DataFrame, configs, axes, references, seeds: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Main effects and two-way interactions of success on `seeds`, each a paired contrast
    over seeds with Holm's correction within its family. A main effect's `near_zero`: the cells
    (configurations of the other axes) where both arms stay near 0 (mean success below
    LEARNING_FLOOR: neither learns, so the cell adds a difference of about 0)."""
    values = scores[seeds].to_numpy(dtype=float) if len(scores) else np.empty((0, len(seeds)))
    index = {config_id: i for i, config_id in enumerate(scores.index)}
    with warnings.catch_warnings():  # a configuration whose every seed diverged: NaN, not near 0
        warnings.simplefilter("ignore", RuntimeWarning)
        means = dict(zip(scores.index, np.nanmean(values, axis=1))) if len(scores) else {}
    main, pairs = [], []
    for factor, level, reference, factor_b, level_b, reference_b, groups in effect_terms(configs, list(scores.index),
                                                                                          axes, references):
        terms = paired_means(values, groups, index)  # per seed: [level, reference] or the four corners
        if len(groups) == 2:
            contrast = paired_contrast(terms[0], terms[1])
            near_zero = sum(max(means[a], means[b]) < LEARNING_FLOOR for a, b in zip(*groups))
            main.append({"factor": factor, "level": level, "reference": reference, "cells": len(groups[0]),
                         "near_zero": near_zero, **_contrast_columns(contrast)})
        else:
            contrast = paired_contrast(terms[0] - terms[1], terms[2] - terms[3])
            pairs.append({"factor": factor, "level": level, "reference": reference, "factor_b": factor_b,
                          "level_b": level_b, "reference_b": reference_b, "cells": len(groups[0]),
                          **_contrast_columns(contrast)})
    columns = ["factor", "level", "reference", "cells", "difference", "low", "high", "p", "se", "sd", "pairs", "mde"]
    main = pd.DataFrame(main, columns=[*columns[:4], "near_zero", *columns[4:]])
    pairs = pd.DataFrame(pairs, columns=columns[:3] + ["factor_b", "level_b", "reference_b"] + columns[3:])
    for frame in (main, pairs):
        frame["p_holm"] = holm(frame.p) if len(frame) else []
        frame["decisive"] = frame.p_holm < ALPHA
    return main, pairs


def mark_consistent(full: pd.DataFrame, half_a: pd.DataFrame, half_b: pd.DataFrame) -> pd.DataFrame:
    """full, with each half's point estimate and `consistent` (a consistency check on halves of the
    same seeds, not a replication): decisive on all seeds and of the same sign on each half alone
    (False for an indecisive effect: nothing to check)."""
    keys = [name for name in ("factor", "level", "factor_b", "level_b") if name in full]
    frame = full.copy()
    same_sign = frame.decisive.to_numpy(dtype=bool).copy()
    for name, half in zip(HALVES, (half_a, half_b)):
        estimate = frame[keys].merge(half[[*keys, "difference"]], on=keys, how="left").difference.to_numpy()
        frame[f"difference_{name}"] = estimate
        same_sign &= np.sign(estimate) == np.sign(frame.difference.to_numpy())
    frame["consistent"] = same_sign
    return frame


def _fits(data: ReportData, labels: dict, ranked: list, table: pd.DataFrame) -> pd.DataFrame:
    """The ScaleRL saturating curve fitted to each ranked configuration's success curve (the
    seed-mean of sorted_frac per epoch), judged against its seed-to-seed standard error."""
    rows = []
    by_config = data.curves.groupby("config_id")
    for config_id in table.config_id:
        if config_id not in ranked:
            continue
        curve = by_config.get_group(config_id).groupby("epoch").sorted_frac
        mean, noise = curve.mean(), curve.std(ddof=1) / np.sqrt(curve.count())
        fit = fit_curve(mean.index.to_numpy() + 1, mean.to_numpy(), noise.to_numpy())
        rows.append({"configuration": labels[config_id], "R0": fit.r0, "A (asymptote)": fit.asymptote,
                     "B (efficiency)": fit.efficiency, "s_mid (epoch)": fit.midpoint, "R²": fit.r2,
                     "residual / noise": fit.noise_ratio, "failed": fit.failed or ""})
    return pd.DataFrame(rows, columns=["configuration", "R0", "A (asymptote)", "B (efficiency)", "s_mid (epoch)", "R²",
                                       "residual / noise", "failed"])


def _level_slopes(data: ReportData, configs: pd.DataFrame, axes: dict, ranked: list) -> pd.DataFrame:
    """Per level of each axis (its arm: the ranked configurations at that level): the least-squares
    slope of success (sorted_frac per epoch) over each run's final window, averaged over the arm's
    configurations per seed, then over seeds with a bootstrap interval, in success per SLOPE_EPOCHS
    epochs; `still_improving` where the interval lies above 0 (the arm had not levelled off)."""
    curves = data.curves[data.curves.config_id.isin(ranked)]
    per_run = []
    for config_id, curve in curves.groupby("config_id", sort=False):
        window = final_window(curve, int(configs.loc[config_id, "epochs"]))
        epoch = window.epoch - window.groupby("seed").epoch.transform("mean")
        value = window.sorted_frac - window.groupby("seed").sorted_frac.transform("mean")
        with np.errstate(invalid="ignore", divide="ignore"):  # a one-epoch window has no slope
            slope = (epoch * value).groupby(window.seed).sum() / (epoch**2).groupby(window.seed).sum()
        per_run.append((slope * SLOPE_EPOCHS).rename(config_id))
    slopes = pd.concat(per_run, axis=1) if per_run else pd.DataFrame()  # [seed config]
    rows = []
    for factor, levels in axes.items():
        for level in levels:
            members = [c for c in slopes.columns if configs.loc[c, factor] == level]
            with warnings.catch_warnings():  # no slope (a one-epoch window, a seed diverged everywhere): NaN, left out
                warnings.simplefilter("ignore", RuntimeWarning)
                arm = np.nanmean(slopes[members].to_numpy(dtype=float), axis=1) if members else np.array([])  # [seed]
                slope = float(np.nanmean(arm)) if len(arm) else np.nan
            low, high = bootstrap_interval(arm)
            rows.append({"factor": factor, "level": level, "slope": slope, "low": low, "high": high,
                         "still_improving": bool(low > 0)})
    return pd.DataFrame(rows, columns=["factor", "level", "slope", "low", "high", "still_improving"])


def _mark_improving(effects: pd.DataFrame, slopes: pd.DataFrame) -> pd.DataFrame:
    """effects with `still_improving`: the level's arm or the reference's is still rising at the end
    of training, so the effect is a statement about speed at this training length, not about the
    level either arm would reach."""
    rising = {(row.factor, row.level) for row in slopes.itertuples() if row.still_improving}
    return effects.assign(still_improving=[(row.factor, row.level) in rising or (row.factor, row.reference) in rising
                                           for row in effects.itertuples()])


def _within_reward(table: pd.DataFrame, axes: dict) -> pd.DataFrame:
    """Per reward function: the configuration with the highest reward_frac, and Spearman's
    correlation of reward_frac with success over its configurations."""
    ranked = table[table["rank"].notna()]
    if "reward_fn" not in ranked:
        ranked = ranked.assign(reward_fn="(one reward function)")
    rows = []
    for reward, group in ranked.groupby("reward_fn", sort=False):
        top = group.loc[group.reward_frac_mean.idxmax()]
        varies = len(group) > 2 and group.success_mean.nunique() > 1 and group.reward_frac_mean.nunique() > 1
        rho = scipy_stats.spearmanr(group.reward_frac_mean, group.success_mean).statistic if varies else np.nan
        rows.append({"reward_fn": reward, "configurations": len(group), "highest reward_frac": top.configuration,
                     "its reward_frac": top.reward_frac_mean, "its success": top.success_mean,
                     "Spearman(reward_frac, success)": rho})
    return pd.DataFrame(rows)


def _band(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """series [seed epoch] -> mean and 95% percentile-bootstrap band per epoch, resampling
    seeds with the resamples of grpo.report._stats (the tables' bootstrap)."""
    series = series[np.isfinite(series).all(1)]
    n = len(series)
    mean = series.mean(0)
    if n < 2:
        return mean, mean, mean
    counts = resample_counts(n)  # [RESAMPLES seed]
    low, high = percentile_interval(counts @ series.astype(np.float32) / n)
    return mean, low, high


def _curve_rows(series: np.ndarray, epochs: np.ndarray, **keys) -> pd.DataFrame:
    mean, low, high = _band(series)
    return pd.DataFrame({**keys, "epoch": epochs, "mean": mean, "low": low, "high": high})


def _figure_curves(data, configs, axes, references, ranked) -> dict[str, pd.DataFrame]:
    """Tidy per-epoch curves for the figures: each level of each axis averaged over the other
    axes (success, reward_frac within each reward function, the measured KL where the KL
    penalty is on, the clipped fraction where clipping acts), and the paired difference of
    success between each level and its axis's reference. Bands: 95% bootstrap over seeds."""
    curves = data.curves[data.curves.config_id.isin(ranked)]
    if not len(curves):
        return {}
    ids = list(dict.fromkeys(curves.config_id))
    seeds = np.sort(curves.seed.unique())
    epochs = np.sort(curves.epoch.unique())
    full = pd.MultiIndex.from_product([ids, seeds, epochs], names=["config_id", "seed", "epoch"])
    cube = curves.set_index(["config_id", "seed", "epoch"]).reindex(full)  # every (config, seed, epoch)
    arrays = {m: cube[m].to_numpy().reshape(len(ids), len(seeds), len(epochs)) for m in CURVE_METRICS}  # [config seed epoch]
    at_epochs = dict.fromkeys(arrays, epochs)
    if data.regime:  # held-out success, on the epochs evaluated (eval_every)
        heldout = cube["heldout_sorted_frac"].to_numpy().reshape(len(ids), len(seeds), len(epochs))
        evaluated = np.isfinite(heldout).any(axis=(0, 1))
        arrays["heldout"], at_epochs["heldout"] = heldout[:, :, evaluated], epochs[evaluated]
    index = {config_id: i for i, config_id in enumerate(ids)}
    ordered = {name: levels for name, levels in axes.items()} or {"configuration": ["the one configuration"]}
    chosen = configs.loc[ids].assign(configuration="the one configuration")

    def marginal(metric: str, subset: pd.Index, skip: str = "", **keys) -> list[pd.DataFrame]:
        frames = []
        for factor, levels in ordered.items():
            if factor == skip and len(ordered) > 1:
                continue
            for level in levels:
                members = [index[c] for c in subset if chosen.loc[c, factor] == level]
                if members:
                    with warnings.catch_warnings():  # a seed that diverged everywhere: NaN, by design
                        warnings.simplefilter("ignore", RuntimeWarning)
                        series = np.nanmean(arrays[metric][members], axis=0)  # [seed epoch]
                    frames.append(_curve_rows(series, at_epochs[metric], factor=factor, level=level, **keys))
        return frames

    all_ids = pd.Index(ids)
    result = {"success": pd.concat(marginal("sorted_frac", all_ids), ignore_index=True)}
    if "heldout" in arrays:
        result["heldout"] = pd.concat(marginal("heldout", all_ids), ignore_index=True)
    reward_frames = []
    for reward in ordered_levels("reward_fn", chosen.reward_fn):
        reward_frames += marginal("reward_frac", all_ids[chosen.reward_fn.to_numpy() == reward], "reward_fn",
                                  reward_fn=reward)
    result["reward_frac"] = pd.concat(reward_frames, ignore_index=True)
    kl_on = all_ids[chosen.kl_penalty.to_numpy() > 0]
    if len(kl_on):
        result["kl"] = pd.concat(marginal("kl", kl_on), ignore_index=True)
    clipping = all_ids[np.nanmax(arrays["clip_frac"], axis=(1, 2)) > 0]
    if len(clipping):
        result["clip_frac"] = pd.concat(marginal("clip_frac", clipping), ignore_index=True)

    effect_frames = []
    for factor, level, reference, factor_b, _, _, groups in effect_terms(configs, ids, axes, references):
        if not factor_b:
            terms = paired_means(arrays["sorted_frac"], groups, index)  # [seed epoch] each
            effect_frames.append(_curve_rows(terms[0] - terms[1], epochs, factor=factor, level=level, reference=reference))
    if effect_frames:
        result["success_effects"] = pd.concat(effect_frames, ignore_index=True)
    return result

