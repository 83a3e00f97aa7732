"""The claims report's folder: each claim tested on its sweep (its figure written as it goes),
then report.md, through the one folder writer."""

import time
from pathlib import Path

from grpo.experiment.claims import Claim
from grpo.report._folder import write_figure, write_text
from grpo.report.claims._compute import (
    ClaimOutcome,
    MissingSweep,
    SweepCost,
    contrasts,
    headline,
    load_claim,
    measure_mechanism,
    with_measured_scores,
    with_verdicts,
)
from grpo.report.claims._figures import curve_figure
from grpo.report.claims._text import report_markdown


def test_claim(claim: Claim, results_root: Path) -> ClaimOutcome:
    """Read, contrast and measure one claim; its verdict and figure (OUT/<claim>.png, drawn by
    `draw_claim`) wait for the report's other claims (Holm over them: with_verdicts)."""
    start = time.perf_counter()
    data = load_claim(claim, results_root)
    measurement = measure_mechanism(data, results_root)
    if claim.summary == "measured":
        data = with_measured_scores(data, measurement)
    table = contrasts(data)
    return ClaimOutcome(data, table, measurement, f"{claim.name}.png", time.perf_counter() - start)


def draw_claim(outcome: ClaimOutcome, out: Path) -> None:
    """OUT/<claim>.png: the claim's curves titled with its question and, under it, its verdict."""
    start = time.perf_counter()
    row = headline(outcome.table)
    numbers = (f"{row.difference:+.3g} [{row.low:+.3g}, {row.high:+.3g}], p_holm {outcome.p_holm:.2g}, MDE {row.mde:.3g}"
               if outcome.verdict != "not measured" else "the contrast has no number on these runs")
    write_figure(out, outcome.figure, curve_figure(outcome.data, outcome.measurement, outcome.verdict, numbers))
    outcome.seconds += time.perf_counter() - start


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
            outcomes.append(test_claim(claim, results_root))
        except MissingSweep as missing:
            not_run[claim.name] = str(missing)
        if on_claim:
            on_claim(claim, outcomes[-1] if claim.name not in not_run else not_run[claim.name])
    for outcome in with_verdicts(outcomes):
        draw_claim(outcome, out)
    write_text(out, "report.md", report_markdown(outcomes, not_run, sweeps or {}, load))
    return out / "report.md", outcomes, not_run
