"""Report figures (seaborn). Plotting only: every function takes tidy data already
aggregated by grpo.report and returns the matplotlib figure.

Roles of the grid's axes: rows = reward function, columns = loss mode, hue = deltas mode,
style = KL coefficient; any other axis that varies joins the hue label (see grpo.report).
Bands are 95% normal intervals of the mean across seeds (mean ± 1.96 standard errors).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

BAND = ("se", 1.96)  # 95% interval of the mean across seeds
sns.set_theme(style="whitegrid", context="notebook")


def learning_curves(per_epoch, metric: str, label: str, title: str = "mean over seeds, 95% band"):
    """per_epoch: one row per (config, seed, epoch) with reward_fn, loss_mode, hue, kl columns."""
    grid = sns.relplot(data=per_epoch, x="epoch", y=metric, hue="hue", style="kl", row="reward_fn", col="loss_mode",
                       kind="line", errorbar=BAND, height=3.2, aspect=1.3, facet_kws={"margin_titles": True})
    grid.set_axis_labels("epoch", label)
    grid.legend.set_title("deltas / KL")
    grid.figure.suptitle(f"{label} during training ({title})", y=1.02)
    return grid.figure


def final_heatmaps(finals, label: str):
    """finals: one row per configuration with reward_fn, kl, deltas_mode, loss_mode and `mean`."""
    rewards, kls = sorted(finals.reward_fn.unique()), sorted(finals.kl.unique())
    figure, axes = plt.subplots(len(rewards), len(kls), figsize=(4.2 * len(kls), 3.4 * len(rewards)), squeeze=False)
    low, high = finals["mean"].min(), finals["mean"].max()
    for i, reward in enumerate(rewards):
        for j, kl in enumerate(kls):
            cell = finals[(finals.reward_fn == reward) & (finals.kl == kl)]
            table = cell.pivot_table(index="deltas_mode", columns="loss_mode", values="mean")
            sns.heatmap(table, annot=True, fmt=".2f", vmin=low, vmax=high, cmap="viridis", cbar=False, ax=axes[i, j])
            axes[i, j].set_title(f"{reward}, KL {kl}", fontsize=10)
    figure.suptitle(f"final {label} (mean over seeds)")
    figure.tight_layout()
    return figure


def marginal_effects(effects, label: str):
    """effects: one row per (factor, level) with mean, low, high of final performance."""
    factors = list(dict.fromkeys(effects.factor))
    figure, axes = plt.subplots(1, len(factors), figsize=(3.6 * len(factors), 3.6), sharey=True, squeeze=False)
    for ax, factor in zip(axes[0], factors):
        rows = effects[effects.factor == factor]
        ax.errorbar(range(len(rows)), rows["mean"], yerr=[rows["mean"] - rows.low, rows.high - rows["mean"]],
                    fmt="o", capsize=4)
        ax.set_xticks(range(len(rows)), rows.level.astype(str), rotation=30, ha="right")
        ax.set_title(factor)
    axes[0, 0].set_ylabel(f"final {label}")
    figure.suptitle(f"marginal effect of each factor on final {label} (averaged over the others, 95% CI)")
    figure.tight_layout()
    return figure


def generalisation(finals):
    """finals: one row per configuration with greedy_train_acc, greedy_heldout_acc, hue, loss_mode."""
    figure, ax = plt.subplots(figsize=(6.5, 5))
    sns.scatterplot(data=finals, x="greedy_train_acc", y="greedy_heldout_acc", hue="hue", style="loss_mode", ax=ax, s=60)
    top = max(finals.greedy_train_acc.max(), finals.greedy_heldout_acc.max(), 0.05)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="held-out = train")
    ax.set(xlabel="greedy accuracy on training prompts", ylabel="greedy accuracy on held-out prompts",
           title="final greedy accuracy: train vs held-out (per configuration)")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    figure.tight_layout()
    return figure


def save(figure, path) -> None:
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)


def scaling(per_seed_step):
    """per_seed_step: seeds, implementation, µs per seed-step."""
    figure, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=per_seed_step, x="seeds", y="µs per seed-step", hue="implementation", marker="o", ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="seeds stacked (S)", title="time per seed-step of one inner step")
    figure.tight_layout()
    return figure
