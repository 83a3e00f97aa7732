"""A grid's report.md: the header, the findings (grpo.report.grid's findings), robustness across
cells, the runs that did not finish, the figures, the tables and the grid file."""

import numpy as np
import pandas as pd

from grpo.experiment.completeness import gaps_line, incomplete_parts
from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL
from grpo.experiment.results import FINAL_FRACTION, PRIMARY, PRIMARY_SOURCE
from grpo.experiment.tuning import OBJECTIVE
from grpo.report._markdown import interval, markdown_table
from grpo.report._names import level_name
from grpo.report._stats import ALPHA, CONFIDENCE, POWER, RESAMPLES
from grpo.report.grid._compute import LEARNING_FLOOR, Tables, held_readers
from grpo.report.grid._findings import findings, robustness_of
from grpo.report.grid._regime import SLOPE_EPOCHS
from grpo.report.grid._robustness import FAMILIES, VERDICTS

CAPTIONS = {  # what a figure shows that its title cannot say
    "kl_curves.png": "The KL curves are a sawtooth by design: every ref_period epochs (10 by default) the frozen reference"
                     " model becomes a copy of the policy, so the measured KL drops to about 0 and grows again until the"
                     " next refresh. The teeth show how far the policy moves between refreshes, not instability.",
}


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
    learning, compared = tables.learning_contrasts
    mdd = (f"{tables.min_detectable:.3f} in {PRIMARY} at {POWER:.0%} power ((z_.975 + z_.8) · sd / √n, median over"
           f" the {learning} of {compared} contrasts against the seed's default whose arms both learn, mean {PRIMARY}"
           f" ≥ {LEARNING_FLOOR}); {tables.min_detectable_family:.3f} under the family's correction (Holm over the"
           f" {compared} contrasts: z_{{1-α/(2·{compared})}})"
           if np.isfinite(tables.min_detectable) else "not defined: no configuration that learns has the seed's"
           " default beside it")
    half = (f"{tables.median_half_width:.3f} (median over all {compared} contrasts against the seed's default; a true"
            f" difference of that size is found with about 50% power); pairing cuts the standard error of a difference"
            f" {tables.pairing_gain:.1f}× (median)" if np.isfinite(tables.median_half_width) else "not defined")
    if np.isfinite(tables.leaders_half_width):
        half += f"; {tables.leaders_half_width:.3f} between the best and the configurations tied with it (median)"
    lines = [
        f"# Ablation report: `{tables.grid}`",
        "",
        f"- **Grid**: `{tables.grid}`, {tables.completeness.configurations} configuration"
        f"{'s' if tables.completeness.configurations != 1 else ''}; varying axes: {axes}",
        f"- **Held fixed**: {_held_line(tables)}",
        *([f"- **Cells**: {_cells_line(tables)}"] if tables.robustness is not None else []),
        f"- **Seeds**: {len(seeds)} ({_seed_range(seeds)}), the same seeds in every configuration",
        *([f"- **Confirmation**: the default cell trained again on {int(tables.confirmation.confirm_pairs.max())} fresh"
            " seeds (the grid's `confirm` range), never evaluated nor tuned on: each decisive finding's estimate there"
            " in the findings and `confirmation.csv`"] if len(tables.confirmation) else []),
        f"- **Commit**: {tables.commit}",
        f"- **Completeness**: {_completeness_line(tables)}",
        f"- **Minimum detectable difference**: {mdd}",
        f"- **Half-width of the paired 95% intervals**: {half}",
        "",
        (f"**Primary outcome: `{PRIMARY}` on held-out prompts** (`heldout_sorted_frac`): the fraction of sampled"
         " responses, one to each of the held-out prompts that the training stream never draws, that are exactly the"
         f" sorted prompt, averaged over each run's final window (the last {FINAL_FRACTION:.0%} of its epochs, its"
         " evaluated epochs). `stream_success` is the same on the rollouts' fresh draws of the training stream;"
         " `success_at_start` is the held-out success of the base policy before any RL step."
         if tables.regime is not None else
         f"**Primary outcome: `{PRIMARY}`**, the fraction of sampled responses that are exactly the sorted prompt,"
         f" averaged over each run's final window (the last {FINAL_FRACTION:.0%} of its epochs).")
        + " It is the one metric every reward function shares; `reward_frac` (reward / best attainable reward) depends"
        " on each reward's scale, so it is compared only among configurations of one reward function (section"
        " below). Greedy accuracy on the training and held-out prompts, over the same window, stands beside it.",
        "",
        "**Statistics.** Configurations of one grid train seed s from the same initial weights and random stream,"
        " so seed s of two configurations is a matched pair: a comparison is the mean of the per-seed differences"
        f" with a {CONFIDENCE:.0%} paired percentile-bootstrap interval over seeds ({RESAMPLES:,} resamples, fixed"
        " seed); a diverged run drops out of its pairs. Its p-value is that of the difference over its bootstrap"
        " standard error; a family of comparisons is corrected with Holm's method, and"
        f" *decisive* means Holm-adjusted p < {ALPHA:.2f}. Per-configuration means and IQMs (Agarwal et al. 2021)"
        " carry unpaired bootstrap intervals. Holm families: the contrasts against the seed's default; the main"
        " effects; the two-way interactions; the comparisons with the best" + (
            "; the findings in the cells other than the default (section Robustness)" if tables.robustness else "")
        + ": each test is in one family, so its adjusted p is the same in every file and figure."
        " *Consistent* (a consistency check, not a replication: the halves share the experiment): the seeds are"
        " split into two disjoint halves (even and odd positions) and a decisive finding keeps its sign on each"
        " half alone.",
        "",
        "## Findings",
        "",
    ]
    lines += findings(tables, ranked)
    lines += _headline_section(tables)
    if tables.regime is not None:
        lines += _regime_section(tables)
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
    readers = held_readers(tables.configurations, tables.axes) if "loss_mode" in tables.configurations else {}
    return ", ".join(f"{name} {' / '.join(level_name('', value) for value in values)}" + (
        f" (read by {', '.join(readers[name])} only)" if name in readers else "") for name, values in held.items())


def _cells_line(tables: Tables) -> str:
    robustness = robustness_of(tables)
    return ", ".join(f"`{cell}`" + (f" ({held})" if held != cell else "") for cell, held in robustness.cells.items()) \
        + f"; every cell trains the whole grid on the same {len(tables.seeds)} seeds, so its effects are paired with the" \
          " default cell's seed by seed (section Robustness)"


def _robustness_section(tables: Tables) -> list[str]:
    robustness = robustness_of(tables)
    rows = robustness.rows
    cells = list(robustness.cells)
    tests = int(rows.p_holm.notna().sum())
    lines = ["## Robustness: each finding across the held-fixed values and at tuned settings", "",
             "Each cell trains the whole design grid again with one held-fixed value changed (a sensitivity cell) or"
             " with each arm at its own tuned setting (`tuned`), on the same evaluation seeds as the default cell, so"
             " every effect is the same paired contrast in every cell. A cell counts for a finding only where it"
             " changes the training of at least one of its arms: a value that does not apply to a configuration"
             " (epsilon on a loss that does not clip) leaves it as the default cell's run, and a cell whose runs for"
             " the finding repeat an earlier cell's (the tuned cell where every arm chose one value) adds nothing;"
             " such cells are *not applicable*. Holm families: " + "; ".join(f"{name} — {text}" for name, text in
                                                                            FAMILIES.items())
             + f" ({tests} tests in all). In a cell a finding is *decisive* (Holm-adjusted p < {ALPHA:.2f}), *vanishes*"
             " (two one-sided tests at level 0.05 bound it within ±margin, the margin its MDE at 80% power in the"
             " default cell), or is *not detected* (neither). Verdicts: **robust** — decisive with one sign in every"
             " applicable cell; **conditional** — decisive somewhere, and it flips sign or vanishes in the cells named;"
             " **unconfirmed** — decisive somewhere, not detected elsewhere; **not detected** — decisive in no cell;"
             " **untested** — no cell beyond the default applies. The findings above carry their verdict, stated at"
             f" the default cell's values ({robustness.cells[DEFAULT_CELL]}). All rows, with the Holm-adjusted"
             " (simultaneous) interval beside the raw one, the equivalence margin and its p: `robustness.csv`.", ""]
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
              " (difference [95% interval] {Holm-adjusted interval}; bold where decisive after Holm; n/a where the"
              " cell does not apply):", "",
              markdown_table(table[["finding", "verdict", "flips", "vanishes", "not_detected", *cells]]), ""]
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
    if row.outcome == "not applicable":
        return "n/a"
    text = f"{interval(row.difference, row.low, row.high)} {{{row.low_holm:+.3f}, {row.high_holm:+.3f}}}"
    return f"**{text}**" if row.decisive else text


def _tuning_text(tables: Tables) -> list[str]:
    tuning = robustness_of(tables).tuning
    chosen = tuning[tuning.chosen != "–"]
    counts = chosen.chosen.value_counts()
    at_edge = chosen[chosen.edge != ""]
    tied = chosen[chosen["tied with"] != ""]
    return ["### Tuning on seeds kept apart", "",
            f"Cell `{TUNED_CELL}`: {robustness_of(tables).cells[TUNED_CELL]}. Each arm's objective is {OBJECTIVE}; the"
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


def _regime_section(tables: Tables) -> list[str]:
    """The RLVR-shaped regime (grpo.report.grid._regime): the base, the best arm's gain over it, the
    spread of difficulty, budgets in samples, level or speed per finding, and `full` beside it."""
    regime, labels = tables.regime, tables.configurations.set_index("config_id").configuration
    assert regime is not None, "called for a regime's tables only"
    success, low, high = regime.base_success
    entropy, entropy_low, entropy_high = regime.base_entropy
    spread = regime.spread.dropna()
    lines = ["## The RLVR-shaped regime", "",
             f"- **Base policy** (each seed's warm start, trained once and shared by every configuration of that seed):"
             f" held-out success {success:.3f} [{low:.3f}, {high:.3f}], entropy {entropy:.3f} [{entropy_low:.3f},"
             f" {entropy_high:.3f}]"
             " nats a token (mean over seeds, 95% bootstrap interval)"
             + ("; the same success at the start of every configuration of a seed (shared base)." if regime.base_shared
                else "; NOTE: configurations of one seed start from different success (the base is not shared)."),
             ]
    if regime.best is not None and regime.best_gain is not None:
        gain = regime.best_gain
        best = tables.configurations.set_index("config_id").loc[regime.best]
        lines.append(f"- **Best configuration**: {labels[regime.best]}, held-out success {best.success_mean:.3f}"
                     f" [{best.success_low:.3f}, {best.success_high:.3f}], a gain over its base of"
                     f" {interval(gain.difference, gain.low, gain.high)} (paired over {gain.pairs} seeds).")
    if len(spread):
        first, last = spread.mixed_pass_frac.iloc[0], spread.mixed_pass_frac.iloc[-1]
        lines.append(f"- **Spread of difficulty**: the fraction of a rollout's groups whose pass rate lies strictly"
                     f" between 0 and 1 (a group that gives a centred deltas mode a gradient) is {first:.2f} at the"
                     f" first epoch and {last:.2f} at the last (mean over configurations and seeds).")
    rates = regime.rates.round(3)
    if rates.nunique() <= 1:
        lines.append(f"- **Budgets in samples**: every arm samples {rates.iloc[0]:g} responses an epoch, so arms"
                     " compared at one epoch are compared at one sample budget; no equal-sample contrast is needed.")
    elif len(regime.equal_samples):
        lines += [f"- **Budgets in samples**: arms sample at different rates; at an equal budget of {regime.budget:,.0f}"
                  " responses (the least any run reaches), the levels whose arm samples at another rate than its"
                  " reference's:", "", markdown_table(regime.equal_samples), ""]
    rising = "; ".join(f"{level_name(r.factor, r.level)} {interval(r.slope, r.low, r.high)}"
                       for r in regime.slopes[regime.slopes.still_improving].itertuples())
    lines.append(f"- **Level or speed**: {regime.plateaued:.0%} of the levels have levelled off: the slope of held-out"
                 f" success over the evaluated epochs of the last third of training (per {SLOPE_EPOCHS} epochs, least"
                 " squares per run, mean over the level's configurations per seed, 95% bootstrap interval over seeds)"
                 " has an interval not above 0"
                 + (f"; still rising: {rising}" if rising else "") + " (`heldout_slopes.csv`). A finding between two levelled"
                 " arms"
                 " is about the level reached; one with a rising arm is about speed at this training length"
                 " (column `about` of `effects.csv`).")
    lines.append("- **Tuning objective**: success on the rollouts' fresh draws of the training stream on the tuning"
                 " seeds, never the held-out set.")
    (trials, seconds), (design_trials, design_seconds) = regime.cost["all"], regime.cost["design"]
    if trials:
        lines.append(f"- **Cost**: {trials} trials, {seconds / 60:.0f} min of trial wall time in all (summed over the"
                     f" trials, which run side by side, one a worker); the design grid's {design_trials} trials"
                     f" (with any tuning seeds they carry), {design_seconds / 60:.0f} min. Wall time grows with the"
                     " machine's load, which the records do not hold.")
    lines.append("")
    effects = tables.effects
    if len(effects):
        shown = effects.assign(estimate=[interval(r.difference, r.low, r.high) for r in effects.itertuples()])
        columns = ["factor", "level", "reference", "estimate", "decisive", *(["verdict"] if "verdict" in effects else []),
                   "about"]
        lines += ["### Each finding: level or speed", "", markdown_table(shown[columns]), ""]
    compared = regime.compared
    if len(compared):
        shown = compared.assign(
            full=[f"{interval(r.full_difference, r.full_low, r.full_high)} {r.full_verdict}" for r in compared.itertuples()],
            here=[f"{interval(r.difference, r.low, r.high)} {r.verdict}" for r in compared.itertuples()])
        lines += ["### `full`'s headline findings in this regime", "",
                  "Each main effect of `full` (the seed document's task: 3 prompts, a sharp random init, success on"
                  " the training prompts; `reports/full/effects.csv`) whose levels this grid also has, beside its"
                  " estimate here (held-out success, a base with a real pass rate). Verdicts as each report gives"
                  " them; *carries over*: decisive with one sign in both. All columns: `full_comparison.csv`.", "",
                  markdown_table(shown[["factor", "level", "reference", "full", "here", "about", "carries_over"]]), ""]
        if len(regime.unmatched):
            lines += ["Findings on factors `full` does not vary (nothing there to carry over): " + "; ".join(
                          f"{level_name(r.factor, r.level)} − {level_name(r.factor, r.reference)}"
                          f" {interval(r.difference, r.low, r.high)} ({getattr(r, 'verdict', 'no verdict')},"
                          f" about {r.about})" for r in regime.unmatched.itertuples()) + ".", ""]
    else:
        lines += ["No `reports/full/effects.csv` beside this report: the comparison with `full` is left out.", ""]
    return lines


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
        shown["IQM [95% CI]"] = [f"{r.iqm:.3f} [{r.iqm_low:.3f}, {r.iqm_high:.3f}]" if np.isfinite(r.iqm) else "–"
                                 for r in table.itertuples()]
        columns = ["rank", "configuration", "runs", f"{PRIMARY} [95% CI]", "IQM [95% CI]", "tied", "vs default [95% CI]",
                   "reward_frac_mean", "greedy_train_acc", "greedy_heldout_acc"]
        lines += [f"## Configurations, ranked by {PRIMARY}", "",
                  "`tied`: not decisively below the best; `vs default`: paired difference to the seed's default with"
                  " the same other fields (`better`/`worse` where decisive); `reward_frac` compares only within one"
                  " reward function. All columns: `configurations.csv`.", "",
                  markdown_table(shown[columns]), ""]
    if len(tables.effects):
        lines += [f"## Main effects on {PRIMARY}", "", markdown_table(tables.effects[
            ["factor", "level", "reference", "cells", "difference", "low", "high", "p_holm", "decisive",
             "difference_half_a", "difference_half_b", "consistent"]]), ""]
    if len(tables.interactions):
        decisive = tables.interactions[tables.interactions.decisive]
        lines += [f"## Two-way interactions on {PRIMARY}", "",
                  f"{len(decisive)} decisive of {len(tables.interactions)}; all in `interactions.csv`."
                  + (" The decisive ones:" if len(decisive) else ""), ""]
        if len(decisive):
            lines += [markdown_table(decisive[["factor", "level", "factor_b", "level_b", "difference", "low", "high",
                                               "p_holm", "consistent"]]), ""]
    if len(tables.within_reward):
        lines += ["## reward_frac within each reward function", "", markdown_table(tables.within_reward), ""]
    if len(tables.fits):
        lines += ["## Learning-speed fits: R(s) = R0 + (A − R0) / (1 + (s_mid / s)^B) (ScaleRL)", "",
                  f"Fitted to each configuration's {PRIMARY_SOURCE} curve (seed mean per epoch, s = epoch + 1),"
                  " weighted by its seed-to-seed standard error. A fit fails when a parameter sits at the bound of its"
                  " search range, the asymptote leaves [0, 1], the curve is flat (no better than a constant given the"
                  " noise), the midpoint lies outside the observed epochs, or the residuals exceed twice the noise.",
                  "", markdown_table(tables.fits), "",
                  (f"Slope of held-out {PRIMARY} over the evaluated epochs of the last third of training"
                   if tables.regime is not None else f"Final-window slope of {PRIMARY}")
                  + f" per {SLOPE_EPOCHS} epochs, per level of each axis (least squares per"
                  " run, averaged over the level's configurations per seed, 95% bootstrap interval over seeds); a level"
                  " whose interval lies above 0 is still improving when training stops:", "",
                  markdown_table(tables.slopes, digits=4), ""]
    return lines


def _headline_section(tables: Tables) -> list[str]:
    """rliable's view of the headline contrasts (grpo.report.grid._headline): IQM difference and
    probability of improvement beside the mean difference; the performance profile's figure."""
    headline = tables.headline
    if headline is None or not len(headline):
        return []
    shown = pd.DataFrame({
        "contrast": headline.contrast, "pairs": headline.pairs,
        "mean difference": headline.mean_difference.map(lambda value: f"{value:+.3f}"),
        "IQM difference [95% CI]": [interval(r.iqm_difference, r.iqm_low, r.iqm_high) for r in headline.itertuples()],
        "P(improvement) [95% CI]": [f"{r.poi:.2f} [{r.poi_low:.2f}, {r.poi_high:.2f}]" for r in headline.itertuples()]})
    return ["## The headline contrasts in rliable's terms (Agarwal et al. 2021)", "",
            f"Beside each mean difference of {PRIMARY}: the difference of interquartile means (IQM: the mean of the"
            " middle 50% of runs, robust to a few outlying seeds) with a paired stratified bootstrap interval (both"
            f" sides resampled on the same seeds, {RESAMPLES:,} resamples), and the probability of improvement"
            " P(X > Y) + P(X = Y)/2 that a run of the first arm beats a run of the second (0.5: no edge), with a"
            " bootstrap interval over seeds. An effect's runs are its per-seed averages over the cells of the other"
            " axes. `performance_profile.png` draws the fraction of runs above each success threshold for the best"
            " configuration, those tied with it and the seed's default; all numbers: `headline.csv`.", "",
            markdown_table(shown), ""]
