"""A grid's figures: which figures its tables call for (`draw_figures`) and the plotting of each
(tidy data aggregated by grpo.report.grid's compute, intervals included, in; the figure out)."""

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from grpo.experiment.grids import DEFAULT_CELL
from grpo.experiment.results import PRIMARY
from grpo.report._names import level_name
from grpo.report._plot import ax_or_new, level_panel, new_figure, palette, seaborn_style
from grpo.report.grid._compute import Tables

HEAT_AXES = ("deltas_mode", "loss_mode")  # heatmap rows and columns where the grid varies them


def draw_figures(tables: Tables) -> dict:
    """name -> figure, for what the tables hold."""
    pictures, curves = {}, tables.curves
    if "success" in curves:
        pictures["success_curves.png"] = level_curves(
            curves["success"], f"{PRIMARY} (fraction of responses sorted)", f"{PRIMARY} during training: each level averaged"
            " over the other axes (mean over seeds, 95% bootstrap band)", levels=tables.axes)
    if "success_effects" in curves:
        pictures["success_effect_curves.png"] = effect_curves(curves["success_effects"], PRIMARY, tables.axes)
    ranked = tables.configurations[tables.configurations["rank"].notna()]
    if len(tables.effects):
        pictures["effects.png"] = effects_forest(tables.effects, PRIMARY, tables.axes)
    panels = _heat_panels(ranked, tables.axes)
    if panels:
        pictures["success_heatmaps.png"] = heatmaps(
            panels, _heat_columns(tables.axes), f"final {PRIMARY} per configuration (mean over seeds; * = tied with the best)", PRIMARY)
    if len(ranked) > 1:
        hue = next((name for name in ("deltas_mode", *tables.axes) if name in tables.axes), None)
        style = next((name for name in ("loss_mode", *tables.axes) if name in tables.axes and name != hue), None)
        pictures["generalisation.png"] = generalisation(_in_level_order(ranked, tables.axes, [hue, style]),
                                                                hue, style)
    if tables.robustness is not None:
        for name, effects in tables.robustness.sensitivity.groupby("field", sort=False):
            own = effects[effects.cell == DEFAULT_CELL].value.iloc[0]
            pictures[f"sensitivity_{name}.png"] = sensitivity(effects, name, own, PRIMARY, tables.axes)
    if "reward_frac" in curves:
        pictures["reward_frac_curves.png"] = level_curves(
            curves["reward_frac"], "reward_frac", "reward_frac during training, within each reward function (each"
            " level averaged over the other axes, 95% band)", levels=tables.axes)
    if "kl" in curves:
        pictures["kl_curves.png"] = level_curves(
            curves["kl"], "measured KL to the reference", "measured KL(π || π_ref) where the KL penalty is on (each"
            " level averaged over the other axes, 95% band); the sawtooth: the reference is refreshed every ref_period"
            " epochs", log=True, levels=tables.axes)
    if "clip_frac" in curves:
        pictures["clip_fraction_curves.png"] = level_curves(
            curves["clip_frac"], "fraction clipped", "fraction of tokens whose clipping acts, where a loss clips (each"
            " level averaged over the other axes, 95% band)", levels=tables.axes)
    return pictures


def _in_level_order(frame: pd.DataFrame, axes: dict, names) -> pd.DataFrame:
    """frame sorted so each named axis's levels appear in their order."""
    names = [name for name in names if name]
    keys = {name: frame[name].map({level: i for i, level in enumerate(axes[name])}) for name in names}
    return frame.assign(**{f"_{n}": k for n, k in keys.items()}).sort_values([f"_{n}" for n in names]).drop(
        columns=[f"_{n}" for n in names]) if names else frame


def _heat_panels(ranked: pd.DataFrame, axes: dict) -> dict:
    """panel title -> success table: rows and columns are two axes (deltas and loss where they
    vary), one panel per combination of the other axes."""
    if not axes or not len(ranked):
        return {}
    heat, facets = _heat_layout(axes)
    groups = [()] if not facets else list(pd.MultiIndex.from_product([axes[name] for name in facets]))
    panels = {}
    for group in groups:
        mask = np.ones(len(ranked), dtype=bool)
        for name, level in zip(facets, group):
            mask &= (ranked[name] == level).to_numpy()
        cell = ranked[mask]
        if not len(cell):
            continue
        rows, cols = heat[0], heat[1] if len(heat) > 1 else None
        index = axes[rows]
        columns = axes[cols] if cols else [PRIMARY]
        key = [rows] + ([cols] if cols else [])
        table = cell.set_index(key).success_mean
        tied = cell.set_index(key).tied_with_best
        if cols:
            values, marked = table.unstack(cols), tied.unstack(cols)
        else:
            values, marked = table.to_frame(PRIMARY), tied.to_frame(PRIMARY)
        values = values.reindex(index=index, columns=columns).astype(float)
        values.attrs["marked"] = marked.reindex(index=index, columns=columns).fillna(False).astype(bool)
        title = ", ".join(f"kl {level:g}" if name == "kl_penalty" else f"{name} {level}" if not isinstance(level, str)
                          else str(level) for name, level in zip(facets, group)) or "all configurations"
        panels[title] = values
    return panels


def _heat_layout(axes: dict) -> tuple[list[str], list[str]]:
    """The heatmap's two cell axes (deltas and loss where they vary) and the facet axes."""
    heat = [name for name in HEAT_AXES if name in axes]
    heat += [name for name in axes if name not in heat][: 2 - len(heat)]
    return heat, [name for name in axes if name not in heat]


def _heat_columns(axes: dict) -> int:
    """Panels per row of the heatmap figure: one row per level of the first facet axis."""
    _, facets = _heat_layout(axes)
    if len(facets) > 1:
        return int(np.prod([len(axes[name]) for name in facets[1:]]))
    return min(3, len(axes[facets[0]])) if facets else 1


def level_curves(curves, ylabel: str, title: str, log: bool = False, levels: dict | None = None):
    """curves: rows (factor, level, epoch, mean, low, high[, reward_fn]): one panel per factor
    (one row of panels per reward function when `reward_fn` is given). levels: factor -> its
    levels in order, so a level has the same colour in every figure."""
    factors = list(dict.fromkeys(curves.factor))
    groups = list(dict.fromkeys(curves.reward_fn)) if "reward_fn" in curves else [None]
    figure, axes = new_figure(len(groups), len(factors), 4.2, 3.3, sharey="row" if not log else False)
    for i, group in enumerate(groups):
        rows = curves if group is None else curves[curves.reward_fn == group]
        for j, factor in enumerate(factors):
            with seaborn_style():
                level_panel(rows[rows.factor == factor], ylabel if j == 0 else "", axes[i, j], log,
                            (levels or {}).get(factor))
            axes[i, j].set_title(factor if group is None else f"{group}: {factor}", fontsize=10)
    figure.suptitle(title)
    return figure


def effect_panel(curves, ax=None, levels=None):
    """curves: one factor's effects, rows (level, reference, epoch, mean, low, high): the paired
    difference of each level to the reference over training, 95% band; zero marked. `levels`:
    the factor's levels in order (their colours), default the data's."""
    figure, ax = ax_or_new(ax)
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
    figure, axes = new_figure(1, len(factors), 4.2, 3.3, sharey=True)
    for ax, factor in zip(axes[0], factors):
        with seaborn_style():
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
    with seaborn_style():
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
    figure, ax = ax_or_new(ax)
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
    figure, axes = new_figure(1, len(factors), 4.2, 3.4, sharey=True)
    for ax, factor in zip(axes[0], factors):
        with seaborn_style():
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
    figure, axes = new_figure(rows, cols, 1.0 * first.shape[1] + 2.6, 0.45 * first.shape[0] + 1.6)
    values = np.concatenate([cells.to_numpy(dtype=float).ravel() for cells in panels.values()])
    vmin, vmax = np.nanmin(values), np.nanmax(values)
    for ax, (name, cells) in zip(axes.ravel(), panels.items()):
        with seaborn_style():
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
    figure, ax = ax_or_new(ax, 7.5, 5)
    with seaborn_style():
        sns.scatterplot(data=points, x="greedy_train_acc", y="greedy_heldout_acc", ax=ax, s=50,
                        hue=hue, hue_order=list(dict.fromkeys(points[hue])) if hue else None,
                        style=style, style_order=list(dict.fromkeys(points[style])) if style else None)
    top = max(points.greedy_train_acc.max(), points.greedy_heldout_acc.max(), 0.05)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="held-out = train")
    ax.set(xlabel="greedy accuracy on training prompts", ylabel="greedy accuracy on held-out prompts",
           title="final greedy accuracy per configuration")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return figure
