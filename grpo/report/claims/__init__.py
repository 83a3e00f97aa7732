"""The claims report: each claim of the literature (grpo.experiment.claims) tested on its sweep
(compute: the paired contrast, verdict and MDE; the mechanism's measurement), its figure, and
report.md with the verdicts and the cost."""

from grpo.report.claims._compute import ClaimData, ClaimOutcome, MissingSweep, SweepCost, contrasts, headline, load_claim, verdict
from grpo.report.claims._report import render_claims, test_claim
from grpo.report.claims._text import report_markdown

__all__ = ["ClaimData", "ClaimOutcome", "MissingSweep", "SweepCost", "contrasts", "headline", "load_claim",
           "render_claims", "report_markdown", "test_claim", "verdict"]
