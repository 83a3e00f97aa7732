"""`grpo report`'s entry: a results folder (or a `grpo train --out` file) is opened and read once
into the data every section reads (grpo.report._data.load: the grid file parsed there, once), then
rendered by its kind: a grid (grpo.report.grid) or a random study (grpo.report.random_study).
Never retrains. Deterministic: the same records give the same tables and text (every resampling
is seeded)."""

from pathlib import Path

from grpo.experiment.results import open_results
from grpo.files import check_writable_dir
from grpo.report._data import load
from grpo.report.grid import Tables
from grpo.report.grid import render as render_grid
from grpo.report.random_study import WideTables, is_random_study
from grpo.report.random_study import render as render_random_study


def render_report(results_path: Path, reports_root: Path) -> tuple[Path, Tables | WideTables]:
    """Read `results_path`, write reports_root/<grid>/; returns the folder and the tables (a random
    study's: grpo.report.random_study.WideTables)."""
    results = open_results(results_path)
    out = Path(reports_root) / results.name
    check_writable_dir(out)
    data = load(results)
    if is_random_study(data.grid):  # a random study: its own report
        return out, render_random_study(data, out)
    return out, render_grid(data, out)
