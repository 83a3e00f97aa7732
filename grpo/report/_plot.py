"""What every report's figures share (rliable's third layer): figures built with matplotlib's
object API (no pyplot state, no backend chosen at import) and seaborn's style inside each call,
so importing this module changes nothing; one colour per level, by position; the PNG writer.
Each report kind's plotting lives beside its kind (grid, random_study, claims, bench): functions
that take tidy, already aggregated data (intervals included) and return the figure, single-panel
ones also taking an optional `ax` to draw into.
"""

from contextlib import contextmanager

import seaborn as sns
from matplotlib.figure import Figure

from grpo.report._names import level_name

COLOURS = sns.color_palette("tab10")


@contextmanager
def seaborn_style():
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def new_figure(rows: int, cols: int, width: float, height: float, **kwargs):
    with seaborn_style():
        figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
        return figure, figure.subplots(rows, cols, squeeze=False, **kwargs)


def ax_or_new(ax, width: float = 6, height: float = 4):
    if ax is not None:
        return ax.figure, ax
    figure, axes = new_figure(1, 1, width, height)
    return figure, axes[0, 0]


def palette(levels) -> dict:
    """level -> colour, by position: one colour per level."""
    return {level: COLOURS[i % len(COLOURS)] for i, level in enumerate(dict.fromkeys(levels))}


def level_panel(curves, ylabel: str, ax=None, log: bool = False, levels=None):
    """curves: one factor's levels, rows (level, epoch, mean, low, high); one line per level
    with its 95% band. `levels`: the factor's levels in order (their colours), default the data's."""
    figure, ax = ax_or_new(ax)
    colours = palette(curves.level if levels is None else levels)
    for level, line in curves.groupby("level", sort=False):
        ax.plot(line.epoch, line["mean"], color=colours[level], label=level_name('', level), linewidth=1.6)
        ax.fill_between(line.epoch, line.low, line.high, color=colours[level], alpha=0.2, linewidth=0)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel=ylabel)
    ax.legend(fontsize=8, frameon=True)
    return figure


def save(figure, path) -> None:
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
