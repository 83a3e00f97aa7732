"""The bench report's figure: time per seed-step against the seeds stacked in one model."""

import seaborn as sns

from grpo.report._plot import ax_or_new, seaborn_style


def scaling(per_seed_step, ax=None):
    """per_seed_step: seeds, implementation (a curve: grpo, the baseline, the floor), µs per seed-step."""
    figure, ax = ax_or_new(ax, width=9, height=4.5)
    with seaborn_style():
        sns.lineplot(data=per_seed_step, x="seeds", y="µs per seed-step", hue="implementation", marker="o", ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="seeds stacked in one model (S)", title="time per seed-step")
    ax.legend(title=None, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: the curves cross the whole plot
    return figure
