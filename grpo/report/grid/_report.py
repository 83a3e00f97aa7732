"""A grid's report folder: its tables (compute, then robustness across cells), figures, CSV
tables and report.md, through the one folder writer."""

from pathlib import Path

import pandas as pd

from grpo.report._data import ReportData
from grpo.report._folder import write_folder
from grpo.report.grid._compute import Tables, compute
from grpo.report.grid._conditional import with_conditional
from grpo.report.grid._confirm import with_confirmation
from grpo.report.grid._figures import draw_figures
from grpo.report.grid._headline import with_headline
from grpo.report.grid._regime import regime
from grpo.report.grid._robustness import with_robustness
from grpo.report.grid._text import narrative

FULL_EFFECTS = ("full", "effects.csv")  # beside a regime's report folder: full's effects, which it compares itself with


def analyse(data: ReportData) -> Tables:
    """Every table of a grid's report from `data`: compute's, then the robustness across cells,
    the confirmation on fresh seeds, the conditional effects and rliable's view of the headline contrasts."""
    return with_headline(with_conditional(with_confirmation(with_robustness(compute(data), data), data), data), data)


def render(data: ReportData, out: Path) -> Tables:
    """Compute a grid's tables from `data` and write its report into `out`. The RLVR-shaped regime
    (data.regime) adds its numbers (grpo.report.grid._regime), with `full`'s effects read from the
    report folder beside `out` where it is there."""
    tables = analyse(data)
    if data.regime:
        full_path = Path(out).parent.joinpath(*FULL_EFFECTS)
        full = pd.read_csv(full_path) if full_path.exists() else None
        ranked = tables.configurations[tables.configurations["rank"].notna()].sort_values("rank")
        tables.regime, effects = regime(data, ranked.config_id.tolist(), ranked.config_id.iloc[0] if len(ranked) else None,
                                        tables.effects, tables.axes, tables.references, full)
        # the regime's plateau test (held-out success over the last third) in place of the final window's
        tables.slopes, tables.effects = tables.regime.slopes, effects.assign(still_improving=effects.about == "speed")
    write(tables, out)
    return tables


def write(tables: Tables, out: Path) -> None:
    """Write the figures, configurations.csv, effects.csv, interactions.csv, fits.csv, headline.csv (and, where
    the grid has cells or tuning, robustness.csv and tuning.csv; with a confirm range,
    confirmation.csv; conditional_effects.csv and three_way_interactions.csv where there are
    any) and report.md of `tables` into
    `out` (each file whole or not at all)."""
    pictures = draw_figures(tables)
    frames: dict[str, pd.DataFrame] = {"configurations.csv": tables.configurations, "effects.csv": tables.effects,
                                       "interactions.csv": tables.interactions, "fits.csv": tables.fits}
    if tables.regime is not None:
        frames["full_comparison.csv"] = tables.regime.compared
        frames["difficulty_spread.csv"] = tables.regime.spread
        frames["heldout_slopes.csv"] = tables.regime.slopes
    if tables.headline is not None and len(tables.headline):
        frames["headline.csv"] = tables.headline
    if tables.robustness is not None:
        frames["robustness.csv"] = tables.robustness.rows
        if len(tables.robustness.tuning):
            frames["tuning.csv"] = tables.robustness.tuning
    if len(tables.confirmation):
        frames["confirmation.csv"] = tables.confirmation
    if len(tables.conditional):
        frames["conditional_effects.csv"] = tables.conditional
    if len(tables.three_way):
        frames["three_way_interactions.csv"] = tables.three_way
    write_folder(out, pictures, frames, narrative(tables, list(pictures)))
