"""A random study's report folder: its tables, figures, CSV tables and report.md, through the one
folder writer. The `full` grid's findings are read from OUT/../full/effects.csv where it exists."""

from pathlib import Path

import pandas as pd

from grpo.report._data import ReportData
from grpo.report._folder import write_folder
from grpo.report.random_study._compute import WideTables, compute_wide
from grpo.report.random_study._figures import draw_figures
from grpo.report.random_study._text import narrative


def render(data: ReportData, out: Path) -> WideTables:
    """Compute and write a random study's report into `out`: figures, levels.csv, importance.csv,
    interactions.csv, agreement.csv, configurations.csv and report.md (each whole or not at all)."""
    assert data.grid is not None  # a random study is a sweep's grid
    full = out.parent / "full" / "effects.csv"
    tables = compute_wide(data, data.grid, pd.read_csv(full) if full.is_file() else None)
    pictures = draw_figures(tables)
    configurations = tables.table[["success", *tables.choices]].sort_values("success", ascending=False)
    frames = {"levels.csv": tables.levels, "importance.csv": tables.importance, "interactions.csv": tables.interactions,
              "agreement.csv": tables.agreement, "configurations.csv": configurations.reset_index()}
    write_folder(out, pictures, frames, narrative(tables, list(pictures), full if full.is_file() else None))
    return tables
