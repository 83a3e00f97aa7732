"""From a results folder (or pytest-benchmark JSON) to a report folder: report.md, CSV tables,
figures. One entry per report kind; the public names load on first use (``import grpo.report``
imports no pandas or matplotlib):

- ``render_report(results, reports_root)``: a sweep's folder or a `grpo train --out` file, read
  once (``load`` -> ``ReportData``), rendered as a grid (grpo.report.grid) or a random study
  (grpo.report.random_study);
- ``render_claims(claims, results_root, out)``: claims of the literature on their sweeps
  (grpo.report.claims; ``SweepCost``);
- ``render_bench(json_path, out)``: the benchmarks (grpo.report.bench);
- ``export_tensorboard(results, out)``: curves as TensorBoard event files (grpo.report.export).

Layers, each report kind alike: compute (numbers, no I/O), figures (data in, figure out), text
(markdown), report (the folder, through grpo.report._folder, the one writer). The `_` modules are
internal: import from here or from a kind's package.
"""

from typing import TYPE_CHECKING

from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.report._data import ReportData, load
    from grpo.report._render import render_report
    from grpo.report.bench import render_bench
    from grpo.report.claims import SweepCost, render_claims
    from grpo.report.export import export_tensorboard

_PUBLIC = {  # module -> its public names
    "grpo.report._data": ("ReportData", "load"),
    "grpo.report._render": ("render_report",),
    "grpo.report.bench": ("render_bench",),
    "grpo.report.claims": ("SweepCost", "render_claims"),
    "grpo.report.export": ("export_tensorboard",),
}
__all__ = ["ReportData", "SweepCost", "export_tensorboard", "load", "render_bench", "render_claims", "render_report"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
