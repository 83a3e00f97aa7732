"""A grid's report.md: the header, the findings (grpo.report.grid's findings), robustness across
cells, the runs that did not finish, the figures, the tables and the grid file."""

import numpy as np
import pandas as pd

from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL
from grpo.experiment.results import FINAL_FRACTION, PRIMARY, PRIMARY_SOURCE
from grpo.experiment.tuning import OBJECTIVE
from grpo.report._markdown import interval, markdown_table
from grpo.report._names import level_name
from grpo.report._stats import ALPHA, CONFIDENCE, RESAMPLES
from grpo.report.grid._compute import SLOPE_EPOCHS, Tables
from grpo.report.grid._findings import findings, robustness_of
from grpo.report.grid._robustness import VERDICTS

CAPTIONS = {  # what a figure shows that its title cannot say
    "kl_curves.png": "The KL curves are a sawtooth by design: every ref_period epochs (10 by default) the frozen reference"
                     " model becomes a copy of the policy, so the measured KL drops to about 0 and grows again until the"
                     " next refresh. The teeth show how far the policy moves between refreshes, not instability.",
}


def _completeness_line(tables: Tables) -> str:
    c = tables.completeness
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(c.statuses.items()))
    runs = sum(c.statuses.values())
    if c.is_complete:
        return f"complete: {c.configurations} of {c.configurations} configurations, {runs} runs ({statuses})"
    named = ", ".join([f"`{i}` (missing)" for i in c.missing[:12]] + [f"`{i}` (failed)" for i in c.failed[:12]])
    more = len(c.missing) + len(c.failed) - min(12, len(c.missing)) - min(12, len(c.failed))
    return (f"**INCOMPLETE**: {c.complete} of {c.configurations} configurations have all their runs; {runs} runs"
            f" ({statuses}). Left out of every ranking and effect: {named}" + (f" and {more} more" if more > 0 else "")
            + ". Run the same sweep again to finish it.")


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
    lines += findings(tables, ranked)
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


def _held_line(tables: Tables) -> str:
    """`lr 0.001, epsilon 0.01, responses 10, epochs 100 × 10 steps, dim 10`: the values every configuration shares."""
    held = dict(tables.held)
    if "epochs" in held and "steps_per_epoch" in held:
        held["epochs"] = [f"{epochs} × {held.pop('steps_per_epoch')[0]} steps" for epochs in held["epochs"]]
    return ", ".join(f"{name} {' / '.join(level_name('', value) for value in values)}" for name, values in held.items()) + (
        " (epsilon applies to the clipping losses only)" if "epsilon" in held and "loss_mode" in tables.axes else "")


def _cells_line(tables: Tables) -> str:
    robustness = robustness_of(tables)
    return ", ".join(f"`{cell}`" + (f" ({held})" if held != cell else "") for cell, held in robustness.cells.items()) \
        + f"; every cell trains the whole grid on the same {len(tables.seeds)} seeds, so its effects are paired with the" \
          " default cell's seed by seed (section Robustness)"


def _robustness_section(tables: Tables) -> list[str]:
    robustness = robustness_of(tables)
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
    tuning = robustness_of(tables).tuning
    chosen = tuning[tuning.chosen != "–"]
    counts = chosen.chosen.value_counts()
    at_edge = chosen[chosen.edge != ""]
    return ["### Tuning on seeds kept apart", "",
            f"Cell `{TUNED_CELL}`: {robustness_of(tables).cells[TUNED_CELL]}. Each arm's objective is {OBJECTIVE}; the"
            " arm chooses its highest candidate (an exact tie goes to the candidate listed first). `objective` is the"
            " chosen candidate's mean on the tuning seeds: picked, so biased upward, and never used as evidence — the"
            " tuned contrasts above are paired on the evaluation seeds. `stability`: the share of"
            f" {RESAMPLES:,} bootstrap resamples of the tuning seeds in which the same candidate wins; `edge`: the choice"
            " is the lowest or highest value tried, so the optimum may lie beyond the candidates; `tied with`: candidates"
            " with exactly the chosen one's objective (the first listed wins, so its stability says nothing then).", "",
            "Choices: " + ", ".join(f"{name} for {n}" for name, n in counts.items())
            + f" of {len(tuning)} arms; {len(at_edge)} at an edge of the candidates; median stability"
              f" {chosen.stability.median():.2f}" + (f"; {len(tuning) - len(chosen)} arms could not choose (runs missing"
                                                      " or failed)" if len(chosen) < len(tuning) else "") + ".", "",
            markdown_table(tuning, digits=2), ""]


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
