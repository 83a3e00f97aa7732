"""Two claims of the literature, tested on a sweep of the transformer policy (the `sequence`
preset) with paired bootstrap intervals over seeds (grpo.stats.paired_contrast).

- **Dr. GRPO** (Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical
  Perspective", section 3.1): with GRPO's per-response mean (``seq_mean_token_mean``) and
  std-normalised advantages (``normalized_rewards``), incorrect responses grow longer than with
  the constant normaliser (``seq_mean_token_sum_norm``): dividing a response's token sum by its
  own length shrinks the per-token penalty of long wrong answers. Measured:
  ``incorrect_length`` over the final window, seq_mean_token_mean minus
  seq_mean_token_sum_norm, normalized_rewards, in each clip mode.
- **DAPO** (Yu et al. 2025, section 3.1, "Clip-Higher"): raising the upper clip
  (``clip_higher``, [1 - 0.2, 1 + 0.28]) keeps the policy's token entropy higher than the
  symmetric clip (``clipped`` at epsilon 0.2), which lets entropy collapse. Measured:
  ``entropy`` over the final window, clip_higher minus clipped, in each (loss_agg, deltas) cell.

Both arms of a contrast start from the same weights and random stream (seeds are blocks), so a
difference in the final window is a difference in how the quantity moved. A claim
*replicates* when the pooled contrast (the per-seed mean over its cells) has a 95% interval
entirely on the claimed side, is *contradicted* when entirely on the other, and is
*undecided* otherwise.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from grpo.errors import UsageError
from grpo.experiment.results import FINISHED, final_window, open_results, per_epoch
from grpo.files import write_atomic
from grpo.report import figures
from grpo.report.stats import RESAMPLES, Z, paired_contrast
from grpo.report.text import markdown_table


@dataclass(frozen=True)
class Claim:
    name: str
    source: str
    metric: str  # the record column compared over the final window
    factor: str  # the grid axis whose two levels are contrasted
    treatment: str  # the level the claim expects larger
    baseline: str
    within: dict  # axis -> the level the claim holds fixed (other axes are the cells)


CLAIMS = (
    Claim("Dr. GRPO: per-response mean + std-normalised deltas grow incorrect responses longer",
          "Liu et al. 2025, section 3.1", "incorrect_length", "loss_agg", "seq_mean_token_mean",
          "seq_mean_token_sum_norm", {"deltas_mode": "normalized_rewards"}),
    Claim("DAPO: clip-higher keeps token entropy higher than a symmetric clip",
          "Yu et al. 2025, section 3.1", "entropy", "loss_mode", "clip_higher", "clipped", {}),
)
CELL_AXES = ("loss_agg", "loss_mode", "deltas_mode")  # the `sequence` preset's axes
SETTING_FIELDS = ("policy", "task", "task_min_length", "task_length", "task_vocab", "task_prompts", "max_response_length",
                  "reward_fn", "responses", "epochs", "steps_per_epoch", "lr", "epsilon", "dim", "layers", "heads")
CLAIM_CURVES = {"incorrect_length": "length of incorrect responses (tokens, EOS included)",
                 "entropy": "token entropy (nats)"}


def load_final(results_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """-> (one row per configuration x seed with the cell axes and each claim metric averaged
    over the final window, one row per configuration x seed x epoch with the curve metrics,
    the fields every configuration shares)."""
    results = open_results(results_path)
    runs = results.runs[results.runs.status == "ok"]  # every reader gives a status (a train file: ok or diverged)
    missing = [axis for axis in CELL_AXES if axis not in runs or runs[axis].nunique() < 2]
    if missing:
        raise UsageError(f"{str(results_path)!r} does not vary {', '.join(missing)}; the claims need a grid like the"
                         " `sequence` preset (loss_agg x loss_mode x deltas_mode)")
    finals: list[pd.DataFrame] = []
    curves: list[pd.DataFrame] = []
    for config_id, records in results.iter_records(["epoch", *CLAIM_CURVES]):
        if config_id not in set(runs.config_id):
            continue
        cell = runs[runs.config_id == config_id].iloc[0]
        epochs = per_epoch(records).drop(columns="config_id")  # [seed x epoch rows]
        final = final_window(epochs, int(cell.epochs)).groupby("seed", as_index=False)[list(CLAIM_CURVES)].mean()
        for frame, target in ((final, finals), (epochs, curves)):
            target.append(frame.assign(**{axis: cell[axis] for axis in CELL_AXES}))
    shared = {name: runs[name].iloc[0] for name in SETTING_FIELDS if name in runs and runs[name].nunique() == 1}
    return pd.concat(finals, ignore_index=True), pd.concat(curves, ignore_index=True), shared


def contrasts(finals: pd.DataFrame) -> pd.DataFrame:
    """Each claim's paired contrast in every cell, and pooled over its cells (per seed, the mean
    of the cell differences). One row per (claim, cell)."""
    rows = []
    for claim in CLAIMS:
        chosen = finals
        for axis, level in claim.within.items():
            chosen = chosen[chosen[axis] == level]
        others = [axis for axis in CELL_AXES if axis != claim.factor and axis not in claim.within]
        wide = chosen.pivot_table(index=["seed", *others], columns=claim.factor, values=claim.metric, dropna=False)
        treatment, baseline = (wide[level].unstack(others) for level in (claim.treatment, claim.baseline))  # [seed cell]
        cells = [(" / ".join(map(str, np.atleast_1d(cell))), treatment[cell], baseline[cell]) for cell in treatment]
        cells.append(("pooled", treatment.mean(axis=1), baseline.mean(axis=1)))  # per seed, the mean over cells
        for label, a, b in cells:
            contrast = paired_contrast(a.to_numpy(), b.to_numpy())
            rows.append({"claim": claim.name, "source": claim.source, "metric": claim.metric,
                         "contrast": f"{claim.treatment} - {claim.baseline}", "cell": label,
                         "difference": contrast.difference, "low": contrast.low, "high": contrast.high,
                         "pairs": contrast.pairs})
    return pd.DataFrame(rows)


def verdict(row) -> str:
    if row.low > 0:
        return "replicates"
    if row.high < 0:
        return "contradicted"
    return "undecided"


def curve_figure(curves: pd.DataFrame, claim: Claim):
    """The claim's metric per epoch, one line per level of its factor (the other axes averaged,
    its fixed levels held): seed mean with a 95% normal band."""
    chosen = curves
    for axis, level in claim.within.items():
        chosen = chosen[chosen[axis] == level]
    per_seed = chosen.groupby([claim.factor, "seed", "epoch"], as_index=False, sort=False)[claim.metric].mean()
    grouped = per_seed.groupby([claim.factor, "epoch"], sort=False)[claim.metric]
    band = pd.DataFrame({"mean": grouped.mean(), "se": grouped.sem()}).reset_index().rename(columns={claim.factor: "level"})
    band = band.assign(low=band["mean"] - Z * band.se, high=band["mean"] + Z * band.se)
    figure = figures.level_panel(band, CLAIM_CURVES[claim.metric])
    held = ", ".join(str(level) for level in claim.within.values())
    figure.axes[0].set_title(f"{claim.metric} by {claim.factor}" + (f" ({held})" if held else ""), fontsize=10)
    return figure


def render_claims(results_path: Path, out: Path) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    """Write out/claims.md and a curve figure per claim (claims_<metric>.png) from a sweep's
    records. -> (claims.md, contrasts, runs not finished by status)"""
    finals, curves, shared = load_final(results_path)
    statuses = open_results(results_path).runs.status.value_counts()
    gaps = {status: int(count) for status, count in statuses.items() if status not in FINISHED}
    table = contrasts(finals)
    out.mkdir(parents=True, exist_ok=True)
    for claim in CLAIMS:
        figure = curve_figure(curves, claim)
        write_atomic(out / f"claims_{claim.metric}.png", lambda tmp, figure=figure: figures.save(figure, tmp))
    write_atomic(out / "claims.md", lambda tmp: tmp.write_text(claims_markdown(table, finals, shared, gaps)))
    return out / "claims.md", table, gaps


def claims_markdown(table: pd.DataFrame, finals: pd.DataFrame, shared: dict, gaps: dict[str, int]) -> str:
    """claims.md; `gaps`: status -> runs of the folder not finished (missing, failed), said first."""
    seeds = finals.seed.nunique()
    lines = ["# Two claims of the literature on the autoregressive testbed", ""]
    if gaps:
        lines += ["**INCOMPLETE**: " + ", ".join(f"{count} run(s) {status}" for status, count in sorted(gaps.items()))
                  + " of the grid: the contrasts below pair only the seeds finished in both arms.", ""]
    lines += ["Setting: " + ", ".join(f"{name} {value}" for name, value in shared.items()) + ". The claims were made"
             " on LLMs with a binary outcome reward and responses of thousands of tokens; here the reward may be"
             " dense, responses are a few tokens long and the policy is trained from scratch, so a claim that does"
             " not replicate here is a statement about this testbed.", "",
             f"Paired contrasts over {seeds} seeds (each arm from the same initial weights and random stream), mean of"
             " the per-seed differences over the final window with a 95% paired bootstrap interval"
             f" (grpo.report.stats.paired_contrast, {RESAMPLES:,} resamples). Verdict from the pooled contrast: *replicates* if its"
             " interval lies on the claimed side of 0, *contradicted* if on the other, else *undecided*.", ""]
    for claim in CLAIMS:
        rows = table[table.claim == claim.name]
        pooled = rows[rows.cell == "pooled"].iloc[0]
        lines += [f"## {claim.name} ({claim.source})", "",
                  f"**{verdict(pooled)}**: `{claim.metric}`, {pooled.contrast}"
                  + (f" ({', '.join(f'{k} {v}' for k, v in claim.within.items())})" if claim.within else "")
                  + f", pooled over cells: {pooled.difference:+.3f} [{pooled.low:+.3f}, {pooled.high:+.3f}].", "",
                  "| cell | difference | 95% interval | seeds |", "|---|---|---|---|"]
        lines += [f"| {row.cell} | {row.difference:+.3f} | [{row.low:+.3f}, {row.high:+.3f}] | {row.pairs} |"
                  for row in rows.itertuples()]
        lines.append("")
    levels = finals.groupby(list(CELL_AXES))[list(CLAIM_CURVES)].mean().round(3).reset_index()
    lines += ["## Final-window means per configuration", "", markdown_table(levels)]
    lines += [""] + [f"![{CLAIM_CURVES[claim.metric]} by {claim.factor}](claims_{claim.metric}.png)" for claim in CLAIMS]
    lines.append("")
    return "\n".join(lines)
