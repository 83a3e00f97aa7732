"""The report of a grid (a design grid, its sensitivity cells and tuning): compute (paired
statistics per configuration, factor and interaction), robustness (each finding across the
cells), figures, findings (one function per finding), text (report.md) and report (the folder)."""

from grpo.report._data import Completeness
from grpo.report.grid._compute import Robustness, Tables, compute
from grpo.report.grid._figures import draw_figures
from grpo.report.grid._findings import FINDINGS, findings
from grpo.report.grid._report import render, write
from grpo.report.grid._robustness import VERDICTS, verdict, with_robustness
from grpo.report.grid._text import narrative

__all__ = ["FINDINGS", "VERDICTS", "Completeness", "Robustness", "Tables", "compute", "draw_figures", "findings",
           "narrative", "render", "verdict", "with_robustness", "write"]
