"""The report of a random study (grpo.experiment.random_study): compute (conditional
percentiles, top shares, PED-ANOVA importance), figures, text (report.md) and report (the folder)."""

from grpo.report.random_study._compute import WideTables, compute_wide, is_random_study
from grpo.report.random_study._figures import draw_figures
from grpo.report.random_study._report import render
from grpo.report.random_study._text import narrative

__all__ = ["WideTables", "compute_wide", "draw_figures", "is_random_study", "narrative", "render"]
