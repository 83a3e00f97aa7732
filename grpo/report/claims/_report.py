"""The claims report's folder: each claim tested on its sweep (its figure written as it goes),
then report.md, through the one folder writer."""

import time
from pathlib import Path

from grpo.experiment.claims import Claim
from grpo.report._folder import write_figure, write_text
from grpo.report.claims._compute import ClaimOutcome, MissingSweep, SweepCost, contrasts, headline, load_claim, measure_mechanism, verdict
from grpo.report.claims._figures import curve_figure
from grpo.report.claims._text import report_markdown


def test_claim(claim: Claim, results_root: Path, out: Path) -> ClaimOutcome:
    """Read, contrast, measure and draw one claim; its figure goes to OUT/<claim>.png."""
    start = time.perf_counter()
    data = load_claim(claim, results_root)
    table = contrasts(data)
    measurement = measure_mechanism(data, results_root)
    figure = curve_figure(data, measurement)
    name = f"{claim.name}.png"
    write_figure(out, name, figure)
    return ClaimOutcome(data, table, verdict(headline(table), claim.predicted), measurement, name,
                        time.perf_counter() - start)


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
    write_text(out, "report.md", report_markdown(outcomes, not_run, sweeps or {}, load))
    return out / "report.md", outcomes, not_run
