"""Claims of the literature (grpo.experiment.claims) tested on their sweeps: per claim a paired
contrast over seeds, its verdict, the minimum detectable effect, the mechanism's measurement
and a figure, in one report (OUT/report.md).

Both arms of a contrast start from the same weights and random stream (seeds are blocks), so a
difference is a difference in how the quantity moved. Per seed, a claim's score is the mean of
its cells' treatment - baseline differences (the grid's axes the claim neither contrasts nor
holds; one cell when there are none); the verdict reads the 95% paired bootstrap interval of its
mean (grpo.report._stats.paired_contrast): *replicates* when it lies on the predicted side of 0,
*contradicted* when on the other, *undecided* otherwise. The minimum detectable effect is
(z_.975 + z_.8) · sd / √n (grpo.report._stats.minimum_detectable_effect): a true difference of
that size is found with 80% power at the 5% two-sided level.
"""

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from grpo.errors import UsageError
from grpo.experiment.claims import Claim
from grpo.experiment.grids import load_grid
from grpo.experiment.layout import RUNS_FILE
from grpo.experiment.results import FINISHED, final_window, open_results, per_epoch
from grpo.report._stats import minimum_detectable_effect, paired_contrast
from grpo.report.mechanisms import Measurement

ARMS = ("treatment", "baseline")


class MissingSweep(UsageError):
    """A claim's grid has no sweep under the results root: the claim is reported as not run."""
POOLED = "pooled"


@dataclass
class ClaimData:
    """One claim's numbers from its sweep: `scores` one row per (arm, cell, seed) with the
    metric summarised per run (`value`) and the mechanism column's mean over the run
    (`mechanism`, NaN without one); `curves` one row per (arm, cell, seed, epoch)."""

    claim: Claim
    scores: pd.DataFrame
    curves: pd.DataFrame
    cells: list[str]
    shared: dict  # the configuration fields every run of the grid shares
    gaps: dict[str, int]  # status -> runs of the grid not finished
    trial_seconds: float  # the trials' wall times summed (runs.parquet's wall_s, one per trial)
    runs: int


@dataclass(frozen=True)
class SweepCost:
    """What `grpo claims --sweep` spent on one grid: wall seconds, runs trained and reused."""

    seconds: float
    trained: int
    reused: int


def arm_of(row: pd.Series, claim: Claim) -> str | None:
    """"treatment", "baseline" or None for a configuration (a runs row)."""
    for arm in ARMS:
        if all(_same(row[axis], level) for axis, level in claim.arm(arm).items()):
            return arm
    return None


def _same(value, level) -> bool:
    if isinstance(level, float) or isinstance(value, float):
        return bool(np.isclose(float(value), float(level), rtol=1e-12, atol=0))
    return value == level


def load_claim(claim: Claim, results_root: Path) -> ClaimData:
    """The claim's scores and curves from results_root/<its grid's name>; UsageError if the
    folder is missing or does not hold the claim's arms."""
    grid = load_grid(claim.grid)
    folder = Path(results_root) / grid.name
    if not (folder / RUNS_FILE).is_file():
        raise MissingSweep(f"claim {claim.name!r}: no sweep of its grid in {str(folder)!r}; run `grpo sweep"
                           f" {claim.grid}` or `grpo claims --sweep {claim.name}`")
    results = open_results(folder)
    all_runs = results.runs
    runs = all_runs[all_runs.status.isin(FINISHED)]
    cell_axes = [axis for axis in grid.axes if axis not in claim.contrast_axes and axis not in claim.held]
    configs = runs.drop_duplicates("config_id").set_index("config_id")
    chosen = {config_id: (arm, " / ".join(str(row[axis]) for axis in cell_axes) or "all")
              for config_id, row in configs.iterrows() if (arm := arm_of(row, claim)) is not None}
    for arm in ARMS:
        per_cell = pd.Series([cell for a, cell in chosen.values() if a == arm]).value_counts()
        if per_cell.empty:
            raise UsageError(f"claim {claim.name!r}: {str(folder)!r} has no finished run of the {arm}"
                             f" {claim.arm(arm)}")
        if (per_cell > 1).any():
            raise UsageError(f"claim {claim.name!r}: the {arm} {claim.arm(arm)} matches several configurations in cell"
                             f" {per_cell.index[per_cell > 1][0]!r}; name the axis that tells them apart")
    columns = list(dict.fromkeys(["epoch", "diverged", claim.metric, *([claim.mechanism.column] if claim.mechanism.column else [])]))
    scores, curves = [], []
    for config_id, records in results.iter_records(columns):
        if config_id not in chosen:
            continue
        arm, cell = chosen[config_id]
        epochs = per_epoch(records).drop(columns="config_id")  # [seed x epoch rows]
        total = int(configs.loc[config_id, "epochs"])
        window = final_window(epochs, total) if claim.summary == "final" else epochs
        score = window.groupby("seed")[claim.metric].mean().rename("value").to_frame()
        if claim.mechanism.column:
            score["mechanism"] = epochs.groupby("seed")[claim.mechanism.column].mean()
        diverged = epochs.groupby("seed").diverged.any()
        score.loc[diverged.reindex(score.index, fill_value=False).to_numpy()] = np.nan
        scores.append(score.reset_index().assign(arm=arm, cell=cell))
        curves.append(epochs.assign(arm=arm, cell=cell))
    shared = {name: configs[name].iloc[0] for name in configs.columns
              if name in grid.fixed and configs[name].nunique() == 1}
    # a trial's wall time is on each of its runs; a `grpo train --out` file has none
    trial_seconds = float(all_runs.wall_s.dropna().unique().sum()) if "wall_s" in all_runs else float("nan")
    gaps = {status: int(count) for status, count in all_runs.status.value_counts().items() if status not in FINISHED}
    return ClaimData(claim, pd.concat(scores, ignore_index=True), pd.concat(curves, ignore_index=True),
                     sorted(set(cell for _, cell in chosen.values())), shared, gaps, trial_seconds, len(all_runs))


def paired(scores: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """-> (treatment, baseline): `column` as [seed x cell] tables over the same seeds."""
    wide = scores.pivot_table(index="seed", columns=["arm", "cell"], values=column, dropna=False)
    return wide["treatment"], wide["baseline"]


def contrasts(data: ClaimData) -> pd.DataFrame:
    """The claim's paired contrast in each cell and pooled (per seed, the mean of the cell
    differences), with the minimum detectable effect of each. One row per cell."""
    treatment, baseline = paired(data.scores, "value")
    cells = [(cell, treatment[cell], baseline[cell]) for cell in data.cells]
    if len(cells) > 1:
        cells.append((POOLED, treatment[data.cells].mean(axis=1), baseline[data.cells].mean(axis=1)))
    rows = []
    for label, a, b in cells:
        contrast = paired_contrast(a.to_numpy(), b.to_numpy())
        rows.append({"cell": label, "treatment": float(np.nanmean(a)), "baseline": float(np.nanmean(b)),
                     "difference": contrast.difference, "low": contrast.low, "high": contrast.high,
                     "sd": contrast.sd, "pairs": contrast.pairs,
                     "mde": minimum_detectable_effect(contrast.sd, contrast.pairs)})
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame) -> pd.Series:
    """The row the verdict reads: pooled where there are several cells, else the one cell."""
    return table.iloc[-1]


def verdict(row, predicted: int) -> str:
    """replicates / contradicted / undecided from a contrast row's interval and the predicted sign."""
    low, high = predicted * row.low, predicted * row.high  # on the predicted side when positive
    if min(low, high) > 0:
        return "replicates"
    if max(low, high) < 0:
        return "contradicted"
    return "undecided"


def mechanism_column(data: ClaimData) -> Measurement:
    """A mechanism that is a record column: each arm's mean over the run, their paired contrast
    (pooled over cells as the metric is) and their ratio."""
    column = data.claim.mechanism.column
    treatment, baseline = paired(data.scores, "mechanism")
    a, b = treatment[data.cells].mean(axis=1), baseline[data.cells].mean(axis=1)
    contrast = paired_contrast(a.to_numpy(), b.to_numpy())
    mean_a, mean_b = float(np.nanmean(a)), float(np.nanmean(b))
    ratio = f"; ratio {mean_a / mean_b:.3g}" if mean_b > 0 and mean_a >= 0 else ""
    text = (f"`{column}` (mean over the run): treatment {mean_a:.4g}, baseline {mean_b:.4g}; difference"
            f" {contrast.difference:+.4g} [{contrast.low:+.4g}, {contrast.high:+.4g}]{ratio}")
    return Measurement(text, {"treatment": mean_a, "baseline": mean_b, "difference": contrast.difference,
                              "low": contrast.low, "high": contrast.high})


def measure_mechanism(data: ClaimData, results_root: Path) -> Measurement:
    mechanism = data.claim.mechanism
    if mechanism.column:
        return mechanism_column(data)
    measure = mechanism.measure
    assert measure is not None, "a mechanism gives a column or a measure (Mechanism checks it)"
    if isinstance(measure, str):
        module, _, attribute = measure.partition(":")
        try:
            measure = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise UsageError(f"claim {data.claim.name!r}: cannot import its mechanism {mechanism.measure!r}: {error}") from None
    return measure(data.claim, Path(results_root))


def arm_label(claim: Claim, arm: str) -> str:
    return ", ".join(f"{axis} {level}" for axis, level in (claim.treatment if arm == "treatment" else claim.baseline).items())


@dataclass
class ClaimOutcome:
    data: ClaimData
    table: pd.DataFrame
    verdict: str
    measurement: Measurement
    figure: str
    seconds: float  # reading, measuring and drawing it here
