"""Render reports/<grid>/ from results/<grid>/ alone: figures, tables and report.md.

Never retrains. Deterministic: the same parquet gives the same tables and text (every
resampling uses a fixed seed).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from grpo import figures
from grpo.config import CONFIG_FIELDS, TrainConfig
from grpo.fits import fit_curve
from grpo.io import check_writable_dir, write_atomic
from grpo.records import open_results, seed_default
from grpo.records import per_epoch as records_per_epoch
from grpo.stats import FINAL_FRACTION, bootstrap_interval, final_performance, probability_of_improvement, summarize

METRICS = ["reward_frac", "sorted_frac", "kl", "clip_frac", "greedy_train_acc", "greedy_heldout_acc"]
ROLES = ("reward_fn", "loss_mode", "deltas_mode", "kl_penalty")  # facet rows, columns, hue, style


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    def cell(value):
        if isinstance(value, float | np.floating):
            return "–" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def interval(row, key: str) -> str:
    return f"{row[key]:.3f} [{row[key + '_low']:.3f}, {row[key + '_high']:.3f}]"


def render_report(results_dir: Path, reports_root: Path) -> Path:
    results = open_results(results_dir)
    runs, grid_text = results.runs, results.grid_text
    out = reports_root / results.name
    check_writable_dir(out)

    configs = runs.drop_duplicates("config_id").set_index("config_id")[list(CONFIG_FIELDS)]
    axes = [name for name in CONFIG_FIELDS if configs[name].nunique() > 1]
    extra_axes = [name for name in axes if name not in ROLES]

    def label(config_id):
        config = configs.loc[config_id]
        return " / ".join(f"kl {config[name]:g}" if name == "kl_penalty" else f"{name}={config[name]}"
                          if name in extra_axes else str(config[name]) for name in axes) or config_id

    # Per (config, seed, epoch): the greedy metrics live on each epoch's last step, the mean skips nulls
    per_epoch = pd.concat([records_per_epoch(records) for _, records in results.iter_records([*METRICS, "epoch", "step", "diverged"])],
                          ignore_index=True).join(configs, on="config_id")
    per_epoch["hue"] = per_epoch.deltas_mode
    for name in extra_axes:  # axes without a role of their own join the hue label
        per_epoch["hue"] += f" {name}=" + per_epoch[name].astype(str)
    per_epoch["kl"] = per_epoch.kl_penalty
    per_epoch["label"] = per_epoch.config_id.map({cid: label(cid) for cid in configs.index})

    diverged = per_epoch.groupby(["config_id", "seed"]).diverged.any()
    healthy = per_epoch.join(~diverged.rename("healthy"), on=["config_id", "seed"])
    healthy = healthy[healthy.healthy]
    final = final_performance(healthy, "reward_frac")  # [(config_id, seed)]
    final_sorted = final_performance(healthy, "sorted_frac")

    # Per configuration: mean and IQM with intervals, probability of improvement over the seed default
    rows = []
    for config_id, scores in final.groupby(level="config_id"):
        config = configs.loc[config_id]
        default_id = seed_default(TrainConfig(**config.to_dict())).config_id
        baseline = final.get(default_id)
        rows.append({"config_id": config_id, "configuration": label(config_id), **summarize(scores.to_numpy()),
                     "sorted_frac": final_sorted.loc[config_id].mean(),
                     "P(better than default)": probability_of_improvement(scores, baseline)
                     if baseline is not None and default_id != config_id else float("nan"),
                     "is_default": default_id == config_id})
    table = pd.DataFrame(rows).sort_values(["iqm", "mean"], ascending=False).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))

    # Marginal effect of each axis: the runs at each level, averaged over every other axis
    effects = []
    for name in axes:
        levels = configs[name]
        for level in sorted(levels.unique()):
            scores = final[final.index.get_level_values("config_id").isin(levels.index[levels == level])].to_numpy()
            low, high = bootstrap_interval(scores, np.mean)
            effects.append({"factor": name, "level": level, "mean": scores.mean(), "low": low, "high": high})
    effects = pd.DataFrame(effects)
    spread = effects.groupby("factor")["mean"].agg(lambda m: m.max() - m.min()).sort_values(ascending=False)

    # Learning-speed fits on each configuration's seed-mean curve
    curves = healthy.groupby(["config_id", "epoch"]).reward_frac.mean()
    fit_rows = []
    for config_id in table.config_id:
        curve = curves.loc[config_id]
        fit = fit_curve(curve.index.to_numpy() + 1, curve.to_numpy())
        fit_rows.append({"configuration": label(config_id), "A (asymptote)": fit.asymptote, "B (efficiency)": fit.efficiency,
                         "s_mid (epoch)": fit.midpoint, "R²": fit.r2, "failed": fit.failed or ""})
    fits = pd.DataFrame(fit_rows)

    # Figures
    finals = table.join(configs, on="config_id").assign(kl=lambda f: f.kl_penalty)
    last = healthy[healthy.epoch > healthy.groupby("config_id").epoch.transform("max") - 10]
    greedy = last.groupby("config_id")[["greedy_train_acc", "greedy_heldout_acc"]].mean()
    finals = finals.join(greedy, on="config_id").join(per_epoch.groupby("config_id").hue.first(), on="config_id")
    pictures = {
        "learning_curves_reward_frac.png": figures.learning_curves(healthy, "reward_frac", "reward_frac"),
        "learning_curves_sorted_frac.png": figures.learning_curves(healthy, "sorted_frac", "sorted_frac"),
        "final_heatmaps.png": figures.final_heatmaps(finals, "reward_frac"),
        "marginal_effects.png": figures.marginal_effects(effects, "reward_frac"),
        "generalisation.png": figures.generalisation(finals),
    }
    if (healthy.kl_penalty > 0).any():
        pictures["kl_curves.png"] = figures.learning_curves(healthy[healthy.kl_penalty > 0], "kl", "KL to the reference",
                                                              "where KL is on")
    if (healthy.clip_frac > 0).any():
        clipping = healthy[healthy.groupby("config_id").clip_frac.transform("max") > 0]
        pictures["clip_fraction_curves.png"] = figures.learning_curves(clipping, "clip_frac", "fraction of tokens clipped",
                                                                         "where clipping happens")
    for name, figure in pictures.items():
        write_atomic(out / name, lambda tmp, figure=figure: figures.save(figure, tmp))

    # Tables and the narrative
    status = runs.groupby("status").size().rename("runs").reset_index()
    unhealthy = runs[runs.status != "ok"]
    results_table = table.assign(
        **{"mean [95% CI]": table.apply(interval, axis=1, key="mean"),
           "IQM [95% CI]": table.apply(interval, axis=1, key="iqm")}
    )[["rank", "configuration", "runs", "mean [95% CI]", "IQM [95% CI]", "sorted_frac", "P(better than default)"]]
    write_atomic(out / "configurations.csv", lambda tmp: table.to_csv(tmp, index=False))
    write_atomic(out / "fits.csv", lambda tmp: fits.to_csv(tmp, index=False))
    text = narrative(results.name, runs, grid_text, table, spread, effects, fits, status, unhealthy, results_table,
                     list(pictures))
    write_atomic(out / "report.md", lambda tmp: tmp.write_text(text))
    return out


def narrative(grid, runs, grid_text, table, spread, effects, fits, status, unhealthy, results_table, pictures) -> str:
    seeds = runs.seed.nunique()
    commits = ", ".join(sorted(runs.git_commit.dropna().astype(str).str[:10].unique())) if "git_commit" in runs else "?"
    best = table.iloc[0]
    lines = [
        f"# Ablation report: `{grid}`",
        "",
        f"{len(table)} configurations × {seeds} seeds = {len(runs)} runs (status: "
        + ", ".join(f"{row.runs} {row.status}" for row in status.itertuples()) + f"). Code: commit {commits}.",
        "",
        f"**Final performance** of a run is its mean `reward_frac` (reward / best attainable reward) over the"
        f" last {FINAL_FRACTION:.0%} of its epochs. Intervals are 95% percentile-bootstrap intervals over seeds"
        " (2000 resamples, fixed seed); IQM is the interquartile mean (Agarwal et al. 2021). P(better than"
        " default) is the probability that a run of the configuration ends above a run of the seed's default"
        " (naive loss, raw `rewards` deltas, KL 0, same reward function).",
        "",
        "## Findings",
        "",
        f"1. **Best configuration**: {best.configuration}: IQM {interval(best, 'iqm')},"
        f" mean {interval(best, 'mean')}.",
    ]
    top = spread.index[0]
    levels = effects[effects.factor == top].sort_values("mean", ascending=False)
    lines.append(
        f"2. **The factor that matters most is `{top}`** (spread of its marginal means {spread.iloc[0]:.3f}):"
        + "; ".join(f" {row.level} {row.mean:.3f} [{row.low:.3f}, {row.high:.3f}]" for row in levels.itertuples())
        + ". Factors by spread: " + ", ".join(f"`{name}` {value:.3f}" for name, value in spread.items()) + ".")
    defaults = table[table.is_default]
    if len(defaults):
        ranks = "; ".join(f"{row.configuration} ranks {row['rank']} of {len(table)}, IQM {interval(row, 'iqm')}"
                          for _, row in defaults.iterrows())
        beaten = table["P(better than default)"].gt(0.5).sum()
        lines.append(f"3. **The seed's default choices**: {ranks}. {beaten} configurations beat their default"
                     " with probability of improvement > 0.5.")
    failed_fits = (fits.failed != "").sum()
    lines += [f"4. Learning-speed fits: {len(fits) - failed_fits} of {len(fits)} converged (table below).", ""]
    if len(unhealthy):
        lines += ["## Runs that did not finish cleanly", "",
                  "Diverged runs (NaN or infinite metrics) and failed runs are left out of the statistics:", "",
                  markdown_table(unhealthy[[c for c in ("config_id", "seed", "status", "diverged_step", "error")
                                            if c in unhealthy]]), ""]
    lines += ["## Figures", ""]
    lines += [f"![{name}]({name})\n" for name in pictures]
    lines += ["## Configurations, ranked by IQM of final reward_frac", "", markdown_table(results_table), "",
              "## Marginal effects (final reward_frac, averaged over the other factors)", "",
              markdown_table(effects.rename(columns={"low": "95% low", "high": "95% high"})), "",
              "## Learning-speed fits: R(s) = R0 + (A − R0) / (1 + (s_mid / s)^B) (ScaleRL)", "",
              markdown_table(fits), ""]
    if grid_text:
        lines += ["## Grid", "", "```toml", grid_text.strip(), "```", ""]
    return "\n".join(lines)
