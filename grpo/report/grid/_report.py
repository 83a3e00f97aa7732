"""A grid's report folder: its tables (compute, then robustness across cells), figures, CSV
tables and report.md, through the one folder writer."""

from pathlib import Path

import pandas as pd

from grpo.report._data import ReportData
from grpo.report._folder import write_folder
from grpo.report.grid._compute import Tables, compute
from grpo.report.grid._figures import draw_figures
from grpo.report.grid._robustness import with_robustness
from grpo.report.grid._text import narrative


def render(data: ReportData, out: Path) -> Tables:
    """Compute a grid's tables from `data` and write its report into `out`."""
    tables = with_robustness(compute(data), data)
    write(tables, out)
    return tables


def write(tables: Tables, out: Path) -> None:
    """Write the figures, configurations.csv, effects.csv, interactions.csv, fits.csv (and, where
    the grid has cells or tuning, robustness.csv and tuning.csv) and report.md of `tables` into
    `out` (each file whole or not at all)."""
    pictures = draw_figures(tables)
    frames: dict[str, pd.DataFrame] = {"configurations.csv": tables.configurations, "effects.csv": tables.effects,
                                       "interactions.csv": tables.interactions, "fits.csv": tables.fits}
    if tables.robustness is not None:
        frames["robustness.csv"] = tables.robustness.rows
        if len(tables.robustness.tuning):
            frames["tuning.csv"] = tables.robustness.tuning
    write_folder(out, pictures, frames, narrative(tables, list(pictures)))
