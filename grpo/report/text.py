"""`grpo report`: render reports/<grid>/ from a sweep's results folder or a `grpo train --out`
file alone (never retrains): load (grpo.report_data, streaming), compute (grpo.report_compute,
pure), write (here: figures, CSV tables, report.md).

Deterministic: the same records give the same tables and text (every resampling is seeded).
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from grpo.core.config import TrainConfig
from grpo.experiment.completeness import gaps_line, incomplete_parts
from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL, parse_grid
from grpo.experiment.results import FINAL_FRACTION, PRIMARY, PRIMARY_SOURCE, open_results
from grpo.experiment.tuning import OBJECTIVE
from grpo.files import check_writable_dir, write_atomic
from grpo.report import figures
from grpo.report.compute import SLOPE_EPOCHS, Robustness, Tables, compute
from grpo.report.data import load
from grpo.report.names import level_name
from grpo.report.robustness import INTERACTION, VERDICTS, with_robustness
from grpo.report.stats import ALPHA, CONFIDENCE, POWER, RESAMPLES

if TYPE_CHECKING:  # imported for a random study only, in render_report
    from grpo.report.wide import WideTables

HEAT_AXES = ("deltas_mode", "loss_mode")  # heatmap rows and columns where the grid varies them


def render_report(results_path: Path, reports_root: Path) -> "tuple[Path, Tables | WideTables]":
    """Read `results_path`, write reports_root/<grid>/; returns the folder and the tables (a random
    study's: grpo.report.wide's)."""
    results = open_results(results_path)
    out = Path(reports_root) / results.name
    check_writable_dir(out)
    data = load(results)
    grid = parse_grid(results.name, results.grid_text) if results.grid_text is not None else None
    if grid is not None and grid.random is not None:  # a random study: its own report (issue 23)
        from grpo.report import wide
        return out, wide.write(data, grid, out, markdown_table)
    tables = with_robustness(compute(data), data)
    write(tables, out)
    return out, tables


def write(tables: Tables, out: Path) -> None:
    """Write the figures, configurations.csv, effects.csv, interactions.csv, fits.csv (and, where
    the grid has cells or tuning, robustness.csv and tuning.csv) and report.md of `tables` into
    `out` (each file whole or not at all)."""
    pictures = _figures(tables)
    for name, figure in pictures.items():
        write_atomic(out / name, lambda tmp, figure=figure: figures.save(figure, tmp))
    frames = [("configurations.csv", tables.configurations), ("effects.csv", tables.effects),
              ("interactions.csv", tables.interactions), ("fits.csv", tables.fits)]
    if tables.robustness is not None:
        frames += [("robustness.csv", tables.robustness.rows)]
        if len(tables.robustness.tuning):
            frames += [("tuning.csv", tables.robustness.tuning)]
    for name, frame in frames:
        write_atomic(out / name, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
    text = narrative(tables, list(pictures))
    write_atomic(out / "report.md", lambda tmp: tmp.write_text(text))


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    def cell(value):
        if isinstance(value, float | np.floating):
            return "–" if np.isnan(value) else f"{value:.{digits}f}"
        if value is None or value is pd.NA:
            return "–"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def interval(value: float, low: float, high: float) -> str:
    return f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"


CAPTIONS = {  # what a figure shows that its title cannot say
    "kl_curves.png": "The KL curves are a sawtooth by design: every ref_period epochs (10 by default) the frozen reference"
                     " model becomes a copy of the policy, so the measured KL drops to about 0 and grows again until the"
                     " next refresh. The teeth show how far the policy moves between refreshes, not instability.",
}


def _figures(tables: Tables) -> dict:
    """name -> figure, for what the tables hold."""
    pictures, curves = {}, tables.curves
    if "success" in curves:
        pictures["success_curves.png"] = figures.level_curves(
            curves["success"], f"{PRIMARY} (fraction of responses sorted)", f"{PRIMARY} during training: each level averaged"
            " over the other axes (mean over seeds, 95% bootstrap band)", levels=tables.axes)
    if "success_effects" in curves:
        pictures["success_effect_curves.png"] = figures.effect_curves(curves["success_effects"], PRIMARY, tables.axes)
    ranked = tables.configurations[tables.configurations["rank"].notna()]
    if len(tables.effects):
        pictures["effects.png"] = figures.effects_forest(tables.effects, PRIMARY, tables.axes)
    panels = _heat_panels(ranked, tables.axes)
    if panels:
        pictures["success_heatmaps.png"] = figures.heatmaps(
            panels, _heat_columns(tables.axes), f"final {PRIMARY} per configuration (mean over seeds; * = tied with the best)", PRIMARY)
    if len(ranked) > 1:
        hue = next((name for name in ("deltas_mode", *tables.axes) if name in tables.axes), None)
        style = next((name for name in ("loss_mode", *tables.axes) if name in tables.axes and name != hue), None)
        pictures["generalisation.png"] = figures.generalisation(_in_level_order(ranked, tables.axes, [hue, style]),
                                                                hue, style)
    if tables.robustness is not None:
        sensitivity = tables.robustness.sensitivity
        for name, effects in sensitivity.groupby("field", sort=False):
            if not (effects.cell == DEFAULT_CELL).any():
                continue  # no effect measured in the default cell (it is incomplete): nothing to draw against
            own = effects[effects.cell == DEFAULT_CELL].value.iloc[0]
            pictures[f"sensitivity_{name}.png"] = figures.sensitivity(effects, name, own, PRIMARY, tables.axes)
    if "reward_frac" in curves:
        pictures["reward_frac_curves.png"] = figures.level_curves(
            curves["reward_frac"], "reward_frac", "reward_frac during training, within each reward function (each"
            " level averaged over the other axes, 95% band)", levels=tables.axes)
    if "kl" in curves:
        pictures["kl_curves.png"] = figures.level_curves(
            curves["kl"], "measured KL to the reference", "measured KL(π || π_ref) where the KL penalty is on (each"
            " level averaged over the other axes, 95% band); the sawtooth: the reference is refreshed every ref_period"
            " epochs", log=True, levels=tables.axes)
    if "clip_frac" in curves:
        pictures["clip_fraction_curves.png"] = figures.level_curves(
            curves["clip_frac"], "fraction clipped", "fraction of tokens whose clipping acts, where a loss clips (each"
            " level averaged over the other axes, 95% band)", levels=tables.axes)
    return pictures


def _in_level_order(frame: pd.DataFrame, axes: dict, names) -> pd.DataFrame:
    """frame sorted so each named axis's levels appear in their order."""
    names = [name for name in names if name]
    keys = {name: frame[name].map({level: i for i, level in enumerate(axes[name])}) for name in names}
    return frame.assign(**{f"_{n}": k for n, k in keys.items()}).sort_values([f"_{n}" for n in names]).drop(
        columns=[f"_{n}" for n in names]) if names else frame


def _heat_panels(ranked: pd.DataFrame, axes: dict) -> dict:
    """panel title -> success table: rows and columns are two axes (deltas and loss where they
    vary), one panel per combination of the other axes."""
    if not axes or not len(ranked):
        return {}
    heat, facets = _heat_layout(axes)
    groups = [()] if not facets else list(pd.MultiIndex.from_product([axes[name] for name in facets]))
    panels = {}
    for group in groups:
        mask = np.ones(len(ranked), dtype=bool)
        for name, level in zip(facets, group):
            mask &= (ranked[name] == level).to_numpy()
        cell = ranked[mask]
        if not len(cell):
            continue
        rows, cols = heat[0], heat[1] if len(heat) > 1 else None
        index = axes[rows]
        columns = axes[cols] if cols else [PRIMARY]
        key = [rows] + ([cols] if cols else [])
        table = cell.set_index(key).success_mean
        tied = cell.set_index(key).tied_with_best
        if cols:
            values, marked = table.unstack(cols), tied.unstack(cols)
        else:
            values, marked = table.to_frame(PRIMARY), tied.to_frame(PRIMARY)
        values = values.reindex(index=index, columns=columns).astype(float)
        values.attrs["marked"] = marked.reindex(index=index, columns=columns).fillna(False).astype(bool)
        title = ", ".join(f"kl {level:g}" if name == "kl_penalty" else f"{name} {level}" if not isinstance(level, str)
                          else str(level) for name, level in zip(facets, group)) or "all configurations"
        panels[title] = values
    return panels


def _heat_layout(axes: dict) -> tuple[list[str], list[str]]:
    """The heatmap's two cell axes (deltas and loss where they vary) and the facet axes."""
    heat = [name for name in HEAT_AXES if name in axes]
    heat += [name for name in axes if name not in heat][: 2 - len(heat)]
    return heat, [name for name in axes if name not in heat]


def _heat_columns(axes: dict) -> int:
    """Panels per row of the heatmap figure: one row per level of the first facet axis."""
    _, facets = _heat_layout(axes)
    if len(facets) > 1:
        return int(np.prod([len(axes[name]) for name in facets[1:]]))
    return min(3, len(axes[facets[0]])) if facets else 1


def _completeness_line(tables: Tables) -> str:
    c = tables.completeness
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(c.statuses.items()))
    runs = sum(c.statuses.values())
    study = " and every cell and tuning run of the study" if tables.robustness is not None else ""
    if c.is_complete:
        return f"complete: {c.configurations} of {c.configurations} configurations, {runs} runs ({statuses}){study}"
    line = f"**INCOMPLETE**: {c.complete} of {c.configurations} configurations have all their runs; {runs} runs ({statuses})."
    if c.missing or c.failed:
        named = ", ".join([f"`{i}` (missing)" for i in c.missing[:12]] + [f"`{i}` (failed)" for i in c.failed[:12]])
        more = len(c.missing) + len(c.failed) - min(12, len(c.missing)) - min(12, len(c.failed))
        line += f" Left out of every ranking and effect: {named}" + (f" and {more} more" if more > 0 else "") + "."
    if c.gaps:
        parts = ", ".join(f"`{part}`" for part in incomplete_parts(c.gaps))
        line += (f" Beyond the default cell, {len(c.gaps)} gap(s), in {parts}: {gaps_line(c.gaps)}. No contrast is"
                 " computed from a cell with a gap (a tuning gap leaves its arm of the tuned cell not chosen).")
    return line + " Run the same sweep again to finish it."


def narrative(tables: Tables, pictures: list[str]) -> str:
    table = tables.configurations
    ranked = table[table["rank"].notna()]
    seeds = tables.seeds
    axes = " × ".join(f"`{name}` ({len(levels)})" for name, levels in tables.axes.items()) or "none (one configuration)"
    mdd = (f"{tables.min_detectable:.3f} in {PRIMARY} (median half-width of the paired 95% intervals against the"
           f" seed's default; pairing cuts the standard error of a difference {tables.pairing_gain:.1f}× (median))"
           if np.isfinite(tables.min_detectable) else "not defined: no configuration has the seed's default beside it")
    if np.isfinite(tables.leaders_half_width):
        mdd += f"; {tables.leaders_half_width:.3f} between the best and the configurations tied with it (median)"
    lines = [
        f"# Ablation report: `{tables.grid}`",
        "",
        f"- **Grid**: `{tables.grid}`, {tables.completeness.configurations} configuration"
        f"{'s' if tables.completeness.configurations != 1 else ''}; varying axes: {axes}",
        f"- **Held fixed**: {_held_line(tables)}",
        *([f"- **Cells**: {_cells_line(tables)}"] if tables.robustness is not None else []),
        f"- **Seeds**: {len(seeds)} ({_seed_range(seeds)}), the same seeds in every configuration",
        f"- **Commit**: {tables.commit}",
        f"- **Completeness**: {_completeness_line(tables)}",
        f"- **Minimum detectable difference**: {mdd}",
        "",
        f"**Primary outcome: `{PRIMARY}`**, the fraction of sampled responses that are exactly the sorted prompt,"
        f" averaged over each run's final window (the last {FINAL_FRACTION:.0%} of its epochs). It is the one metric"
        " every reward function shares; `reward_frac` (reward / best attainable reward) depends on each reward's"
        " scale, so it is compared only among configurations of one reward function (section below). Greedy"
        " accuracy on the training and held-out prompts, over the same window, stands beside it.",
        "",
        "**Statistics.** Configurations of one grid train seed s from the same initial weights and random stream,"
        " so seed s of two configurations is a matched pair: a comparison is the mean of the per-seed differences"
        f" with a {CONFIDENCE:.0%} paired percentile-bootstrap interval over seeds ({RESAMPLES:,} resamples, fixed"
        " seed); a diverged run drops out of its pairs. Its p-value is that of the difference over its bootstrap"
        " standard error; a family of comparisons is corrected with Holm's method, and"
        f" *decisive* means Holm-adjusted p < {ALPHA:.2f}. Per-configuration means and IQMs (Agarwal et al. 2021)"
        " carry unpaired bootstrap intervals. *Replicated*: the seeds are split into two disjoint halves (even and"
        " odd positions) and a decisive finding keeps its sign on each half alone.",
        "",
        "## Findings",
        "",
    ]
    lines += _findings(tables, ranked)
    if tables.robustness is not None:
        lines += _robustness_section(tables)
    if len(tables.unhealthy):
        unhealthy = tables.unhealthy
        shown = unhealthy[[c for c in ("config_id", "seed", "status", "diverged_step", "error") if c in unhealthy]]
        lines += ["## Runs that did not finish cleanly", "",
                  "Diverged runs (NaN or infinite metrics) are left out of the statistics (and out of their pairs);"
                  " missing and failed configurations are left out of every ranking and effect."
                  + (f" The first 40 of {len(shown)}:" if len(shown) > 40 else ""), "",
                  markdown_table(shown.head(40)), ""]
    if pictures:
        lines += ["## Figures", ""] + [f"![{name}]({name})\n" + (f"\n{CAPTIONS[name]}\n" if name in CAPTIONS else "")
                                       for name in pictures]
    lines += _tables_section(tables, ranked)
    if tables.grid_text:
        lines += ["## Grid", "", "```toml", tables.grid_text.strip(), "```", ""]
    return "\n".join(lines)


def _seed_range(seeds) -> str:
    return f"{seeds[0]}–{seeds[-1]}" if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def _findings(tables: Tables, ranked: pd.DataFrame) -> list[str]:
    if not len(ranked):
        every = "every run diverged" if tables.completeness.statuses.get("diverged") and tables.completeness.is_complete \
            else "no configuration has results"
        return [f"No statistics: {every}. The runs are listed below.", ""]
    best = ranked.iloc[0]
    own = f"{best.success_mean:.3f} [{best.success_low:.3f}, {best.success_high:.3f}]"
    if len(ranked) == 1:
        return [f"One configuration, so nothing to compare: {best.configuration} has {PRIMARY} {own} (mean, 95%"
                f" interval over {best.runs} seeds), IQM {best.iqm:.3f}.", ""]
    findings = []
    tied = ranked[ranked.tied_with_best]
    others = tied[tied.config_id != best.config_id]
    names = "; ".join(f"{row.configuration} {row.success_mean:.3f}" for row in others.head(12).itertuples()) or "none"
    halves = tables.replication
    replicated = all(halves["best is tied in the full data"]) if len(halves) else False
    findings.append(
        f"**Tied with the best: {len(tied)} of {len(ranked)} configurations.** The highest mean {PRIMARY} is"
        f" {best.configuration}, {own}; {len(others)} other{'s are' if len(others) != 1 else ' is'} not decisively"
        f" below it (paired contrasts, Holm over {len(ranked) - 1}): {names}"
        + (f" and {len(others) - 12} more" if len(others) > 12 else "")
        + ". Split-half: the best of each half is "
        + ", ".join(f"{row['best']} ({'in' if row['best is tied in the full data'] else 'outside'} the tied set)"
                    for _, row in halves.iterrows())
        + f" — {'replicated' if replicated else 'not replicated'}.")
    if ranked.default_difference.notna().any():
        better, worse = ranked[ranked.versus_default == "better"], ranked[ranked.versus_default == "worse"]
        top = better.sort_values("default_difference", ascending=False).head(5)
        findings.append(
            f"**Against the seed's default** ({_seed_choices()}, with the same other fields):"
            f" {len(better)} configurations are decisively better and {len(worse)} decisively worse, of"
            f" {ranked.default_difference.notna().sum()} compared (Holm);"
            f" {int(ranked.default_replicated.sum())} of these {len(better) + len(worse)} replicate. Largest gains: "
            + "; ".join(f"{row.configuration} {interval(row.default_difference, row.default_low, row.default_high)}"
                        f" (P(better) {row.poi:.2f} [{row.poi_low:.2f}, {row.poi_high:.2f}])" for row in top.itertuples())
            + ". Defaults: " + "; ".join(f"{row.configuration} ranks {row.rank} of {len(ranked)}, {PRIMARY}"
                                          f" {row.success_mean:.3f}" for row in ranked[ranked.is_default].itertuples())
            + ".")
    effects = tables.effects
    if len(effects):
        order = _factor_order(effects)
        parts = []
        for factor in order:
            rows = effects[effects.factor == factor]
            decisive = rows[rows.decisive]
            if len(decisive):
                parts.append(f"`{factor}` (vs {level_name(factor, rows.reference.iloc[0])}): " + "; ".join(
                    f"{level_name(factor, r.level)} {interval(r.difference, r.low, r.high)}"
                    f"{'' if r.replicated else ' (not replicated)'}{_qualifier(tables, r.factor, r.level)}"
                    f"{' ↑' if r.still_improving else ''}" for r in decisive.itertuples()))
            else:
                parts.append(f"`{factor}`: no decisive effect (largest {rows.difference.abs().max():.3f})"
                             + _decisive_elsewhere(tables, factor, rows.level))
        findings.append(f"**Factor effects on {PRIMARY}** (each level against the seed's choice, averaged over the"
                        " other axes; factors ranked by their largest decisive effect"
                        + ("; each with its verdict across the cells, section Robustness" if tables.robustness else "")
                        + "): " + ". ".join(parts) + "."
                        + (" ↑: an arm of the contrast is still rising over the final window (its slope's interval lies"
                           " above 0; Learning-speed fits below), so the effect is a statement about speed at this"
                           " training length, not about the level either arm would reach." if effects.still_improving.any()
                           else ""))
    inter = tables.interactions
    if len(inter):
        decisive = inter[inter.decisive].reindex(inter[inter.decisive].difference.abs().sort_values(ascending=False).index)
        findings.append(
            f"**Interactions**: {len(decisive)} of {len(inter)} two-way interactions are decisive (Holm)"
            + (": " + "; ".join(f"{level_name(r.factor, r.level)} × {level_name(r.factor_b, r.level_b)}"
                               f" {interval(r.difference, r.low, r.high)}"
                               f"{'' if r.replicated else ' (not replicated)'}"
                               f"{_qualifier(tables, r.factor + INTERACTION + r.factor_b, f'{r.level}{INTERACTION}{r.level_b}')}"
                               for r in decisive.head(8).itertuples())
               if len(decisive) else "") + ". An interaction is how much the effect of the first level (vs its"
            " reference) changes under the second level (vs its reference).")
    leaders = tied[tied.config_id != best.config_id].head(5)
    if len(leaders):
        findings.append(
            f"**Seeds to decide the leaders** ({POWER:.0%} power, paired, at level {ALPHA:.2f} before correction):"
            f" with {len(tables.seeds)} seeds the leaders are tied; to resolve each from the best: "
            + "; ".join(f"{row.configuration} (difference {row.best_difference:.3f}): "
                        f"{_count(row.seeds_to_resolve)} seeds" for row in leaders.itertuples()) + ".")
    fits = tables.fits
    if len(fits):
        failed = fits[fits.failed != ""]
        reasons = failed.failed.str.split(":").str[0].value_counts()  # by kind (grpo.fits)
        rising = tables.slopes[tables.slopes.still_improving]
        findings.append(f"**Learning-speed fits** of the {PRIMARY} curves: {len(fits) - len(failed)} of {len(fits)}"
                        " accepted" + (" (failed: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items()) + ")"
                                       if len(failed) else "") + f". Still rising at the end of training: {len(rising)} of"
                        f" {len(tables.slopes)} levels (final-window slope of {PRIMARY} per {SLOPE_EPOCHS} epochs, interval"
                        " above 0)" + (": " + "; ".join(f"{level_name(r.factor, r.level)} {interval(r.slope, r.low, r.high)}"
                                                        for r in rising.itertuples()) if len(rising) else "")
                        + ". Where the arms are still rising, a difference measures speed (ScaleRL's efficiency B),"
                        " not the level reached (its asymptote A).")
    within = tables.within_reward
    if len(within) > 1:
        findings.append("**`reward_frac` within each reward function**: Spearman correlation of its configuration"
                        " means with success: " + ", ".join(f"{row['reward_fn']} {row['Spearman(reward_frac, success)']:.2f}"
                                                            for _, row in within.iterrows())
                        + ". Across reward functions it is not comparable (each reward has its own scale).")
    return [f"{i}. {text}" for i, text in enumerate(findings, 1)] + [""]


def _held_line(tables: Tables) -> str:
    """`lr 0.001, epsilon 0.01, responses 10, epochs 100 × 10 steps, dim 10`: the values every configuration shares."""
    held = dict(tables.held)
    if "epochs" in held and "steps_per_epoch" in held:
        held["epochs"] = [f"{epochs} × {held.pop('steps_per_epoch')[0]} steps" for epochs in held["epochs"]]
    return ", ".join(f"{name} {' / '.join(level_name('', value) for value in values)}" for name, values in held.items()) + (
        " (epsilon applies to the clipping losses only)" if "epsilon" in held and "loss_mode" in tables.axes else "")


def _robustness(tables: Tables) -> Robustness:
    """The robustness of `tables`, for the text that only a grid with cells beyond the default (or
    a tuning) has: its callers run only then."""
    assert tables.robustness is not None
    return tables.robustness


def _cells_line(tables: Tables) -> str:
    robustness = _robustness(tables)
    return ", ".join(f"`{cell}`" + (f" ({held})" if held != cell else "") for cell, held in robustness.cells.items()) \
        + f"; every cell trains the whole grid on the same {len(tables.seeds)} seeds, so its effects are paired with the" \
          " default cell's seed by seed (section Robustness)"


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
    cells): ` (robust: ...)`, ` (at lr 0.001 only: default-only)`, ` (at lr 0.001; conditional: flips
    at lr 0.01 (-0.030 [...]); vanishes at lr 0.003)`."""
    verdict, cells = _finding(tables, factor, level)
    if verdict is None or verdict.verdict == "not decisive":
        return ""
    at = _robustness(tables).cells[DEFAULT_CELL]
    if verdict.verdict == "robust":
        return " (**robust**: decisive with one sign in every cell)"
    if verdict.verdict == "default-only":
        return f" (at {at} only: **default-only**)"
    named = []
    if verdict.flips:
        named.append("flips at " + ", ".join(f"{cell} ({interval(cells.difference[cell], cells.low[cell], cells.high[cell])})"
                                             for cell in verdict.flips.split("; ")))
    if verdict.vanishes:
        named.append("vanishes at " + ", ".join(verdict.vanishes.split("; ")))
    return f" (at {at}; **conditional**: {'; '.join(named)})"


def _decisive_elsewhere(tables: Tables, factor: str, levels) -> str:
    """For a factor with no decisive effect in the default cell: the cells where its levels are
    decisive ('' where none is, or without cells)."""
    parts = []
    for level in levels:
        verdict, cells = _finding(tables, factor, level)
        if verdict is not None and verdict.verdict == "conditional":
            decisive = cells[cells.decisive]
            parts.append(f"{level_name(factor, level)} is decisive at " + ", ".join(
                f"{cell} ({interval(row.difference, row.low, row.high)})" for cell, row in decisive.iterrows()))
    if not parts:
        return ""
    return f" at {_robustness(tables).cells[DEFAULT_CELL]}, but **conditional**: " + "; ".join(parts)


def _robustness_section(tables: Tables) -> list[str]:
    robustness = _robustness(tables)
    rows = robustness.rows
    cells = list(robustness.cells)
    tests = int(rows.p.notna().sum())
    lines = ["## Robustness: each finding across the held-fixed values and at tuned settings", "",
             "Each cell trains the whole design grid again with one held-fixed value changed (a sensitivity cell) or"
             " with each arm at its own tuned setting (`tuned`), on the same evaluation seeds as the default cell, so"
             " every effect is the same paired contrast in every cell. Holm's correction runs over effects × cells"
             f" ({tests} tests: every main effect and every interaction decisive in the default cell, in each of"
             f" {len(cells)} cells); a value that does not apply to a configuration (epsilon on a loss that does not"
             " clip) leaves it as in the default cell. Verdicts: **robust** — decisive with one sign in every cell;"
             " **conditional** — decisive somewhere but it flips sign or vanishes in the cells named;"
             " **default-only** — decisive at the grid's own values only; **not decisive** — in no cell. The findings"
             " above carry their verdict; a finding that is not robust is stated at the default cell's values"
             f" ({robustness.cells[DEFAULT_CELL]}) with the cells where it flips or vanishes. All rows: `robustness.csv`.", ""]
    left_out = {cell: n for cell, n in robustness.incomplete.items() if n}
    if left_out:
        lines += ["Configurations left out of a cell (runs missing or failed): "
                  + ", ".join(f"{cell} {n}" for cell, n in left_out.items()) + ".", ""]
    table = robustness.verdicts.copy()
    table.insert(0, "finding", [f"{r.factor}: {r.level} − {r.reference}" for r in table.itertuples()])
    for cell in cells:
        here = rows[rows.cell == cell].set_index(["factor", "level"])
        table[cell] = [_cell_text(here, r.factor, r.level) for r in robustness.verdicts.itertuples()]
    counts = table.verdict.value_counts()
    lines += [", ".join(f"{counts.get(name, 0)} {name}" for name in VERDICTS) + f" of {len(table)} findings"
              " (difference [95% interval]; bold where decisive after Holm):", "",
              markdown_table(table[["finding", "verdict", "flips", "vanishes", *cells]]), ""]
    if len(robustness.best):
        lines += ["**The best configuration in each cell**, and where the default cell's best stands there (paired"
                  " difference best − it, Holm over the cell's configurations; *tied* where not decisively below):", "",
                  markdown_table(robustness.best), ""]
    if len(robustness.tuning):
        lines += _tuning_text(tables)
    return lines


def _cell_text(rows: pd.DataFrame, factor: str, level) -> str:
    key = (factor, level)
    if key not in rows.index or not np.isfinite(rows.loc[key].difference):
        return "–"
    row = rows.loc[key]
    text = interval(row.difference, row.low, row.high)
    return f"**{text}**" if row.decisive else text


def _tuning_text(tables: Tables) -> list[str]:
    tuning = _robustness(tables).tuning
    chosen = tuning[tuning.chosen != "–"]
    counts = chosen.chosen.value_counts()
    at_edge = chosen[chosen.edge != ""]
    tied = chosen[chosen["tied with"] != ""]
    return ["### Tuning on seeds kept apart", "",
            f"Cell `{TUNED_CELL}`: {_robustness(tables).cells[TUNED_CELL]}. Each arm's objective is {OBJECTIVE}; the"
            " arm chooses its highest candidate (an exact tie goes to the candidate listed first). `objective` is the"
            " chosen candidate's mean on the tuning seeds: picked, so biased upward, and never used as evidence — the"
            " tuned contrasts above are paired on the evaluation seeds. `stability`: the share of"
            f" {RESAMPLES:,} bootstrap resamples of the tuning seeds in which the same candidate wins; `edge`: the choice"
            " is the lowest or highest value tried, so the optimum may lie beyond the candidates; `tied with`: candidates"
            " with exactly the chosen one's objective (the first listed wins: its stability is undefined, shown –, and no"
            " edge is named).", "",
            "Choices: " + ", ".join(f"{name} for {n}" for name, n in counts.items())
            + f" of {len(tuning)} arms; {len(at_edge)} at an edge of the candidates; "
            + (f"{len(tied)} tied (the candidate listed first taken: the objective did not choose it); " if len(tied) else "")
            + (f"median stability {chosen.stability.median():.2f}" if chosen.stability.notna().any() else "stability undefined")
            + (f"; {len(tuning) - len(chosen)} arms could not choose (runs missing"
                                                      " or failed)" if len(chosen) < len(tuning) else "") + ".", "",
            markdown_table(tuning, digits=2), ""]


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


def _tables_section(tables: Tables, ranked: pd.DataFrame) -> list[str]:
    table = tables.configurations
    lines = []
    if len(table):
        shown = table.assign(**{
            "rank": table["rank"].astype(object).where(table["rank"].notna(), "–"),
            f"{PRIMARY} [95% CI]": [f"{r.success_mean:.3f} [{r.success_low:.3f}, {r.success_high:.3f}]"
                                    if np.isfinite(r.success_mean) else "–" for r in table.itertuples()],
            "tied": np.where(table.tied_with_best, "yes", ""),
            "vs default [95% CI]": [interval(r.default_difference, r.default_low, r.default_high) + (
                f" {r.versus_default}" if r.versus_default else "") if np.isfinite(r.default_difference) else "–"
                for r in table.itertuples()],
        })
        columns = ["rank", "configuration", "runs", f"{PRIMARY} [95% CI]", "iqm", "tied", "vs default [95% CI]",
                   "reward_frac_mean", "greedy_train_acc", "greedy_heldout_acc"]
        lines += [f"## Configurations, ranked by {PRIMARY}", "",
                  "`tied`: not decisively below the best; `vs default`: paired difference to the seed's default with"
                  " the same other fields (`better`/`worse` where decisive); `reward_frac` compares only within one"
                  " reward function. All columns: `configurations.csv`.", "",
                  markdown_table(shown[columns]), ""]
    if len(tables.effects):
        lines += [f"## Main effects on {PRIMARY}", "", markdown_table(tables.effects[
            ["factor", "level", "reference", "cells", "difference", "low", "high", "p_holm", "decisive",
             "difference_half_a", "difference_half_b", "replicated"]]), ""]
    if len(tables.interactions):
        decisive = tables.interactions[tables.interactions.decisive]
        lines += [f"## Two-way interactions on {PRIMARY}", "",
                  f"{len(decisive)} decisive of {len(tables.interactions)}; all in `interactions.csv`."
                  + (" The decisive ones:" if len(decisive) else ""), ""]
        if len(decisive):
            lines += [markdown_table(decisive[["factor", "level", "factor_b", "level_b", "difference", "low", "high",
                                               "p_holm", "replicated"]]), ""]
    if len(tables.within_reward):
        lines += ["## reward_frac within each reward function", "", markdown_table(tables.within_reward), ""]
    if len(tables.fits):
        lines += ["## Learning-speed fits: R(s) = R0 + (A − R0) / (1 + (s_mid / s)^B) (ScaleRL)", "",
                  f"Fitted to each configuration's {PRIMARY_SOURCE} curve (seed mean per epoch, s = epoch + 1),"
                  " weighted by its seed-to-seed standard error. A fit fails when a parameter sits at the bound of its"
                  " search range, the asymptote leaves [0, 1], the curve is flat (no better than a constant given the"
                  " noise), the midpoint lies outside the observed epochs, or the residuals exceed twice the noise.",
                  "", markdown_table(tables.fits), "",
                  f"Final-window slope of {PRIMARY} per {SLOPE_EPOCHS} epochs, per level of each axis (least squares per"
                  " run, averaged over the level's configurations per seed, 95% bootstrap interval over seeds); a level"
                  " whose interval lies above 0 is still improving when training stops:", "",
                  markdown_table(tables.slopes, digits=4), ""]
    return lines
