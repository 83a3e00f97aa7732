"""A claims report's figures: per claim its metric per epoch for each arm, and beside it the
mechanism's column or the measurement's own panel."""

import textwrap

import pandas as pd

from grpo.report._plot import level_panel, new_figure, seaborn_style
from grpo.report._stats import Z
from grpo.report.claims._compute import ARMS, ClaimData, arm_label
from grpo.report.mechanisms import Measurement

TITLE_CHARACTERS = 60  # of a title line, per panel of the figure
UNITS = {"entropy": "nats", "kl": "nats", "incorrect_length": "tokens", "mean_length": "tokens"}  # else by suffix


def unit(column: str) -> str:
    """A record column's unit for an axis label: a fraction for `*_frac`, else UNITS' or none."""
    return "fraction" if column.endswith("_frac") else UNITS.get(column, "")


def curve_figure(data: ClaimData, measurement: Measurement, verdict: str = "", subtitle: str = ""):
    """The metric per epoch for each arm (per seed the mean over cells; seed mean with a 95%
    normal band, clipped to [0, 1] for a fraction); beside it the mechanism's column per epoch,
    or the measurement's own panel. Titled with the claim as a question, `verdict` and
    `subtitle` (its numbers) under it."""
    claim = data.claim
    panels = [] if claim.summary == "measured" else [(claim.metric, claim.metric)]  # a measured claim: its panel alone
    if claim.mechanism.column:
        panels.append((claim.mechanism.column, f"mechanism: {claim.mechanism.column}"))
    bands = []
    for column, title in panels:
        per_seed = data.curves.groupby(["arm", "seed", "epoch"], as_index=False)[[column, "samples"]].mean()
        grouped = per_seed.groupby(["arm", "epoch"], sort=False)
        band = pd.DataFrame({"mean": grouped[column].mean(), "se": grouped[column].sem(),
                             "samples": grouped.samples.mean()}).reset_index()
        band = band.dropna(subset=["mean"])  # an evaluated metric: only the evaluated epochs (eval_every)
        if claim.summary in ("samples", "asymptote"):  # against responses sampled: the axis these summaries read
            band = band.assign(epoch=band.samples)
        band["level"] = band.arm.map({arm: arm_label(claim, arm) for arm in ARMS})
        band = band.sort_values(["arm", "epoch"], ascending=[False, True])
        low, high = band["mean"] - Z * band.se, band["mean"] + Z * band.se
        if unit(column) == "fraction":
            low, high = low.clip(0, 1), high.clip(0, 1)
        label = f"{column} ({unit(column)})" if unit(column) else column
        bands.append((band.assign(low=low, high=high), label, title))
    width = TITLE_CHARACTERS * (len(bands) + (measurement.draw is not None))  # the title wrapped to the panels' width
    question = textwrap.fill(f"{claim.name}: does it hold that {claim.statement}?", width)
    verdict_line = textwrap.fill((f"verdict: {verdict}" if verdict else "") + (f" — {subtitle}" if subtitle else ""), width)
    figure = claim_panels(bands, question + (f"\n{verdict_line}" if verdict_line else ""),
                          measurement.draw, "responses sampled" if claim.summary in ("samples", "asymptote") else "epoch")
    if claim.summary == "samples" and bands:
        figure.axes[0].axvline(data.budget, color="black", linestyle=":", linewidth=1)  # the budget compared at
    return figure


def claim_panels(bands: list, title: str, draw=None, x: str = "epoch"):
    """A claim's figure: one panel per (curves, column, title) of `bands` (curves as
    `level_panel` takes them, one level per arm, `x` their horizontal axis), then `draw(ax)`'s own
    panel if given."""
    figure, axes = new_figure(1, len(bands) + (draw is not None), 4.6, 3.4)
    for ax, (curves, column, panel_title) in zip(axes[0], bands):
        with seaborn_style():
            level_panel(curves, column, ax)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel(x)
    if draw is not None:
        with seaborn_style():
            draw(axes[0, -1])
    figure.suptitle(title, fontsize=10)
    return figure
