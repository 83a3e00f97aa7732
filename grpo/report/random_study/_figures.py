"""A random study's figures, one panel per choice as in Andrychowicz et al. 2021: which figures
its tables call for (`draw_figures`) and the plotting of each."""

import math

import numpy as np
import pandas as pd

from grpo.report._plot import COLOURS, ax_or_new, new_figure, palette, seaborn_style
from grpo.report.random_study._compute import WideTables, level_order, text_of


def draw_figures(tables: WideTables) -> dict:

    levels = {name: rows for name, rows in tables.levels.groupby("choice", sort=False)}
    scores = {name: {text_of(level): tables.table.success[tables.table[f"{name}:level"] == level].to_numpy()
                     for level in level_order(choice) if (tables.table[f"{name}:level"] == level).any()}
              for name, choice in tables.choices.items()}
    pictures = {
        "percentiles.png": choice_grid(levels, percentile_panel, "conditional 95th percentile of success"
                                               " per value (binomial 95% interval)", sharex=True),
        "top_share.png": choice_grid(levels, share_panel, f"share of the top 5% ({tables.top_count} configurations,"
                                             f" success ≥ {tables.top_threshold:.3f}; a selection)"
                                             " against the share of the samples, Clopper-Pearson 95%", sharex=True),
        "distributions.png": choice_grid(scores, distribution_panel, "distribution of success per value",
                                                 sharex=True),
        "importance.png": importance(tables.importance, tables.interactions),
    }
    curves = {name: (pd.DataFrame({"x": tables.table[name], "success": tables.table.success}).dropna(), curve)
              for name, curve in tables.curves.groupby("choice", sort=False)}
    if curves:
        pictures["sensitivity.png"] = choice_grid(
            curves, lambda data, ax: value_panel(data[0], data[1], ax=ax),
            "success against the value (configurations where it applies; Gaussian smoother, 95% bootstrap band)", cols=3)
    return pictures


def choice_grid(panels: dict, draw, title: str, cols: int = 4, width: float = 3.6, height: float = 2.9,
                sharex: bool = False):
    """panels: choice -> its data; draw(data, ax) fills one panel. One panel per choice, `cols` a row;
    `sharex`: one x scale for every panel (a quantity that compares across choices)."""
    rows = max(1, math.ceil(len(panels) / cols))
    figure, axes = new_figure(rows, min(cols, max(1, len(panels))), width, height, sharex="all" if sharex else False)
    for ax, (name, data) in zip(axes.flat, panels.items()):
        with seaborn_style():
            draw(data, ax)
        ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    figure.suptitle(title)
    return figure


def percentile_panel(rows, ax=None):
    """rows: one choice's levels (level, n, p95, p95_low, p95_high): each level's conditional 95th
    percentile of success with its binomial interval, levels top to bottom."""
    figure, ax = ax_or_new(ax, 4, 3)
    y = np.arange(len(rows))[::-1]
    ax.errorbar(rows.p95, y, xerr=[rows.p95 - rows.p95_low, rows.p95_high - rows.p95], fmt="o", color=COLOURS[0],
                capsize=3, markersize=4)
    ax.set_yticks(y, [f"{level} (n={n})" for level, n in zip(rows.level, rows.n)], fontsize=7)
    ax.set_xlabel("95th percentile of success", fontsize=8)
    ax.set_xlim(left=0)
    return figure


def share_panel(rows, ax=None):
    """rows: one choice's levels (level, sample_share, top_share, top_low, top_high): the share of
    the top configurations (with its interval) against the share of the samples."""
    figure, ax = ax_or_new(ax, 4, 3)
    y = np.arange(len(rows))[::-1]
    ax.barh(y + 0.2, rows.sample_share, height=0.4, color=COLOURS[7], label="samples")
    ax.barh(y - 0.2, rows.top_share, height=0.4, color=COLOURS[1], label="top 5%",
            xerr=[rows.top_share - rows.top_low, rows.top_high - rows.top_share], error_kw={"capsize": 2, "linewidth": 0.8})
    ax.set_yticks(y, [str(level) for level in rows.level], fontsize=7)
    ax.set_xlabel("share", fontsize=8)
    ax.legend(fontsize=7)
    return figure


def distribution_panel(scores: dict, ax=None):
    """scores: level -> success of each configuration with it: the fraction of configurations with
    success at least x (one line per level)."""
    figure, ax = ax_or_new(ax, 4, 3)
    colours = palette(scores)
    for level, values in scores.items():
        x = np.sort(np.asarray(values, dtype=float))
        ax.step(x, 1 - np.arange(len(x)) / len(x), where="post", color=colours[level], label=str(level), linewidth=1.3)
    ax.set(xlabel="success", ylabel="fraction of configurations ≥ x", ylim=(0, 1.02))
    ax.xaxis.label.set_fontsize(8)
    ax.yaxis.label.set_fontsize(8)
    ax.legend(fontsize=6)
    return figure


def value_panel(points, curve, ax=None):
    """points: (x, success) of each configuration where a continuous choice applies; curve: (x, mean,
    low, high, log) its smoother with 95% band."""
    figure, ax = ax_or_new(ax, 4, 3)
    ax.scatter(points.x, points.success, s=4, alpha=0.25, color=COLOURS[7], linewidths=0)
    ax.plot(curve.x, curve["mean"], color=COLOURS[0], linewidth=1.8)
    ax.fill_between(curve.x, curve.low, curve.high, color=COLOURS[0], alpha=0.25, linewidth=0)
    if bool(curve.log.iloc[0]):
        ax.set_xscale("log")
    ax.set(xlabel="value", ylabel="success")
    return figure


def importance_panel(rows, column: str, label: str, ax=None):
    """rows: (choice, <column>, <column>_low, <column>_high), top first: a point and interval per choice
    (a bootstrap interval need not hold its estimate: drawn as a line, the estimate as a dot)."""
    figure, ax = ax_or_new(ax, 5, 0.35 * len(rows) + 1)
    y = np.arange(len(rows))[::-1]
    ax.hlines(y, rows[f"{column}_low"], rows[f"{column}_high"], color=COLOURS[0], linewidth=1.6)
    ax.plot(rows[column], y, "o", color=COLOURS[0], markersize=4)
    ax.set_yticks(y, rows.choice, fontsize=8)
    ax.set_xlabel(label, fontsize=8)
    return figure


def importance(rows, interactions):
    """Three panels: PED-ANOVA importance, eta squared (both with bootstrap intervals), and the
    strongest pairwise interactions."""
    figure, axes = new_figure(1, 3, 4.6, 0.3 * len(rows) + 1.4)
    with seaborn_style():
        importance_panel(rows, "ped_anova_share", "share of PED-ANOVA importance (top 5%)", axes[0, 0])
        importance_panel(rows, "eta2", "share of variance (eta²)", axes[0, 1])
        pairs = interactions.rename(columns={"pair": "choice", "share": "interaction", "low": "interaction_low",
                                             "high": "interaction_high"})
        importance_panel(pairs, "interaction", "interaction share beyond additive", axes[0, 2])
    figure.suptitle("which choices matter (95% bootstrap intervals over configurations)")
    return figure
