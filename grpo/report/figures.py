"""Report figures: plotting only (rliable's third layer). Every function takes tidy data that
grpo.report_compute already aggregated (intervals included) and returns the matplotlib figure;
single-panel functions also take an optional `ax` to draw into.

Figures are built with matplotlib's object API (no pyplot state, no backend chosen at import)
and seaborn's style inside each call, so importing this module changes nothing. Levels keep the
order they have in the data (the seed document's order); each level of an axis has one colour
in every figure.
"""

import math
from contextlib import contextmanager

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from grpo.report.names import level_name

COLOURS = sns.color_palette("tab10")


@contextmanager
def _style():
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def _figure(rows: int, cols: int, width: float, height: float, **kwargs):
    with _style():
        figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
        return figure, figure.subplots(rows, cols, squeeze=False, **kwargs)


def _ax_or_new(ax, width: float = 6, height: float = 4):
    if ax is not None:
        return ax.figure, ax
    figure, axes = _figure(1, 1, width, height)
    return figure, axes[0, 0]


def palette(levels) -> dict:
    """level -> colour, by position: one colour per level."""
    return {level: COLOURS[i % len(COLOURS)] for i, level in enumerate(dict.fromkeys(levels))}


def level_panel(curves, ylabel: str, ax=None, log: bool = False, levels=None):
    """curves: one factor's levels, rows (level, epoch, mean, low, high); one line per level
    with its 95% band. `levels`: the factor's levels in order (their colours), default the data's."""
    figure, ax = _ax_or_new(ax)
    colours = palette(curves.level if levels is None else levels)
    for level, line in curves.groupby("level", sort=False):
        ax.plot(line.epoch, line["mean"], color=colours[level], label=level_name('', level), linewidth=1.6)
        ax.fill_between(line.epoch, line.low, line.high, color=colours[level], alpha=0.2, linewidth=0)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel=ylabel)
    ax.legend(fontsize=8, frameon=True)
    return figure


def level_curves(curves, ylabel: str, title: str, log: bool = False, levels: dict | None = None):
    """curves: rows (factor, level, epoch, mean, low, high[, reward_fn]): one panel per factor
    (one row of panels per reward function when `reward_fn` is given). levels: factor -> its
    levels in order, so a level has the same colour in every figure."""
    factors = list(dict.fromkeys(curves.factor))
    groups = list(dict.fromkeys(curves.reward_fn)) if "reward_fn" in curves else [None]
    figure, axes = _figure(len(groups), len(factors), 4.2, 3.3, sharey="row" if not log else False)
    for i, group in enumerate(groups):
        rows = curves if group is None else curves[curves.reward_fn == group]
        for j, factor in enumerate(factors):
            with _style():
                level_panel(rows[rows.factor == factor], ylabel if j == 0 else "", axes[i, j], log,
                            (levels or {}).get(factor))
            axes[i, j].set_title(factor if group is None else f"{group}: {factor}", fontsize=10)
    figure.suptitle(title)
    return figure


def claim_panels(bands: list, title: str, draw=None):
    """A claim's figure: one panel per (curves, column, title) of `bands` (curves as
    `level_panel` takes them, one level per arm), then `draw(ax)`'s own panel if given."""
    figure, axes = _figure(1, len(bands) + (draw is not None), 4.6, 3.4)
    for ax, (curves, column, panel_title) in zip(axes[0], bands):
        with _style():
            level_panel(curves, column, ax)
        ax.set_title(panel_title, fontsize=10)
    if draw is not None:
        with _style():
            draw(axes[0, -1])
    figure.suptitle(title, fontsize=10)
    return figure


def effect_panel(curves, ax=None, levels=None):
    """curves: one factor's effects, rows (level, reference, epoch, mean, low, high): the paired
    difference of each level to the reference over training, 95% band; zero marked. `levels`:
    the factor's levels in order (their colours), default the data's."""
    figure, ax = _ax_or_new(ax)
    colours = palette(curves.level if levels is None else levels)
    for level, line in curves.groupby("level", sort=False):
        ax.plot(line.epoch, line["mean"], color=colours[level], label=f"{level_name('', level)}", linewidth=1.6)
        ax.fill_between(line.epoch, line.low, line.high, color=colours[level], alpha=0.2, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="epoch", ylabel=f"difference to {level_name('', curves.reference.iloc[0])}")
    ax.legend(fontsize=8)
    return figure


def effect_curves(curves, metric: str, levels: dict | None = None):
    """curves: rows (factor, level, reference, epoch, mean, low, high): one panel per factor;
    levels as in level_curves."""
    factors = list(dict.fromkeys(curves.factor))
    figure, axes = _figure(1, len(factors), 4.2, 3.3, sharey=True)
    for ax, factor in zip(axes[0], factors):
        with _style():
            effect_panel(curves[curves.factor == factor], ax, (levels or {}).get(factor))
        ax.set_title(f"{factor} (vs {level_name('', curves[curves.factor == factor].reference.iloc[0])})", fontsize=10)
    figure.suptitle(f"paired difference in {metric} to the seed's choice, averaged over the other axes (95% band)")
    return figure


def effects_forest(effects, metric: str, levels: dict | None = None):
    """effects: rows (factor, level, reference, difference, low, high, decisive): one panel per
    factor, one row per level; filled markers for decisive effects, hollow for the others;
    levels as in level_curves."""
    factors = list(dict.fromkeys(effects.factor))
    heights = [max(1, (effects.factor == f).sum()) for f in factors]
    with _style():
        figure = Figure(figsize=(6.5, 0.55 * sum(heights) + 1.2 * len(factors)), layout="constrained")
        axes = figure.subplots(len(factors), 1, squeeze=False, sharex=True, height_ratios=heights)[:, 0]
    for ax, factor in zip(axes, factors):
        rows = effects[effects.factor == factor].reset_index(drop=True)
        colours = palette((levels or {}).get(factor, rows.level))
        for i, row in rows.iterrows():
            colour = colours[row.level]
            ax.errorbar(row.difference, i, xerr=[[row.difference - row.low], [row.high - row.difference]], fmt="o",
                        color=colour, markerfacecolor=colour if row.decisive else "white", capsize=4, markersize=7)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [level_name('', level) for level in rows.level])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_title(f"{factor}: vs {level_name('', rows.reference.iloc[0])}", fontsize=10, loc="left")
    axes[-1].set_xlabel(f"difference in {metric} (paired, 95% interval; filled = decisive after Holm)")
    return figure


def sensitivity_panel(effects, ax=None, levels=None, own=None):
    """effects: one factor's main effects across one field's values, rows (value, level, reference,
    difference, low, high, decisive): effect against value, one line per level with 95% intervals
    (filled markers where decisive after Holm); `own`: the grid's own value, marked. `levels` as in
    level_panel."""
    figure, ax = _ax_or_new(ax)
    colours = palette(effects.level if levels is None else levels)
    for level, line in effects.groupby("level", sort=False):
        line = line.sort_values("value")
        colour = colours[level]
        ax.plot(line.value, line.difference, color=colour, linewidth=1.4, label=level_name('', level))
        for row in line.itertuples():
            ax.errorbar(row.value, row.difference, yerr=[[row.difference - row.low], [row.high - row.difference]],
                        fmt="o", color=colour, markerfacecolor=colour if row.decisive else "white", capsize=3)
    values = effects.value.astype(float)
    if (values > 0).all() and values.max() / values.min() >= 10:
        ax.set_xscale("log")
    ax.set_xticks(sorted(values.unique()), [level_name('', v) for v in sorted(values.unique())])
    ax.minorticks_off()
    ax.axhline(0, color="black", linewidth=0.8)
    if own is not None:
        ax.axvline(own, color="grey", linestyle="--", linewidth=1)
    ax.set(ylabel=f"difference to {level_name('', effects.reference.iloc[0])}")
    ax.legend(fontsize=8)
    return figure


def sensitivity(effects, field: str, own, metric: str, levels: dict | None = None):
    """effects: main effects across `field`'s values, rows (factor, value, level, reference,
    difference, low, high, decisive): one panel per factor (sensitivity_panel); `own`: the grid's
    own value of `field` (dashed); levels as in level_curves."""
    factors = list(dict.fromkeys(effects.factor))
    figure, axes = _figure(1, len(factors), 4.2, 3.4, sharey=True)
    for ax, factor in zip(axes[0], factors):
        with _style():
            sensitivity_panel(effects[effects.factor == factor], ax, (levels or {}).get(factor), own)
        ax.set_title(f"{factor} (vs {level_name('', effects[effects.factor == factor].reference.iloc[0])})", fontsize=10)
        ax.set_xlabel(field)
    figure.suptitle(f"effect on {metric} against {field} (paired, 95% interval; filled = decisive after Holm over"
                    f" effects × cells; dashed: the grid's own {field})")
    return figure


def heatmap_panel(cells, ax, vmin: float, vmax: float):
    """cells: a table (rows x columns of levels) of values; `marked` cells (a boolean table of
    the same shape in cells.attrs['marked']) get a star."""
    marked = cells.attrs.get("marked")
    text = cells.map(lambda v: "" if np.isnan(v) else f"{v:.2f}")
    if marked is not None:
        text = text + marked.map(lambda m: "*" if m else "")
    sns.heatmap(cells, annot=text, fmt="", vmin=vmin, vmax=vmax, cmap="viridis", cbar=False, ax=ax,
                annot_kws={"fontsize": 8})
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    return ax.figure


def heatmaps(panels: dict, cols: int, title: str, colour_label: str):
    """panels: panel title -> cell table (see heatmap_panel), laid out `cols` to a row, one
    shared colour bar."""
    cols = max(1, min(cols, len(panels)))
    rows = int(np.ceil(len(panels) / cols))
    first = next(iter(panels.values()))
    figure, axes = _figure(rows, cols, 1.0 * first.shape[1] + 2.6, 0.45 * first.shape[0] + 1.6)
    values = np.concatenate([cells.to_numpy(dtype=float).ravel() for cells in panels.values()])
    vmin, vmax = np.nanmin(values), np.nanmax(values)
    for ax, (name, cells) in zip(axes.ravel(), panels.items()):
        with _style():
            heatmap_panel(cells, ax, vmin, vmax)
        ax.set_title(name, fontsize=10)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    mappable = axes.ravel()[0].collections[0]
    figure.colorbar(mappable, ax=axes.ravel().tolist(), label=colour_label, shrink=0.8)
    figure.suptitle(title)
    return figure


def generalisation(points, hue: str | None, style: str | None, ax=None):
    """points: one row per configuration with greedy_train_acc, greedy_heldout_acc and the
    `hue` / `style` axis columns; the diagonal is held-out = train."""
    figure, ax = _ax_or_new(ax, 7.5, 5)
    with _style():
        sns.scatterplot(data=points, x="greedy_train_acc", y="greedy_heldout_acc", ax=ax, s=50,
                        hue=hue, hue_order=list(dict.fromkeys(points[hue])) if hue else None,
                        style=style, style_order=list(dict.fromkeys(points[style])) if style else None)
    top = max(points.greedy_train_acc.max(), points.greedy_heldout_acc.max(), 0.05)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="held-out = train")
    ax.set(xlabel="greedy accuracy on training prompts", ylabel="greedy accuracy on held-out prompts",
           title="final greedy accuracy per configuration")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return figure


def scaling(per_seed_step, ax=None):
    """per_seed_step: seeds, implementation (a curve: grpo, the baseline, the floor), µs per seed-step."""
    figure, ax = _ax_or_new(ax, width=7, height=4.5)
    with _style():
        sns.lineplot(data=per_seed_step, x="seeds", y="µs per seed-step", hue="implementation", marker="o", ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="seeds stacked in one model (S)", title="time per seed-step")
    ax.legend(title=None)
    return figure


def save(figure, path) -> None:
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})


# ---- random studies (grpo.report.wide): one panel per choice, as Andrychowicz et al. 2021 ----

def choice_grid(panels: dict, draw, title: str, cols: int = 4, width: float = 3.6, height: float = 2.9,
                sharex: bool = False):
    """panels: choice -> its data; draw(data, ax) fills one panel. One panel per choice, `cols` a row;
    `sharex`: one x scale for every panel (a quantity that compares across choices)."""
    rows = max(1, math.ceil(len(panels) / cols))
    figure, axes = _figure(rows, min(cols, max(1, len(panels))), width, height, sharex="all" if sharex else False)
    for ax, (name, data) in zip(axes.flat, panels.items()):
        with _style():
            draw(data, ax)
        ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    figure.suptitle(title)
    return figure


def percentile_panel(rows, ax=None):
    """rows: one choice's levels (level, n, p95, p95_low, p95_high): each level's conditional 95th
    percentile of success with its binomial interval, levels top to bottom."""
    figure, ax = _ax_or_new(ax, 4, 3)
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
    figure, ax = _ax_or_new(ax, 4, 3)
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
    figure, ax = _ax_or_new(ax, 4, 3)
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
    figure, ax = _ax_or_new(ax, 4, 3)
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
    figure, ax = _ax_or_new(ax, 5, 0.35 * len(rows) + 1)
    y = np.arange(len(rows))[::-1]
    ax.hlines(y, rows[f"{column}_low"], rows[f"{column}_high"], color=COLOURS[0], linewidth=1.6)
    ax.plot(rows[column], y, "o", color=COLOURS[0], markersize=4)
    ax.set_yticks(y, rows.choice, fontsize=8)
    ax.set_xlabel(label, fontsize=8)
    return figure


def importance(rows, interactions):
    """Three panels: PED-ANOVA importance, eta squared (both with bootstrap intervals), and the
    strongest pairwise interactions."""
    figure, axes = _figure(1, 3, 4.6, 0.3 * len(rows) + 1.4)
    with _style():
        importance_panel(rows, "ped_anova_share", "share of PED-ANOVA importance (top 5%)", axes[0, 0])
        importance_panel(rows, "eta2", "share of variance (eta²)", axes[0, 1])
        pairs = interactions.rename(columns={"pair": "choice", "share": "interaction", "low": "interaction_low",
                                             "high": "interaction_high"})
        importance_panel(pairs, "interaction", "interaction share beyond additive", axes[0, 2])
    figure.suptitle("which choices matter (95% bootstrap intervals over configurations)")
    return figure
