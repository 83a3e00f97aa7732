"""Exact ties among tuning candidates are named as ties: the choice (the candidate listed first)
is marked tied, its stability is undefined and no edge is named. They used to read "stability
1.00" and "lr lowest", as if the objective had chosen the lowest learning rate every time."""

import numpy as np
import pandas as pd

from grpo.cli import main
from grpo.core.train import train
from grpo.experiment.grids import parse_grid
from grpo.experiment.tuning import select

TIED = """seeds = 3
[grid]
loss_mode = ["naive", "clipped"]
epochs = 3
steps_per_epoch = 2

[tuning]
lr = [1e-3, 1e-2, 3e-2]
seeds = "100-102"
"""


def flat(config, seeds):
    """Real records whose success is 0.5 in every run: every candidate scores the same."""
    return train(config, seeds).assign(sorted_frac=np.float32(0.5))


def test_a_tied_selection_names_no_edge():
    grid = parse_grid("tied", TIED)
    table = pd.DataFrame(0.5, index=pd.MultiIndex.from_product([list(grid.arms()), range(3)], names=["arm", "candidate"]),
                         columns=list(grid.tuning.seeds))
    selection = select(table, grid)
    assert (selection.choice == 0).all() and (selection.edge == "").all()
    assert (selection.tied == "lr 0.01; lr 0.03").all()
    table.loc[(slice(None), 2), :] = 0.6  # lr 0.03 wins outright: the edge is named again
    assert (select(table, grid).edge == "lr highest").all()


def test_the_report_calls_tied_choices_tied_with_undefined_stability(tmp_path, capsys, in_process_sweep):
    run, _ = in_process_sweep
    (tmp_path / "tied.toml").write_text(TIED)
    run(tmp_path / "tied.toml", tmp_path / "results", records=flat)
    assert main(["report", str(tmp_path / "results" / "tied"), "--out", str(tmp_path / "reports")]) == 0
    tuning = pd.read_csv(tmp_path / "reports" / "tied" / "tuning.csv")
    assert tuning.stability.isna().all() and tuning.edge.isna().all()
    assert (tuning["tied with"] == "lr 0.01; lr 0.03").all()
    text = (tmp_path / "reports" / "tied" / "report.md").read_text()
    assert "2 tied (the candidate listed first taken" in text and "stability undefined" in text
    assert "stability 1.00" not in text
