"""The report of a random study (grpo.experiment.random_study), after Andrychowicz et al., "What
Matters in On-Policy Reinforcement Learning?" (ICLR 2021): which of many choices matter, from
configurations sampled at random. Pure numbers here; the plotting in grpo.report.random_study's
figures, the words in its text, the files in its report.

Data convention: ``table`` is one row per configuration (index config_id) with ``success`` (its
mean final success over its seeds, a diverged run counting 0, as the tuning objective) and, per
choice of the study, ``<choice>`` (its value where it applies, None where it does not) and
``<choice>:level`` (the level the tables use: the value, or the bin of a range it falls in; None
where it does not apply) and ``<choice>:drawn`` (the value drawn for it, even where it does not
apply: noise there, which the importance uses so that every configuration takes part).

- **Conditional 95th percentile**: per choice and level, the 95th percentile of the success of
  the configurations with that level ("how good can it get when the rest is right"), the order
  statistic x_(k), k = ceil(0.95 n), with the distribution-free binomial interval [x_(l), x_(u)]
  where l, u are the Binomial(n, 0.95) quantiles at 2.5% and 97.5% (+1): its coverage is stated,
  below 95% where n is too small for the upper order statistic.
- **Top share**: the top 5% are the ceil(0.05 n) configurations of highest success (those tied
  at the threshold taken in a seeded random order: success has few distinct values); per level, its share of
  them against its share of the samples (only configurations where the choice applies), with a
  Clopper-Pearson interval on the top share. The top is a *selection*: a level is recommended
  when its top share's interval lies above its sampling share (over-represented), disfavoured
  when below; a level's success in the top is never reported as an estimate of its success.
- **Importance**: PED-ANOVA (Watanabe et al., IJCAI 2023; Optuna's PedAnovaImportanceEvaluator):
  how differently each choice is distributed among the top 5% than among all samples (a Pearson
  divergence of Parzen estimates: 0 when the top looks like the samples); beside it the share of
  the variance of success that the choice's levels explain (eta squared of a one-way ANOVA,
  adjusted for the number of levels), and for pairs the share that the pair's cells explain
  beyond both choices' additive effects (the interaction, adjusted likewise). Every importance
  carries a bootstrap interval over configurations.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from grpo.core.config import inapplicable
from grpo.experiment.grids import Grid
from grpo.experiment.random_study import CONTINUOUS, Choice, sampled
from grpo.report._data import Completeness, ReportData, completeness_of
from grpo.report._names import ordered_levels
from grpo.report._stats import ALPHA, BOOTSTRAP_SEED, CONFIDENCE, percentile_interval, resample, resample_counts

QUANTILE = 0.95  # the conditional percentile: "how good can it get"
TOP = 0.05  # the top share: configurations at or above the QUANTILE of all
BINS = 4  # levels of a range: equal widths on its own scale (log for a log range)
IMPORTANCE_RESAMPLES = 100  # bootstrap resamples of configurations for PED-ANOVA (about 0.3 s each)
INTERACTION_RESAMPLES = 200  # for eta squared and the pairwise interactions
INTERACTIONS_SHOWN = 5
SMOOTH_POINTS = 40  # points of a sensitivity curve
BANDWIDTH = 0.08  # a sensitivity curve's Gaussian kernel width, as a fraction of the range on its scale
KIND = "random study"  # what `grpo report` says it read


@dataclass
class WideTables:
    grid: str
    grid_text: str
    commit: str
    seeds: list[int]
    samples: int  # drawn
    completeness: Completeness
    choices: dict[str, Choice]  # the study's space, in file order
    table: pd.DataFrame  # one row per complete configuration (module docstring)
    levels: pd.DataFrame  # per (choice, level): n, p95, low, high, coverage, sample and top shares, verdict
    importance: pd.DataFrame  # per choice: ped_anova and eta2 with intervals, rank
    interactions: pd.DataFrame  # the strongest pairs: share beyond the additive effects, interval
    curves: pd.DataFrame  # continuous choices: choice, x, mean, low, high
    agreement: pd.DataFrame  # per factor of the `full` grid: its best level, the recommended levels here, verdict
    top_threshold: float  # the lowest success in the top
    top_count: int  # configurations in the top
    tied: tuple[int, int]  # (configurations at the threshold in the top, configurations at the threshold)
    kind: str = KIND


def is_random_study(grid: Grid | None) -> bool:
    return grid is not None and grid.random is not None


# ---- pure statistics (hand-checkable) ----

def conditional_percentile(scores, q: float = QUANTILE) -> tuple[float, float, float, float]:
    """scores [n] -> (the q-th percentile x_(k), k = ceil(q n); its binomial order-statistic interval
    low, high; the interval's exact coverage for a continuous outcome). NaNs for no scores."""
    x = np.sort(np.asarray(scores, dtype=float))
    n = len(x)
    if n == 0:
        return (math.nan,) * 4
    k = max(1, math.ceil(q * n))
    binomial = scipy_stats.binom(n, q)
    lower = max(1, int(binomial.ppf(ALPHA / 2)))  # P(B < lower) <= alpha / 2
    upper = min(n, int(binomial.ppf(1 - ALPHA / 2)) + 1)
    coverage = float(binomial.cdf(upper - 1) - binomial.cdf(lower - 1))  # P(x_(lower) <= xi_q < x_(upper))
    return float(x[k - 1]), float(x[lower - 1]), float(x[upper - 1]), coverage


def top_mask(scores: pd.Series, top: float = TOP) -> pd.Series:
    """The top: the m = ceil(top n) configurations of highest score. Configurations tied at the
    threshold (a success of few distinct values ties often) are taken in a seeded random order, so
    the top holds m whatever the ties, and a level's expected share among the tied is its share of them."""
    n = len(scores)
    order = np.lexsort((tie_break(n), -scores.to_numpy()))  # best first, ties in random order
    mask = np.zeros(n, dtype=bool)
    mask[order[:max(1, math.ceil(top * n))]] = True
    return pd.Series(mask, index=scores.index)


def tie_break(n: int) -> np.ndarray:
    """[n] the seeded random order in which configurations tied in success enter the top (lower first)."""
    return np.random.default_rng(BOOTSTRAP_SEED).random(n)


def top_share(levels: pd.Series, top: pd.Series) -> pd.DataFrame:
    """levels: one level per configuration (None where the choice does not apply: left out); top:
    bool per configuration -> per level (in order of appearance): n, sample_share, top_n, top_share
    with its Clopper-Pearson interval (top_low, top_high)."""
    applies = levels.notna()
    levels, top = levels[applies], top[applies]
    total, total_top = len(levels), int(top.sum())
    rows = []
    for level in dict.fromkeys(levels):
        n, k = int((levels == level).sum()), int((top & (levels == level)).sum())
        low, high = scipy_stats.binomtest(k, total_top).proportion_ci(CONFIDENCE) if total_top else (math.nan, math.nan)
        rows.append({"level": level, "n": n, "sample_share": n / total, "top_n": k,
                     "top_share": k / total_top if total_top else math.nan, "top_low": float(low), "top_high": float(high)})
    return pd.DataFrame(rows)


def eta_squared(y: np.ndarray, codes: np.ndarray) -> float:
    """Share of the variance of y [n] that the group means of codes [n] (ints) explain, adjusted for
    the groups' count (epsilon squared: 1 - (1 - R^2)(n - 1)/(n - groups), about 0 for groups that
    do not matter; the plain R^2 grows by about (groups - 1)/n from noise alone)."""
    total = ((y - y.mean()) ** 2).sum()
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=y) / np.maximum(counts, 1)
    r2 = float(((means[codes] - y.mean()) ** 2).sum() / total) if total > 0 else 0.0
    return _adjusted(r2, len(y), int((counts > 0).sum()))


def _adjusted(r2: float, n: int, parameters: int) -> float:
    return 1 - (1 - r2) * (n - 1) / (n - parameters) if n > parameters else float("nan")


def interaction_share(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Share of the variance of y [n] that the cells of codes a, b [n] explain beyond a + b additive
    (least squares on both one-hot codings): R^2(cells) - R^2(additive), each adjusted for its
    parameters as in eta_squared, so that a pair of many cells gains nothing from noise."""
    total = ((y - y.mean()) ** 2).sum()
    if total <= 0:
        return 0.0
    cells = a * (b.max() + 1) + b
    design = np.concatenate([np.eye(a.max() + 1)[a], np.eye(b.max() + 1)[b][:, 1:]], axis=1)  # [n, levels_a + levels_b - 1]
    fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    additive = _adjusted(1 - float(((y - fitted) ** 2).sum() / total), len(y), np.linalg.matrix_rank(design))
    return eta_squared(y, np.unique(cells, return_inverse=True)[1]) - additive


def ped_anova(table: pd.DataFrame, choices: dict[str, Choice], rows: np.ndarray | None = None) -> dict[str, float]:
    """Optuna's PED-ANOVA importance (unnormalised Pearson divergence) of each choice for reaching
    the top TOP of success, on the configurations `rows` (positions; default all). A pure range is a
    float (or int) distribution, its drawn value; a list, or a range with explicit values, is
    categorical over its levels (drawn)."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.importance import PedAnovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows = np.arange(len(table)) if rows is None else rows
    frame = table.iloc[rows]
    values = frame.success.to_numpy() - 1e-9 * tie_break(len(table))[rows]  # PED-ANOVA's top is then top_mask's
    distributions: dict[str, BaseDistribution] = {}
    columns = {}
    for name, choice in choices.items():
        if choice.kind and not choice.values:
            low, high = choice.bounds
            distributions[name] = FloatDistribution(low, high, log=choice.log) if choice.continuous else \
                IntDistribution(int(low), int(high) - 1, log=choice.log)
            columns[name] = frame[f"{name}:drawn"].tolist()
        else:
            drawn_levels = frame[f"{name}:drawn_level"]
            distributions[name] = CategoricalDistribution(sorted(set(table[f"{name}:drawn_level"]), key=str))
            columns[name] = drawn_levels.tolist()
    trials = [optuna.trial.create_trial(params={name: columns[name][i] for name in choices}, distributions=distributions,
                                        value=float(value)) for i, value in enumerate(values)]
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PedAnovaImportanceEvaluator(target_quantile=TOP).evaluate(study)


# ---- from the records to the tables ----

def level_of(choice: Choice, value) -> object:
    """The table level of a drawn value: the value itself, or the bin of the range it falls in."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not choice.kind or value in choice.values:
        return value
    edges = _edges(choice)
    index = min(BINS - 1, max(0, int(np.searchsorted(edges, value, side="right")) - 1))
    return f"[{edges[index]:.2g}, {edges[index + 1]:.2g})"


def level_order(choice: Choice) -> list:
    """A choice's levels in order: its explicit values (registry order for a mode), then the bins."""
    explicit = ordered_levels(choice.name, choice.values)
    if not choice.kind:
        return explicit
    edges = _edges(choice)
    return [*explicit, *(f"[{edges[i]:.2g}, {edges[i + 1]:.2g})" for i in range(BINS))]


def _edges(choice: Choice) -> np.ndarray:
    return (np.geomspace if choice.log else np.linspace)(*choice.bounds, BINS + 1)


def study_table(data: ReportData, grid: Grid, complete: list[str]) -> pd.DataFrame:
    """The module docstring's `table`: the complete configurations of `data`."""
    assert grid.random is not None  # a random study's grid
    choices = grid.random.choices
    drawn = sampled(grid.random, grid.fixed, grid.axes)
    finals = data.finals["success"].fillna(0.0)  # a diverged run counts 0
    success = finals.groupby(level="config_id").mean()
    configs = data.configs.loc[[config_id for config_id in data.configs.index if config_id in complete]]
    rows = []
    for config_id, config in configs.iterrows():
        values = config.to_dict()
        dropped = inapplicable(values)
        row = {"config_id": config_id, "success": success.get(config_id, math.nan)}
        for name, choice in choices.items():
            value = None if name in dropped else _plain(values[name])
            row[name], row[f"{name}:level"] = value, level_of(choice, value)
            row[f"{name}:drawn"] = drawn[config_id][name]
            row[f"{name}:drawn_level"] = level_of(choice, drawn[config_id][name])
        rows.append(row)
    return pd.DataFrame(rows).set_index("config_id").dropna(subset=["success"])


def level_rows(table: pd.DataFrame, choices: dict[str, Choice]) -> pd.DataFrame:
    """Per (choice, level) in order: n, the conditional percentile (p95, low, high, coverage), the
    shares (top_share's columns) and a verdict on the top share: over-represented (recommended),
    under-represented or neither."""
    top = top_mask(table.success)
    frames = []
    for name, choice in choices.items():
        shares = top_share(table[f"{name}:level"], top).set_index("level")
        for level in level_order(choice):
            if level not in shares.index:
                continue
            scores = table.success[table[f"{name}:level"] == level]
            p95, low, high, coverage = conditional_percentile(scores)
            share = shares.loc[level]
            verdict = ("over-represented" if share.top_low > share.sample_share else
                       "under-represented" if share.top_high < share.sample_share else "neither")
            frames.append({"choice": name, "level": text_of(level), "n": int(share.n), "p95": p95, "p95_low": low,
                           "p95_high": high, "coverage": coverage, **share.drop(["n", "top_n"]).to_dict(),
                           "top_n": int(share.top_n), "top": verdict})
    return pd.DataFrame(frames)


def importance_rows(table: pd.DataFrame, choices: dict[str, Choice]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per choice: ped_anova, ped_anova_low/high, ped_anova_share (of the summed PED-ANOVA) with its interval, eta2, eta2_low/high,
    rank by PED-ANOVA; the INTERACTIONS_SHOWN strongest pairs by interaction share, with intervals).
    Intervals: percentile bootstrap over configurations (grpo.report._stats.resample's first rows)."""
    n = len(table)
    draws = resample(n)  # [RESAMPLES n]
    ped = ped_anova(table, choices)
    ped_boot = np.array([[value for value in ped_anova(table, choices, rows).values()] for rows in draws[:IMPORTANCE_RESAMPLES]])
    names = list(ped)  # the evaluator's order
    ped_low, ped_high = percentile_interval(ped_boot)
    share_low, share_high = percentile_interval(ped_boot / np.maximum(ped_boot.sum(1, keepdims=True), 1e-300))
    y = table.success.to_numpy()
    codes = {name: pd.factorize(table[f"{name}:drawn_level"].map(str), sort=True)[0] for name in choices}
    eta = {name: eta_squared(y, codes[name]) for name in choices}
    eta_boot = np.array([[eta_squared(y[rows], _recode(codes[name][rows])) for name in choices]
                         for rows in draws[:INTERACTION_RESAMPLES]])  # [resample choice]
    eta_low, eta_high = percentile_interval(eta_boot)
    order = {name: i for i, name in enumerate(choices)}
    total = sum(ped.values())
    importance = pd.DataFrame([{
        "choice": name, "ped_anova": ped[name], "ped_anova_low": ped_low[i], "ped_anova_high": ped_high[i],
        "ped_anova_share": ped[name] / total if total else math.nan, "ped_anova_share_low": share_low[i],
        "ped_anova_share_high": share_high[i], "eta2": eta[name],
        "eta2_low": eta_low[order[name]], "eta2_high": eta_high[order[name]]} for i, name in enumerate(names)])
    importance = importance.sort_values("ped_anova", ascending=False, kind="stable").reset_index(drop=True)
    importance.insert(0, "rank", np.arange(1, len(importance) + 1))
    pairs = [(a, b) for i, a in enumerate(choices) for b in list(choices)[i + 1:]]
    shares = {(a, b): interaction_share(y, codes[a], codes[b]) for a, b in pairs}
    strongest = sorted(pairs, key=lambda pair: -shares[pair])[:INTERACTIONS_SHOWN]
    rows = []
    for a, b in strongest:
        boot = [interaction_share(y[r], _recode(codes[a][r]), _recode(codes[b][r])) for r in draws[:INTERACTION_RESAMPLES]]
        low, high = percentile_interval(np.array(boot))
        rows.append({"pair": f"{a} x {b}", "share": shares[(a, b)], "low": float(low), "high": float(high)})
    return importance, pd.DataFrame(rows, columns=["pair", "share", "low", "high"])


def sensitivity_curves(table: pd.DataFrame, choices: dict[str, Choice]) -> pd.DataFrame:
    """Per continuous choice, success against the value where it applies (the range's draws only):
    a Gaussian kernel smoother on the choice's scale with a 95% bootstrap band over configurations
    (grpo.report._stats.resample_counts). Rows: choice, x, mean, low, high."""
    frames = []
    for name, choice in choices.items():
        if choice.kind not in CONTINUOUS:
            continue
        values = table[name]
        inside = values.notna() & ~values.isin(list(choice.values))
        x, y = values[inside].to_numpy(float), table.success[inside].to_numpy()
        if len(x) < 2:
            continue
        scale = np.log10 if choice.log else (lambda v: v)
        low, high = choice.bounds
        grid = np.linspace(scale(low), scale(high), SMOOTH_POINTS)  # [point]
        width = BANDWIDTH * (grid[-1] - grid[0])
        weights = np.exp(-0.5 * ((grid[:, None] - scale(x)[None, :]) / width) ** 2).astype(np.float32)  # [point n]
        counts = resample_counts(len(x))  # [RESAMPLES n]
        means = (counts * y.astype(np.float32)) @ weights.T / (counts @ weights.T)  # [RESAMPLES point]
        low, high = percentile_interval(means)
        frames.append(pd.DataFrame({"choice": name, "x": 10 ** grid if choice.log else grid,
                                    "mean": weights @ y / weights.sum(1), "low": low, "high": high, "log": choice.log}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["choice", "x", "mean", "low", "high", "log"])


def agreement(levels: pd.DataFrame, choices: dict[str, Choice], full_effects: pd.DataFrame | None) -> pd.DataFrame:
    """Per factor of the `full` grid that the study samples: full's best level (the decisive effect
    with the largest positive difference from its reference; the reference where every decisive one
    is negative; none where none is decisive), the levels over- and under-represented in the top here,
    and whether they agree. A level of `full` on a range maps to the bin that holds it."""
    if full_effects is None:
        return pd.DataFrame(columns=["factor", "full_best", "full_evidence", "recommended", "disfavoured", "verdict"])
    rows = []
    for factor, effects in full_effects.groupby("factor", sort=False):
        if factor not in choices:
            continue
        decisive = effects[effects.decisive.astype(bool)]
        positive = decisive[decisive.difference > 0]
        if len(positive):
            best = positive.loc[positive.difference.idxmax()]
            full_best, evidence = best.level, f"{best.level} - {best.reference}: {best.difference:+.3f} [{best.low:+.3f}, {best.high:+.3f}]"
        elif len(decisive):
            full_best, evidence = effects.reference.iloc[0], "every decisive effect is negative: the reference is best"
        else:
            full_best, evidence = None, "no decisive effect"
        mine = levels[levels.choice == factor]
        recommended = mine.level[mine.top == "over-represented"].tolist()
        disfavoured = mine.level[mine.top == "under-represented"].tolist()
        best_here = None if full_best is None else text_of(level_of(choices[factor], _parsed(full_best)))
        tested = {text_of(level_of(choices[factor], _parsed(level))) for level in [*effects.level, *effects.reference]}
        if full_best is None:
            verdict = "agree: neither decisive" if not recommended else "here only: full found no decisive effect"
        elif best_here not in set(mine.level):
            verdict = "full's best is not sampled here"
        elif best_here in recommended:
            verdict = "agree"
        elif best_here in disfavoured or set(recommended) & tested:
            verdict = "disagree"
        elif recommended:
            verdict = "undecided: the values recommended here were not in full"
        else:
            verdict = "undecided here"
        rows.append({"factor": factor, "full_best": full_best if best_here is None else best_here, "full_evidence": evidence,
                     "recommended": ", ".join(recommended) or "none", "disfavoured": ", ".join(disfavoured) or "none",
                     "verdict": verdict})
    return pd.DataFrame(rows)


def compute_wide(data: ReportData, grid: Grid, full_effects: pd.DataFrame | None) -> WideTables:
    completeness = completeness_of(data.runs, data.configs)
    complete = [c for c in data.configs.index if c not in completeness.missing + completeness.failed]
    assert grid.random is not None  # a random study's grid
    choices = grid.random.choices
    table = study_table(data, grid, complete)
    levels = level_rows(table, choices)
    importance, interactions = importance_rows(table, choices)
    top = top_mask(table.success)
    runs = data.runs
    commit = ", ".join(sorted(runs.git_commit.dropna().astype(str).str[:10].unique())) if "git_commit" in runs else ""
    if not commit and "code_fingerprint" in runs:  # code run outside a git checkout: its fingerprint says which
        commit = "not recorded, code fingerprint " + ", ".join(sorted(runs.code_fingerprint.dropna().astype(str).unique()))
    return WideTables(grid.name, grid.text, commit or "not recorded", list(grid.seeds),
                      grid.random.samples, completeness, choices, table, levels, importance, interactions,
                      sensitivity_curves(table, choices), agreement(levels, choices, full_effects),
                      float(table.success[top].min()), int(top.sum()), _tied(table.success, top))


def _tied(scores: pd.Series, top: pd.Series) -> tuple[int, int]:
    at = scores == scores[top].min()
    return int((at & top).sum()), int(at.sum())


def _recode(codes: np.ndarray) -> np.ndarray:
    return np.unique(codes, return_inverse=True)[1]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def text_of(level) -> str:
    """A level as the tables write it: a float in %g, anything else as str."""
    return f"{level:g}" if isinstance(level, float) else str(level)


def _parsed(level: str):
    try:
        return float(level)
    except (TypeError, ValueError):
        return level
