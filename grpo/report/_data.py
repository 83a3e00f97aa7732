"""What a report needs from the records, reduced while streaming: one configuration's records
are read (only the columns used), turned into per-run final values and per-epoch curves, and
dropped before the next is read, so memory grows with configurations x seeds x epochs, not
with inner steps or record columns.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grpo.core.config import CONFIG_FIELDS
from grpo.experiment.grids import DEFAULT_CELL, Grid, parse_grid
from grpo.experiment.results import INCOMPLETE, PRIMARY, PRIMARY_SOURCE, Results, final_values, per_epoch

FINAL_METRICS = {  # per-run final value (mean over the final window) <- the per-epoch metric it averages
    PRIMARY: PRIMARY_SOURCE,
    "reward_frac": "reward_frac",
    "greedy_train_acc": "greedy_train_acc",
    "greedy_heldout_acc": "greedy_heldout_acc",
}
CURVE_METRICS = ("sorted_frac", "reward_frac", "kl", "clip_frac")  # per-epoch curves kept for the figures


@dataclass
class Study:
    """What a grid holds beyond its default cell (grpo.experiment.grids): sensitivity cells and tuning."""

    grid: Grid
    cells: dict[str, dict[str, str]]  # cell -> default config_id -> the config_id in its place (default cell first)
    runs: pd.DataFrame  # every run of the grid's plan: config_id, CONFIG_FIELDS, seed, status (evaluation and tuning seeds)
    success: pd.Series  # index (config_id, seed): PRIMARY of every run with records; NaN where it diverged


@dataclass
class ReportData:
    name: str  # the grid's name or the records file's stem
    grid_text: str | None  # the grid definition (sweep folders only)
    grid: Grid | None  # grid_text parsed (once, here: every section reads this one)
    runs: pd.DataFrame  # one row per configuration x seed of the default cell: config_id, seed, status, ... (missing ones too)
    configs: pd.DataFrame  # index config_id: CONFIG_FIELDS, every configuration of the default cell
    axes: list[str]  # the fields the grid varies (not those that follow from another, e.g. cispo's clip range)
    finals: pd.DataFrame  # index (config_id, seed): FINAL_METRICS of the default cell's runs; NaN where one diverged
    curves: pd.DataFrame  # the default cell's: columns config_id, seed, epoch, CURVE_METRICS (float32); runs that did not diverge
    study: Study | None = None  # None: a grid without sensitivity or tuning, or a `grpo train --out` file


@dataclass
class Completeness:
    configurations: int  # in the grid
    complete: int  # configurations whose runs all finished (ok or diverged)
    missing: list[str]  # config_ids with runs not run yet (an interrupted sweep)
    failed: list[str]  # config_ids whose trial raised
    statuses: dict[str, int]  # run status -> runs

    @property
    def is_complete(self) -> bool:
        return not self.missing and not self.failed


def completeness_of(runs: pd.DataFrame, configs: pd.DataFrame) -> Completeness:
    """Which configurations of `configs` have all their `runs` finished, and which are missing or failed."""
    status = runs.groupby("config_id").status
    missing = [c for c in configs.index if (status.get_group(c) == "missing").any()]
    failed = [c for c in configs.index if (status.get_group(c) == "failed").any() and c not in missing]
    return Completeness(len(configs), len(configs) - len(missing) - len(failed), missing, failed,
                        runs.status.value_counts().to_dict())


def load(results: Results) -> ReportData:
    """Stream `results` one configuration at a time into a ReportData: the default cell's final
    values and curves, and the success of every other run (sensitivity cells, tuning)."""
    grid = parse_grid(results.name, results.grid_text) if results.grid_text is not None else None
    runs = _with_missing_configurations(results, grid)
    cells = grid.cells() if grid is not None else None
    epochs_of = runs.drop_duplicates("config_id").set_index("config_id").epochs.astype(int)  # every configuration's
    if grid is not None and cells is not None:  # the report's main tables are the default cell's, on the evaluation seeds
        default = runs.config_id.isin(list(cells[DEFAULT_CELL])) & runs.seed.isin(grid.seeds)
        all_runs, runs = runs, runs[default].reset_index(drop=True)
    configs = runs.drop_duplicates("config_id").set_index("config_id")[list(CONFIG_FIELDS)]
    finals, curves, success = [], [], []
    columns = ["epoch", *dict.fromkeys([*FINAL_METRICS.values(), *CURVE_METRICS]), "diverged"]
    for config_id, records in results.iter_records(columns):
        epochs = per_epoch(records)  # [seed x epoch rows]
        final = final_values(epochs, epochs_of[config_id], FINAL_METRICS)
        success.append(pd.Series(final[PRIMARY].to_numpy(), index=pd.MultiIndex.from_product(
            [[config_id], final.index], names=["config_id", "seed"])))
        if config_id not in configs.index:
            continue  # a run of another cell or of the tuning: its success is all the report needs
        final = final[final.index.isin(runs.seed[runs.config_id == config_id])]
        finals.append(final.assign(config_id=config_id).set_index("config_id", append=True).swaplevel())
        healthy = epochs[~epochs.seed.map(epochs.groupby("seed").diverged.any()) & epochs.seed.isin(final.index)]
        curves.append(healthy[["config_id", "seed", "epoch"]].assign(
            **{name: healthy[name].astype(np.float32) for name in CURVE_METRICS}))
    finals = pd.concat(finals) if finals else pd.DataFrame(
        columns=list(FINAL_METRICS), index=pd.MultiIndex.from_tuples([], names=["config_id", "seed"]))
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["config_id", "seed", "epoch", *CURVE_METRICS])
    study = None
    if grid is not None and cells is not None and (len(cells) > 1 or grid.tuning):
        ids = {cell: {default_id: config.config_id for default_id, config in mapping.items()}
               for cell, mapping in cells.items()}
        success = pd.concat(success) if success else pd.Series(
            dtype=float, index=pd.MultiIndex.from_tuples([], names=["config_id", "seed"]))
        study = Study(grid, ids, all_runs, success)
    return ReportData(results.name, results.grid_text, grid, runs, configs, varying_axes(configs), finals,
                      curves.astype({"config_id": str}), study)


def varying_axes(configs: pd.DataFrame) -> list[str]:
    """The fields that vary over `configs`, less those that follow from another varying field
    (a loss mode that sets its own clip range makes epsilon_low vary with loss_mode; it is not
    an axis). Of two fields that determine each other, the first in CONFIG_FIELDS stays."""
    varying = [name for name in CONFIG_FIELDS if configs[name].nunique() > 1]

    def determines(a: str, b: str) -> bool:
        return bool((configs.groupby(a)[b].nunique() == 1).all())

    return [name for i, name in enumerate(varying)
            if not any(determines(other, name) and (not determines(name, other) or j < i)
                       for j, other in enumerate(varying) if other != name)]


def _with_missing_configurations(results: Results, grid: Grid | None) -> pd.DataFrame:
    """results.runs, plus a `missing` row per seed for each configuration of the grid that has
    no row at all (a sweep cut off before it wrote runs.parquet again), and `missing` status
    for runs whose records file is absent."""
    runs = results.runs.copy()
    runs.loc[~runs.config_id.isin(list(results.files)) & ~runs.status.isin(INCOMPLETE), "status"] = "missing"
    if grid is None:
        return runs
    absent = [(config, seeds) for config, seeds in grid.plan() if config.config_id not in set(runs.config_id)]
    extra = [{"config_id": config.config_id, **config.as_dict(), "seed": seed, "status": "missing"}
             for config, seeds in absent for seed in seeds]
    return pd.concat([runs, pd.DataFrame(extra)], ignore_index=True) if extra else runs
