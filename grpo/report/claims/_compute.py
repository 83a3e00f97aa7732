"""Claims of the literature (grpo.experiment.claims) tested on their sweeps: per claim a paired
contrast over seeds, its verdict, the minimum detectable effect, the mechanism's measurement
and a figure, in one report (OUT/report.md).

Both arms of a contrast start from the same weights and random stream (seeds are blocks), so a
difference is a difference in how the quantity moved. Per seed, a claim's score is the mean of
its cells' treatment - baseline differences (the grid's axes the claim neither contrasts nor
holds; one cell when there are none). The claims of one report are one Holm family: each
claim's p (the pooled paired contrast's, grpo.report._stats.paired_contrast) is Holm-adjusted over
them. The verdict (VERDICTS): *replicates* / *contradicted* where the Holm-adjusted p is below
ALPHA, on / against the predicted side; otherwise *regime failed* where the arms did not differ in
the claim's mechanism by its declared minimum difference (the mechanism had no room, so the
claim was not tested); *tied* where two one-sided tests bound the difference within ±margin;
*non-inferior* where the one-sided test bounds it above -margin on the predicted side; else
*undecided*; *not measured* where the contrast has no number (a fit that is not identified). A claim
that predicts no difference (predicted 0: an asymptote that does not move)
is *contradicted* where the Holm-adjusted p is below ALPHA, and supported only by *tied*. The
margin is the claim's minimum detectable effect, (z_.975 + z_.8) · sd / √n
(grpo.report._stats.minimum_detectable_effect): a true difference of that size is found with
80% power at the 5% two-sided level.
"""

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from grpo.errors import UsageError
from grpo.experiment.claims import Claim
from grpo.experiment.grids import load_grid
from grpo.experiment.layout import RUNS_FILE
from grpo.experiment.results import FINISHED, final_window, open_results, per_epoch
from grpo.report._stats import ALPHA, equivalence_p, holm, minimum_detectable_effect, paired_contrast
from grpo.report.grid._regime import value_at_samples
from grpo.report.mechanisms import Measurement, jackknife_fits

ARMS = ("treatment", "baseline")
INCOMPLETE = "incomplete"  # the verdict of a claim whose grid lacks runs: none (its cells may be unbalanced)


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
    budget: float = float("nan")  # summary "samples": the responses sampled at which the arms are compared
    unfitted: int = 0  # summary "asymptote": seeds whose jackknife fit failed (left out of their pair)


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
    configs = runs.drop_duplicates("config_id").set_index("config_id")
    shared = {name: configs[name].iloc[0] for name in configs.columns
              if name in grid.fixed and configs[name].nunique() == 1}
    # a trial's wall time is on each of its runs; a `grpo train --out` file has none
    trial_seconds = float(all_runs.wall_s.dropna().unique().sum()) if "wall_s" in all_runs else float("nan")
    gaps = {status: int(count) for status, count in all_runs.status.value_counts().items() if status not in FINISHED}
    if claim.summary == "measured":  # the measure gives the scores (with_measured_scores); no records are read
        return ClaimData(claim, pd.DataFrame(columns=["seed", "value", "arm", "cell"]), pd.DataFrame(), ["all"],
                         shared, gaps, trial_seconds, len(all_runs))
    cell_axes = [axis for axis in grid.axes if axis not in claim.contrast_axes and axis not in claim.held]
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
    columns = list(dict.fromkeys(["epoch", "diverged", "samples", claim.metric,
                                  *([claim.mechanism.column] if claim.mechanism.column else [])]))
    runs_epochs = {}
    for config_id, records in results.iter_records(columns):
        if config_id in chosen:
            runs_epochs[config_id] = per_epoch(records).drop(columns="config_id")  # [seed x epoch rows]
    budget = (min(float(epochs.groupby("seed").samples.max().min()) for epochs in runs_epochs.values())
              if claim.summary == "samples" else float("nan"))
    scores, curves, unfitted = [], [], 0
    for config_id, epochs in runs_epochs.items():
        arm, cell = chosen[config_id]
        if claim.summary == "samples":
            at = value_at_samples(epochs.assign(config_id=config_id), claim.metric, budget)
            score = at.droplevel("config_id").rename("value").to_frame()
        elif claim.summary == "asymptote":
            fits, failed = jackknife_fits(epochs, claim.metric)
            unfitted += int(fits.asymptote.isna().sum())
            score = fits.asymptote.rename("value").to_frame()
        else:
            window = final_window(epochs, int(configs.loc[config_id, "epochs"])) if claim.summary == "final" else epochs
            score = window.groupby("seed")[claim.metric].mean().rename("value").to_frame()
        if claim.mechanism.column:
            score["mechanism"] = epochs.groupby("seed")[claim.mechanism.column].mean()
        diverged = epochs.groupby("seed").diverged.any()
        score.loc[diverged.reindex(score.index, fill_value=False).to_numpy()] = np.nan
        scores.append(score.rename_axis("seed").reset_index().assign(arm=arm, cell=cell))
        curves.append(epochs.assign(arm=arm, cell=cell))
    return ClaimData(claim, pd.concat(scores, ignore_index=True), pd.concat(curves, ignore_index=True),
                     sorted(set(cell for _, cell in chosen.values())), shared, gaps, trial_seconds, len(all_runs),
                     budget, unfitted)


def with_measured_scores(data: ClaimData, measurement: Measurement) -> ClaimData:
    """A "measured" claim's scores: the measurement's per-seed values (its `per_seed`: seed ->
    treatment, baseline), one cell."""
    if measurement.per_seed is None:
        raise UsageError(f"claim {data.claim.name!r}: summary 'measured', but its measure gave no per-seed values")
    per_seed = measurement.per_seed.rename_axis("seed").reset_index()
    data.scores = per_seed.melt(id_vars="seed", value_vars=list(ARMS), var_name="arm").assign(cell="all")
    return data


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
        rows.append({"cell": label, "treatment": mean_of_measured(a), "baseline": mean_of_measured(b),
                     "difference": contrast.difference, "low": contrast.low, "high": contrast.high,
                     "p": contrast.p, "se": contrast.se, "sd": contrast.sd, "pairs": contrast.pairs,
                     "mde": minimum_detectable_effect(contrast.sd, contrast.pairs)})
    return pd.DataFrame(rows)


def mean_of_measured(values: pd.Series) -> float:
    """The mean over the seeds measured; NaN (without numpy's empty-slice warning) where none was."""
    return float(np.nanmean(values)) if values.notna().any() else np.nan


def headline(table: pd.DataFrame) -> pd.Series:
    """The row the verdict reads: pooled where there are several cells, else the one cell."""
    return table.iloc[-1]


VERDICTS = ("replicates", "contradicted", "regime failed", "tied", "non-inferior", "undecided", "not measured")


def verdict(row, predicted: int, p_holm: float, regime_held: bool | None = None) -> str:
    """A claim's verdict (VERDICTS, module docstring) from its headline contrast row (difference,
    se, mde: the margin), the predicted sign, its Holm-adjusted p over the report's claims and
    whether its mechanism had room (None: no minimum declared, not checked). A contrast without a
    number (a fit that is not identified) is *not measured* and stays out of the Holm family."""
    if not np.isfinite(row.difference):
        return "not measured"
    if p_holm < ALPHA:
        return "replicates" if predicted != 0 and np.sign(row.difference) == predicted else "contradicted"
    if regime_held is False:
        return "regime failed"
    if equivalence_p(row.difference, row.se, row.mde) < ALPHA:
        return "tied"
    if predicted != 0 and non_inferiority_p(predicted * row.difference, row.se, row.mde) < ALPHA:
        return "non-inferior"
    return "undecided"


def non_inferiority_p(difference: float, se: float, margin: float) -> float:
    """One-sided p of "the true difference is at most -margin" (normal, standard error `se`)."""
    if not (np.isfinite(difference) and np.isfinite(se) and np.isfinite(margin)):
        return float("nan")
    if se == 0:
        return 0.0 if difference > -margin else 1.0
    return float(stats.norm.sf((difference + margin) / se))


def regime_held(claim: Claim, measurement: Measurement) -> bool | None:
    """Whether the arms differ in the claim's mechanism by at least its declared minimum (None
    where no minimum is declared or the measurement lacks the numbers it names)."""
    mechanism = claim.mechanism
    numbers = measurement.numbers
    if mechanism.minimum_difference is None or not all(name in numbers for name in mechanism.between):
        return None
    treatment, baseline = (float(numbers[name]) for name in mechanism.between)
    if not np.isfinite(treatment - baseline):  # not measured (no group of a pass rate, no fit)
        return None
    return bool(abs(treatment - baseline) >= mechanism.minimum_difference)


def with_verdicts(outcomes: list["ClaimOutcome"]) -> list["ClaimOutcome"]:
    """The outcomes of one report with Holm over their claims: each one's p_holm and verdict. A
    claim whose grid lacks runs gets no verdict (INCOMPLETE: its cells may be unbalanced) and stays
    out of the family."""
    complete = [outcome for outcome in outcomes if not outcome.data.gaps]
    for outcome in outcomes:
        if outcome.data.gaps:
            outcome.verdict, outcome.p_holm = INCOMPLETE, float("nan")
    adjusted: Any = holm([headline(outcome.table).p for outcome in complete]) if complete else []
    for outcome, p_holm in zip(complete, adjusted):
        outcome.p_holm = float(p_holm)
        outcome.regime_held = regime_held(outcome.data.claim, outcome.measurement)
        outcome.verdict = verdict(headline(outcome.table), outcome.data.claim.predicted, outcome.p_holm,
                                  outcome.regime_held)
    return outcomes


def mechanism_column(data: ClaimData) -> Measurement:
    """A mechanism that is a record column: each arm's mean over the run, their paired contrast
    (pooled over cells as the metric is) and their ratio."""
    column = data.claim.mechanism.column
    treatment, baseline = paired(data.scores, "mechanism")
    a, b = treatment[data.cells].mean(axis=1), baseline[data.cells].mean(axis=1)
    contrast = paired_contrast(a.to_numpy(), b.to_numpy())
    mean_a, mean_b = mean_of_measured(a), mean_of_measured(b)
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
    try:
        return measure(data.claim, Path(results_root))
    except Exception as error:  # noqa: BLE001 - a plugin's code: whatever it raises is named in one line
        name = mechanism.measure if isinstance(mechanism.measure, str) else getattr(measure, "__qualname__", repr(measure))
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        raise UsageError(f"claim {data.claim.name!r}: its mechanism measure {name} raised {reason}") from None


def arm_label(claim: Claim, arm: str) -> str:
    return ", ".join(f"{axis} {level}" for axis, level in (claim.treatment if arm == "treatment" else claim.baseline).items())


@dataclass
class ClaimOutcome:
    data: ClaimData
    table: pd.DataFrame
    measurement: Measurement
    figure: str
    seconds: float  # reading, measuring and drawing it here
    verdict: str = "undecided"  # set with the report's other claims (with_verdicts)
    p_holm: float = float("nan")  # Holm over the report's claims
    regime_held: bool | None = None  # the mechanism differed by its declared minimum (None: not checked)
