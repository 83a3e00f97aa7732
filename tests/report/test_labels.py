"""The report names the primary outcome `success` on its figures' axes as in its text, and says
why the KL curves are a sawtooth."""

import matplotlib.pyplot as plt
from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

from grpo.cli import main
from grpo.experiment.results import PRIMARY, PRIMARY_SOURCE, open_results
from grpo.report import load
from grpo.report.grid import compute, draw_figures

GRID = """seeds = 2
[grid]
kl_penalty = [0.0, 0.1]
ref_period = 2
epochs = 4
steps_per_epoch = 1
"""


def test_success_axes_say_success_and_the_kl_sawtooth_is_explained(tmp_path):
    folder = build_results(tmp_path, "labels", GRID)
    pictures = draw_figures(compute(load(open_results(folder))))
    try:
        labels = [ax.get_ylabel() for ax in pictures["success_curves.png"].axes if ax.get_ylabel()]
        assert labels and all(label.startswith(PRIMARY) and PRIMARY_SOURCE not in label for label in labels)
        assert PRIMARY_SOURCE not in pictures["success_effect_curves.png"]._suptitle.get_text()
        assert "refreshed every ref_period" in pictures["kl_curves.png"]._suptitle.get_text()
    finally:
        for figure in pictures.values():
            plt.close(figure)
    assert main(["report", str(folder), "--out", str(tmp_path / "reports")]) == 0
    text = (tmp_path / "reports" / "labels" / "report.md").read_text()
    assert "![kl_curves.png](kl_curves.png)\n\nThe KL curves are a sawtooth by design: every ref_period epochs" in text
