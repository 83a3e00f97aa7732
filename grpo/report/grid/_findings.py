"""A grid's findings, one function per finding: each reads the tables and returns its sentence
(None where the tables hold nothing for it); `findings` numbers those that speak."""

import numpy as np
import pandas as pd

from grpo.core.config import TrainConfig
from grpo.experiment.grids import DEFAULT_CELL
from grpo.experiment.results import PRIMARY
from grpo.report._markdown import interval
from grpo.report._names import level_name
from grpo.report._stats import ALPHA, POWER
from grpo.report.grid._compute import LEARNING_FLOOR, Robustness, Tables
from grpo.report.grid._regime import SLOPE_EPOCHS
from grpo.report.grid._robustness import INTERACTION


def findings(tables: Tables, ranked: pd.DataFrame) -> list[str]:
    """The Findings section's lines: a numbered list of the findings that speak (`ranked`: the
    configurations with a rank, best first), or why there are no statistics."""
    if not len(ranked):
        every = "every run diverged" if tables.completeness.statuses.get("diverged") and tables.completeness.is_complete \
            else "no configuration has results"
        return [f"No statistics: {every}. The runs are listed below.", ""]
    best = ranked.iloc[0]
    if len(ranked) == 1:
        return [f"One configuration, so nothing to compare: {best.configuration} has {PRIMARY} {_mean_interval(best)}"
                f" (mean, 95% interval over {best.runs} seeds), IQM {best.iqm:.3f}.", ""]
    said = [finding(tables, ranked) for finding in FINDINGS]
    return [f"{i}. {text}" for i, text in enumerate([text for text in said if text is not None], 1)] + [""]


def _mean_interval(row) -> str:
    return f"{row.success_mean:.3f} [{row.success_low:.3f}, {row.success_high:.3f}]"


def tied_with_best(tables: Tables, ranked: pd.DataFrame) -> str:
    """The best configuration, those not decisively below it, and whether each half of the seeds agrees."""
    best = ranked.iloc[0]
    tied = ranked[ranked.tied_with_best]
    others = tied[tied.config_id != best.config_id]
    names = "; ".join(f"{row.configuration} {row.success_mean:.3f}" for row in others.head(12).itertuples()) or "none"
    halves = tables.replication
    consistent = all(halves["best is tied in the full data"]) if len(halves) else False
    return (f"**Tied with the best: {len(tied)} of {len(ranked)} configurations.** The highest mean {PRIMARY} is"
            f" {best.configuration}, {_mean_interval(best)}; {len(others)} other{'s are' if len(others) != 1 else ' is'}"
            f" not decisively below it (paired contrasts, Holm over {len(ranked) - 1}): {names}"
            + (f" and {len(others) - 12} more" if len(others) > 12 else "")
            + ". Split-half consistency check: the best of each half is "
            + ", ".join(f"{row['best']} ({'in' if row['best is tied in the full data'] else 'outside'} the tied set)"
                        for _, row in halves.iterrows())
            + f" — {'consistent' if consistent else 'not consistent'}.")


def against_default(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """How many configurations are decisively better or worse than the seed's default beside them."""
    if not ranked.default_difference.notna().any():
        return None
    better, worse = ranked[ranked.versus_default == "better"], ranked[ranked.versus_default == "worse"]
    top = better.sort_values("default_difference", ascending=False).head(5)
    return (f"**Against the seed's default** ({_seed_choices()}, with the same other fields):"
            f" {len(better)} configurations are decisively better and {len(worse)} decisively worse, of"
            f" {ranked.default_difference.notna().sum()} compared (Holm);"
            f" {int(ranked.default_consistent.sum())} of these {len(better) + len(worse)} keep their sign on each half"
            " of the seeds (a consistency check). Largest gains: "
            + "; ".join(f"{row.configuration} {interval(row.default_difference, row.default_low, row.default_high)}"
                        f" (P(better) {row.poi:.2f} [{row.poi_low:.2f}, {row.poi_high:.2f}])" for row in top.itertuples())
            + ". Defaults: " + "; ".join(f"{row.configuration} ranks {row.rank} of {len(ranked)}, {PRIMARY}"
                                          f" {row.success_mean:.3f}" for row in ranked[ranked.is_default].itertuples())
            + ".")


def factor_effects(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """Each factor's decisive levels against the seed's choice, factors by their largest effect."""
    effects = tables.effects
    if not len(effects):
        return None
    parts = []
    for factor in _factor_order(effects):
        rows = effects[effects.factor == factor]
        decisive = rows[rows.decisive]
        if len(decisive):
            parts.append(f"`{factor}` (vs {level_name(factor, rows.reference.iloc[0])}): " + "; ".join(
                f"{level_name(factor, r.level)} {interval(r.difference, r.low, r.high)}"
                f"{'' if r.consistent else ' (halves inconsistent)'}{_qualifier(tables, r.factor, r.level)}"
                f"{' ↑' if r.still_improving else ''}" for r in decisive.itertuples()))
        else:
            parts.append(f"`{factor}`: no decisive effect (largest {rows.difference.abs().max():.3f})"
                         + _decisive_elsewhere(tables, factor, rows.level))
    return (f"**Factor effects on {PRIMARY}** (each level against the seed's choice, averaged over the"
            " other axes; factors ranked by their largest decisive effect"
            + ("; each with its verdict across the cells, section Robustness" if tables.robustness else "")
            + "): " + ". ".join(parts) + "."
            + (" ↑: an arm of the contrast is still rising over the final window (its slope's interval lies"
               " above 0; Learning-speed fits below), so the effect is a statement about speed at this"
               " training length, not about the level either arm would reach." if effects.still_improving.any()
               else ""))


def interactions(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """The decisive two-way interactions, largest first."""
    inter = tables.interactions
    if not len(inter):
        return None
    decisive = inter[inter.decisive].reindex(inter[inter.decisive].difference.abs().sort_values(ascending=False).index)
    return (f"**Interactions**: {len(decisive)} of {len(inter)} two-way interactions are decisive (Holm)"
            + (": " + "; ".join(f"{level_name(r.factor, r.level)} × {level_name(r.factor_b, r.level_b)}"
                               f" {interval(r.difference, r.low, r.high)}"
                               f"{'' if r.consistent else ' (halves inconsistent)'}"
                               f"{_qualifier(tables, r.factor + INTERACTION + r.factor_b, f'{r.level}{INTERACTION}{r.level_b}')}"
                               for r in decisive.head(8).itertuples())
               if len(decisive) else "") + ". An interaction is how much the effect of the first level (vs its"
            " reference) changes under the second level (vs its reference).")


def seeds_to_decide(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """The seeds it would take to tell each of the leaders tied with the best from it."""
    best = ranked.iloc[0]
    tied = ranked[ranked.tied_with_best]
    leaders = tied[tied.config_id != best.config_id].head(5)
    if not len(leaders):
        return None
    return (f"**Seeds to decide the leaders** ({POWER:.0%} power, paired, at level {ALPHA:.2f} before correction):"
            f" with {len(tables.seeds)} seeds the leaders are tied; to resolve each from the best: "
            + "; ".join(f"{row.configuration} (difference {row.best_difference:.3f}): "
                        f"{_count(row.seeds_to_resolve)} seeds" for row in leaders.itertuples()) + ".")


def learning_speed(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """The learning-speed fits accepted, and the levels still rising when training stops."""
    fits = tables.fits
    if not len(fits):
        return None
    failed = fits[fits.failed != ""]
    reasons = failed.failed.str.split(":").str[0].value_counts()  # by kind (grpo.report._fits.fit_curve says why)
    rising = tables.slopes[tables.slopes.still_improving]
    basis = (f"slope of held-out {PRIMARY} over the evaluated epochs of the last third of training" if tables.regime
             is not None else f"final-window slope of {PRIMARY}")  # the regime's: grpo.report.grid._regime.late_slopes
    return (f"**Learning-speed fits** of the {PRIMARY} curves: {len(fits) - len(failed)} of {len(fits)}"
            " accepted" + (" (failed: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items()) + ")"
                           if len(failed) else "") + f". Still rising at the end of training: {len(rising)} of"
            f" {len(tables.slopes)} levels ({basis} per {SLOPE_EPOCHS} epochs, interval"
            " above 0)" + (": " + "; ".join(f"{level_name(r.factor, r.level)} {interval(r.slope, r.low, r.high)}"
                                            for r in rising.itertuples()) if len(rising) else "")
            + ". Where the arms are still rising, a difference measures speed (ScaleRL's efficiency B),"
            " not the level reached (its asymptote A).")


def reward_frac_within(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """How well reward_frac agrees with success within each reward function."""
    within = tables.within_reward
    if len(within) <= 1:
        return None
    return ("**`reward_frac` within each reward function**: Spearman correlation of its configuration"
            " means with success: " + ", ".join(f"{row['reward_fn']} {row['Spearman(reward_frac, success)']:.2f}"
                                                for _, row in within.iterrows())
            + ". Across reward functions it is not comparable (each reward has its own scale).")


def conditional_effects(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """The main effects within each level of a factor they interact with decisively, and the
    cells where both arms stay near 0."""
    rows = tables.conditional
    if not len(rows):
        return None
    parts = []
    for (factor, level, within), group in rows.groupby(["factor", "level", "within"], sort=False):
        parts.append(f"{level_name(factor, level)} − {level_name(factor, group.reference.iloc[0])} within `{within}`: "
                     + ", ".join(f"at {level_name(within, r.at)} "
                                 + (f"**{interval(r.difference, r.low, r.high)}**" if r.decisive
                                    else interval(r.difference, r.low, r.high))
                                 + (f" ({r.near_zero} of {r.cells} cells with both arms near 0)" if r.near_zero else "")
                                 for r in group.itertuples()))
    return (f"**Conditional effects** (where an interaction is decisive, the main effect within each level of the"
            f" other factor; bold where decisive, Holm over these {len(rows)}; *near 0*: both arms' mean {PRIMARY}"
            f" below {LEARNING_FLOOR}, neither learns): " + "; ".join(parts) + ".")


def three_way(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """The decisive three-way interactions."""
    rows = tables.three_way
    if not len(rows):
        return None
    decisive = rows[rows.decisive.astype(bool)]
    decisive = decisive.reindex(decisive.difference.abs().sort_values(ascending=False).index)
    return (f"**Three-way interactions**: {len(decisive)} of {len(rows)} decisive (Holm; all in"
            " `three_way_interactions.csv`)" + (": " + "; ".join(
                f"{level_name(r.factor, r.level)} × {level_name(r.factor_b, r.level_b)} × {level_name(r.factor_c, r.level_c)}"
                f" {interval(r.difference, r.low, r.high)}" for r in decisive.head(8).itertuples()) if len(decisive) else "")
            + ". A three-way interaction is how much the two-way interaction of the first two levels changes under the"
              " third level (each against its reference).")


def confirmed_on_fresh_seeds(tables: Tables, ranked: pd.DataFrame) -> str | None:
    """Each decisive finding's estimate on the confirm seeds and whether it holds there."""
    rows = tables.confirmation
    if not len(rows):
        return None
    assert tables.grid_text is not None  # a confirm range is a grid file's
    counts = rows.confirmed.value_counts()
    named = "; ".join(
        f"{_finding_name(r)} {r.difference:+.3f} → {interval(r.confirm_difference, r.confirm_low, r.confirm_high)}"
        f" **{r.confirmed}**" for r in rows.itertuples())
    return (f"**Confirmation on fresh seeds** ({int(rows.confirm_pairs.max())} seeds never evaluated nor tuned on; the"
            f" default cell trained again; Holm over the {len(rows)} decisive findings): "
            + ", ".join(f"{counts.get(word, 0)} {word}" for word in ("holds", "flips", "not confirmed"))
            + f". Evaluation estimate → estimate on the fresh seeds: {named}.")


def _finding_name(row) -> str:
    if row.factor_b:
        return f"{level_name(row.factor, row.level)} × {level_name(row.factor_b, row.level_b)}"
    return f"{level_name(row.factor, row.level)} − {level_name(row.factor, row.reference)}"


FINDINGS = (tied_with_best, against_default, factor_effects, interactions, conditional_effects, three_way,
            confirmed_on_fresh_seeds, seeds_to_decide, learning_speed, reward_frac_within)  # the Findings section, in its order


def robustness_of(tables: Tables) -> Robustness:
    """The robustness of `tables`, for the text that only a grid with cells beyond the default (or
    a tuning) has: its callers run only then."""
    assert tables.robustness is not None
    return tables.robustness


def _finding(tables: Tables, factor: str, level) -> tuple[pd.Series | None, pd.DataFrame]:
    """A finding's verdict row and its rows per cell (None and no rows without cells)."""
    robustness = tables.robustness
    if robustness is None:
        return None, pd.DataFrame()
    verdicts, rows = robustness.verdicts, robustness.rows
    found = verdicts[(verdicts.factor == factor) & (verdicts.level.astype(str) == str(level))]
    cells = rows[(rows.factor == factor) & (rows.level.astype(str) == str(level))].set_index("cell")
    return (found.iloc[0] if len(found) else None), cells


def _qualifier(tables: Tables, factor: str, level) -> str:
    """The verdict across the cells that a finding decisive in the default cell carries ('' without
    cells): ` (**robust**: decisive with one sign in every cell that changes its arms)`, ` (at lr
    0.001; **conditional**: flips at lr 0.01 (-0.030 [...]); vanishes at lr 0.003 (within ±0.031))`,
    with the cells that do not apply named."""
    verdict, cells = _finding(tables, factor, level)
    if verdict is None or verdict.verdict == "not detected":
        return ""
    at = robustness_of(tables).cells[DEFAULT_CELL]
    skipped = f"; not applicable: {', '.join(verdict.not_applicable.split('; '))}" if verdict.not_applicable else ""
    if verdict.verdict == "robust":
        return f" (**robust**: decisive with one sign in every cell that changes its arms{skipped})"
    if verdict.verdict == "untested":
        return f" (at {at}; **untested**: no other cell changes its arms{skipped})"
    named = []
    if verdict.flips:
        named.append("flips at " + ", ".join(f"{cell} ({interval(cells.difference[cell], cells.low[cell], cells.high[cell])})"
                                             for cell in verdict.flips.split("; ")))
    if verdict.vanishes:
        named.append("vanishes at " + ", ".join(f"{cell} (within ±{cells.margin[cell]:.3f})"
                                                for cell in verdict.vanishes.split("; ")))
    if verdict.not_detected:
        named.append("not detected at " + ", ".join(
            f"{cell} ({interval(cells.difference[cell], cells.low[cell], cells.high[cell])})"
            for cell in verdict.not_detected.split("; ")))
    return f" (at {at}; **{verdict.verdict}**: {'; '.join(named)}{skipped})"


def _decisive_elsewhere(tables: Tables, factor: str, levels) -> str:
    """For a factor with no decisive effect in the default cell: the cells where its levels are
    decisive ('' where none is, or without cells)."""
    parts = []
    for level in levels:
        verdict, cells = _finding(tables, factor, level)
        if verdict is not None and verdict.verdict in ("conditional", "unconfirmed"):
            decisive = cells[cells.decisive.astype(bool)]
            parts.append(f"{level_name(factor, level)} is decisive at " + ", ".join(
                f"{cell} ({interval(row.difference, row.low, row.high)})" for cell, row in decisive.iterrows()))
    if not parts:
        return ""
    return f" at {robustness_of(tables).cells[DEFAULT_CELL]}, but decisive elsewhere: " + "; ".join(parts)


def _seed_choices() -> str:
    """The seed document's choices, as TrainConfig's defaults hold them: `deltas_mode rewards, ...`."""
    defaults = TrainConfig()
    return ", ".join(f"`{name}` {level_name('', getattr(defaults, name))}" for name in TrainConfig.CHOICES)


def _factor_order(effects: pd.DataFrame) -> list[str]:
    """Factors by their largest decisive effect (absolute), indecisive ones last."""
    size = effects.assign(size=np.where(effects.decisive, effects.difference.abs(), -1.0)).groupby("factor", sort=False)
    return list(size["size"].max().sort_values(ascending=False, kind="stable").index)


def _count(value: float) -> str:
    return "∞" if not np.isfinite(value) else f"{int(value):,}"
