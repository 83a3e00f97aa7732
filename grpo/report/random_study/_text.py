"""A random study's report.md: which choices matter, each value's percentile and top share, the
agreement with the `full` grid's findings, the figures and the study's grid file."""

from pathlib import Path

from grpo.report._markdown import markdown_table
from grpo.report.random_study._compute import IMPORTANCE_RESAMPLES, INTERACTION_RESAMPLES, KIND, WideTables


def narrative(tables: WideTables, pictures: list[str], full: Path | None) -> str:
    c = tables.completeness
    space = ", ".join(tables.choices)
    lines = [f"# {tables.grid}: a {KIND}", "",
             f"Kind: **{KIND}** (grpo.experiment.random_study): {tables.samples} configurations drawn at random from"
             f" {len(tables.choices)} choices ({space}), each trained on seeds {_seeds(tables.seeds)}; commit"
             f" {tables.commit}. Complete: {c.complete} of {c.configurations} configurations"
             f" ({len(c.missing)} missing, {len(c.failed)} failed). A configuration's score is its mean final success over"
             " its seeds (a diverged run counts 0); every statistic below is over configurations, so a value's"
             " conditional numbers average over (and depend on) the distributions of all the other choices."
             f" Success here: median {tables.table.success.median():.3f}, {(tables.table.success == 0).mean():.0%} of the"
             f" configurations at 0, {tables.table.success.nunique()} distinct values (3 prompts, few responses and a"
             " short final window make it coarse).", ""]
    importance = tables.importance
    lines += ["## Which choices matter", "",
              "PED-ANOVA (Watanabe et al. 2023, Optuna's `PedAnovaImportanceEvaluator`): how far the distribution of a"
              " choice among the top 5% departs from its distribution over all samples (0: the top looks like the"
              " samples); eta² is the share of the variance of success its levels explain (adjusted for their count). Both with 95%"
              " bootstrap"
              f" intervals over configurations ({IMPORTANCE_RESAMPLES} and {INTERACTION_RESAMPLES} resamples). A choice that"
              " does not apply to a configuration (epsilon under a loss that does not clip) counts there with the value"
              " drawn for it, which is noise: its importance is diluted by how often it applies. PED-ANOVA smooths a"
              " range on a fine grid and a list over its few values, so the two kinds are not on one scale; eta² bins a"
              " range into a few levels: where the two rankings differ, read both. An estimate near an end of its"
              " interval shows the percentile bootstrap's bias for that statistic (resampling repeats configurations).",
              "",
              "`ped_anova_share`: the choice's PED-ANOVA over the sum of all choices' (the raw divergences, scaled by"
              " 0.05² as Optuna defines them, are in importance.csv).", "",
              markdown_table(importance[["rank", "choice", "ped_anova_share", "ped_anova_share_low", "ped_anova_share_high",
                                         "eta2", "eta2_low", "eta2_high"]]), ""]
    lines += ["Strongest pairwise interactions (share of the variance that the pair's cells explain beyond both"
              " choices' additive effects; ranges binned as in the tables; the pairs were picked as the largest, so the"
              " first interval is optimistic):", "", markdown_table(tables.interactions), ""]
    lines += ["## Each value: how good it can get, and how often it is in the top", "",
              f"`p95`: the 95th percentile of success among the configurations with that value, with its distribution-free"
              f" binomial interval (`coverage`: the interval's exact coverage; below 0.95 where the value has few"
              f" configurations). The top 5% are the {tables.top_count} configurations of highest success (≥"
              f" {tables.top_threshold:.3f}; {tables.tied[0]} of the {tables.tied[1]} configurations tied at that value, taken"
              " in a seeded random order). The top is a selection: a value is *recommended* when its"
              " share of the top exceeds its share of the samples with the Clopper-Pearson interval above it"
              " (over-represented); nothing here estimates how well the selected configurations would do again.", ""]
    levels = tables.levels.rename(columns={"sample_share": "samples", "top_share": "top share"})
    lines += [markdown_table(levels[["choice", "level", "n", "p95", "p95_low", "p95_high", "coverage", "samples", "top_n",
                                     "top share", "top_low", "top_high", "top"]]), ""]
    lines += ["Recommended values (over-represented in the top 5%):", ""]
    for name in tables.choices:
        mine = tables.levels[tables.levels.choice == name]
        good = mine[mine.top == "over-represented"]
        best = mine.loc[mine.p95.idxmax()] if len(mine) else None
        said = ", ".join(f"{row.level} ({row.top_share:.2f} [{row.top_low:.2f}, {row.top_high:.2f}] of the top vs"
                         f" {row.sample_share:.2f} of the samples)" for row in good.itertuples()) or "none decisively"
        lines.append(f"- **{name}**: {said}; highest p95: {best.level} ({best.p95:.3f} [{best.p95_low:.3f}, {best.p95_high:.3f}])"
                     if best is not None else f"- **{name}**: no configuration")
    lines += ["", "## Against the `full` grid's findings", ""]
    if full is None:
        lines += ["No reports/full/effects.csv beside this report: nothing to compare.", ""]
    else:
        lines += ["The `full` grid (reports/full/effects.csv: paired contrasts over 100 seeds at the seed's fixed values,"
                  " 100 epochs x 10 steps) against the values recommended here (its level of a range is the bin that holds"
                  " it). The two answer different questions: `full` holds everything else at the seed's values (on the seed"
                  " policy); here every"
                  " other choice varies, and training is as long as this study's `epochs`.", "",
                  markdown_table(tables.agreement), ""]
    lines += ["## Figures", ""] + [f"![{name}]({name})" for name in pictures] + [""]
    lines += ["## Configuration", "", "```toml", tables.grid_text.strip(), "```", ""]
    return "\n".join(lines)


def _seeds(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))
