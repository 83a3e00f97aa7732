"""Claims of the literature (grpo.experiment.claims) tested on their sweeps: per claim a paired
contrast over seeds, its verdict, the minimum detectable effect, the mechanism's measurement
and a figure, in one report (OUT/report.md).

Both arms of a contrast start from the same weights and random stream (seeds are blocks), so a
difference is a difference in how the quantity moved. Per seed, a claim's score is the mean of
its cells' treatment - baseline differences (the grid's axes the claim neither contrasts nor
holds; one cell when there are none); the verdict reads the 95% paired bootstrap interval of its
mean (grpo.report.stats.paired_contrast): *replicates* when it lies on the predicted side of 0,
*contradicted* when on the other, *undecided* otherwise. The minimum detectable effect is
(z_.975 + z_.8) · sd / √n (grpo.report.stats.minimum_detectable_effect): a true difference of
that size is found with 80% power at the 5% two-sided level.
"""

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from grpo.errors import UsageError
from grpo.experiment.claims import SIGNS, SUMMARIES, Claim
from grpo.experiment.grids import load_grid
from grpo.experiment.results import FINISHED, final_window, open_results, per_epoch
from grpo.files import write_atomic
from grpo.report import figures
from grpo.report.mechanisms import Measurement
from grpo.report.stats import DETECTION_Z, POWER, RESAMPLES, Z, minimum_detectable_effect, paired_contrast
from grpo.report.text import markdown_table

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
    if not (folder / "runs.parquet").is_file():
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
    try:
        return measure(data.claim, Path(results_root))
    except Exception as error:  # noqa: BLE001 - a plugin's code: whatever it raises is named in one line
        name = mechanism.measure if isinstance(mechanism.measure, str) else getattr(measure, "__qualname__", repr(measure))
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        raise UsageError(f"claim {data.claim.name!r}: its mechanism measure {name} raised {reason}") from None


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
    return figures.claim_panels(bands, f"{claim.name}: {claim.statement}", measurement.draw)


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


def test_claim(claim: Claim, results_root: Path, out: Path) -> ClaimOutcome:
    start = time.perf_counter()
    data = load_claim(claim, results_root)
    table = contrasts(data)
    measurement = measure_mechanism(data, results_root)
    figure = curve_figure(data, measurement)
    name = f"{claim.name}.png"
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / name, lambda tmp: figures.save(figure, tmp))
    found = INCOMPLETE if data.gaps else verdict(headline(table), claim.predicted)  # no verdict from a partial grid
    return ClaimOutcome(data, table, found, measurement, name, time.perf_counter() - start)


def paper_comparison(claim: Claim, row) -> str:
    """The paper's effect beside the MDE (what an undecided verdict can still say), or why no
    effect of the paper is comparable."""
    if claim.paper_effect is None:
        return f"Paper's effect: none comparable in these units: {claim.paper_note}"
    against = "smaller than" if row.mde < claim.paper_effect else "NOT smaller than"
    return (f"Paper's effect: {claim.paper_effect:.3g} in these units ({claim.paper_note}); the MDE {row.mde:.3g} is"
            f" {against} it.")


def cost_lines(outcomes: list[ClaimOutcome], sweeps: dict[str, SweepCost], load: tuple | None) -> list[str]:
    """Per grid: its runs, the sweep's wall time in this invocation (or that it was reused) and
    its trials' summed wall time; then the whole set's."""
    grids: dict[str, list[ClaimOutcome]] = {}
    for outcome in outcomes:
        grids.setdefault(outcome.data.claim.grid, []).append(outcome)
    lines = ["## Cost", "", "| grid | claims | runs | sweep wall time here | trials' wall time summed | analysis |",
             "|---|---|---|---|---|---|"]
    for grid, members in grids.items():
        cost = sweeps.get(grid)
        swept = ("not swept by this command" if cost is None else
                 f"{cost.seconds:.0f} s ({cost.trained} trained, {cost.reused} reused)")
        lines.append(f"| `{grid}` | {', '.join(m.data.claim.name for m in members)} | {members[0].data.runs} | {swept} |"
                     f" {members[0].data.trial_seconds:.0f} s | {sum(m.seconds for m in members):.0f} s |")
    analysis = sum(outcome.seconds for outcome in outcomes)
    total = sum(cost.seconds for cost in sweeps.values()) + analysis
    lines += ["", f"The whole set: {total:.0f} s ({total / 60:.1f} min) of wall time in this command"
              f" ({sum(cost.seconds for cost in sweeps.values()):.0f} s sweeping, {analysis:.0f} s reading, measuring and"
              " drawing)" + (f"; the machine's 1-minute load average {load[0]:.1f} at the start and {load[1]:.1f} after the"
                            " sweeps (2 cores shared with other work)" if load else "") + ".", ""]
    return lines


def report_markdown(outcomes: list[ClaimOutcome], not_run: dict[str, str], sweeps: dict[str, SweepCost] | None = None,
                    load: tuple | None = None) -> str:
    lines = ["# Claims of the literature on the testbed: canaries", "",
             "Each claim is a paired contrast over seeds (both arms from the same initial weights and random stream):"
             " per seed, treatment minus baseline, averaged over the grid's other cells. Verdict from its 95% paired"
             f" bootstrap interval ({RESAMPLES:,} resamples): *replicates* if on the predicted side of 0, *contradicted*"
             " if on the other, else *undecided*. MDE: the minimum detectable effect, (z_.975 + z_.8) · sd_paired / √n"
             f" = {DETECTION_Z:.2f} · sd / √n (power {POWER:.0%}, level"
             " 5% two-sided): a true difference that large is found 80% of the time. The evaluation seeds are the"
             " grids' own (0 to n-1); the pilots that chose the regimes and the seed counts ran on seeds 1000 and up,"
             " never evaluated here.", "",
             "| claim | verdict | difference [95% interval] | seeds | MDE | mechanism |", "|---|---|---|---|---|---|"]
    for outcome in outcomes:
        row = headline(outcome.table)
        lines.append(f"| [{outcome.data.claim.name}](#{outcome.data.claim.name}) | **{outcome.verdict}** |"
                     f" {row.difference:+.3g} [{row.low:+.3g}, {row.high:+.3g}] | {row.pairs} | {row.mde:.3g} |"
                     f" {outcome.measurement.short} |")
    lines += [f"| {name} | not run | – | – | – | {why} |" for name, why in not_run.items()]
    lines.append("")
    lines += cost_lines(outcomes, sweeps or {}, load)
    for outcome in outcomes:
        lines += claim_section(outcome)
    return "\n".join(lines)


def claim_section(outcome: ClaimOutcome) -> list[str]:
    data, claim = outcome.data, outcome.data.claim
    row = headline(outcome.table)
    held = f", holding {', '.join(f'{k} {v}' for k, v in claim.held.items())}" if claim.held else ""
    lines = [f'<a id="{claim.name}"></a>', f"## {claim.name}: {claim.statement}", "", f"Source: {claim.citation}.", ""]
    if data.gaps:
        lines += ["**INCOMPLETE**: " + ", ".join(f"{count} run(s) {status}" for status, count in sorted(data.gaps.items()))
                  + " of the grid: no verdict (a cell may lack an arm); the numbers below pair only the seeds finished"
                  " in both arms.", ""]
    lines += [f"Grid `{claim.grid}` ({data.runs} runs; its trials took {data.trial_seconds:.0f} s summed): "
              + ", ".join(f"{name} {value}" for name, value in data.shared.items()) + ".", "",
              f"Contrast: `{claim.metric}` ({SUMMARIES[claim.summary]}), [{arm_label(claim, 'treatment')}] minus"
              f" [{arm_label(claim, 'baseline')}]{held}; predicted {SIGNS[claim.predicted]}.", "",
              f"**{outcome.verdict}**: {row.difference:+.4g} [{row.low:+.4g}, {row.high:+.4g}] over {row.pairs} seeds"
              f" (treatment {row.treatment:.4g}, baseline {row.baseline:.4g}); sd of the paired differences"
              f" {row.sd:.3g}, MDE {row.mde:.3g}."]
    lines += ["", paper_comparison(claim, row)]
    lines += ["", f"Mechanism ({claim.mechanism.description}): {outcome.measurement.text}", ""]
    if len(outcome.table) > 1:
        table = outcome.table[["cell", "treatment", "baseline", "difference", "low", "high", "pairs", "mde"]]
        lines += [markdown_table(table.rename(columns={"low": "95% low", "high": "95% high", "pairs": "seeds",
                                                       "mde": "MDE"})), ""]
    lines += [f"![{claim.name}]({outcome.figure})", ""]
    return lines


def render_claims(claims: list[Claim], results_root: Path, out: Path, on_claim=None,
                  sweeps: dict[str, SweepCost] | None = None, load: tuple | None = None) -> tuple[Path, list, dict]:
    """Test each claim on its sweep under results_root and write OUT/report.md with a figure per
    claim; a claim whose grid has no sweep there is listed as not run. `on_claim(claim, outcome
    or the reason it was not run)` after each (progress lines). `sweeps`: grid -> its cost in
    this invocation; `load`: the machine's 1-minute load average at the start and after the sweeps (the report
    says both). -> (report.md, outcomes, not run: claim name -> why)."""
    outcomes, not_run = [], {}
    for claim in claims:
        try:
            outcomes.append(test_claim(claim, results_root, out))
        except MissingSweep as missing:
            not_run[claim.name] = str(missing)
        if on_claim:
            on_claim(claim, outcomes[-1] if claim.name not in not_run else not_run[claim.name])
    out.mkdir(parents=True, exist_ok=True)
    text = report_markdown(outcomes, not_run, sweeps or {}, load)
    write_atomic(out / "report.md", lambda tmp: tmp.write_text(text))
    return out / "report.md", outcomes, not_run
