"""A claims report's figures: per claim its metric per epoch for each arm, and beside it the
mechanism's column or the measurement's own panel."""

import pandas as pd

from grpo.report._plot import level_panel, new_figure, seaborn_style
from grpo.report._stats import Z
from grpo.report.claims._compute import ARMS, ClaimData, arm_label
from grpo.report.mechanisms import Measurement


def curve_figure(data: ClaimData, measurement: Measurement):
    """The metric per epoch for each arm (per seed the mean over cells; seed mean with a 95%
    normal band); beside it the mechanism's column per epoch, or the measurement's own panel."""
    claim = data.claim
    panels = [(claim.metric, claim.metric)]
    if claim.mechanism.column:
        panels.append((claim.mechanism.column, f"mechanism: {claim.mechanism.column}"))
    bands = []
    for column, title in panels:
        per_seed = data.curves.groupby(["arm", "seed", "epoch"], as_index=False)[column].mean()
        grouped = per_seed.groupby(["arm", "epoch"], sort=False)[column]
        band = pd.DataFrame({"mean": grouped.mean(), "se": grouped.sem()}).reset_index()
        band["level"] = band.arm.map({arm: arm_label(claim, arm) for arm in ARMS})
        band = band.sort_values(["arm", "epoch"], ascending=[False, True])
        bands.append((band.assign(low=band["mean"] - Z * band.se, high=band["mean"] + Z * band.se), column, title))
    return claim_panels(bands, f"{claim.name}: {claim.statement}", measurement.draw)


def claim_panels(bands: list, title: str, draw=None):
    """A claim's figure: one panel per (curves, column, title) of `bands` (curves as
    `level_panel` takes them, one level per arm), then `draw(ax)`'s own panel if given."""
    figure, axes = new_figure(1, len(bands) + (draw is not None), 4.6, 3.4)
    for ax, (curves, column, panel_title) in zip(axes[0], bands):
        with seaborn_style():
            level_panel(curves, column, ax)
        ax.set_title(panel_title, fontsize=10)
    if draw is not None:
        with seaborn_style():
            draw(axes[0, -1])
    figure.suptitle(title, fontsize=10)
    return figure
