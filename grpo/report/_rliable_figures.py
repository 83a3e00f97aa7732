"""rliable's figure: the performance profile (score distribution) of a few configurations, each
with its 95% stratified bootstrap band (the numbers: grpo.report._rliable.performance_profile)."""

from matplotlib.figure import Figure

from grpo.report._plot import ax_or_new, palette


def performance_profile_figure(profiles, score: str, ax=None) -> Figure:
    """profiles: rows (configuration, threshold, fraction, low, high), one profile per configuration
    in order; `score`: the name of the score on the x axis. One step line per configuration, its band
    shaded; returns the figure (the one `ax` belongs to, when given)."""
    figure, ax = ax_or_new(ax, width=7, height=4.5)
    colours = palette(profiles.configuration)
    for name, line in profiles.groupby("configuration", sort=False):
        ax.step(line.threshold, line.fraction, where="post", color=colours[name], label=name, linewidth=1.6)
        ax.fill_between(line.threshold, line.low, line.high, step="post", color=colours[name], alpha=0.2, linewidth=0)
    reached = profiles.threshold[profiles.high > 0]  # beyond the highest score every profile is 0
    right = min(1.0, float(reached.max()) + 0.05) if len(reached) else 1.0
    ax.set(xlim=(0, right), xlabel=f"{score} threshold τ", ylabel=f"fraction of runs with {score} > τ", ylim=(-0.02, 1.02),
           title="Performance profiles (rliable's score distribution), 95% stratified bootstrap bands")
    ax.legend(fontsize=8, frameon=True)
    return figure
