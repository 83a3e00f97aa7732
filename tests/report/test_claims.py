"""The two claims' paired contrasts on hand-made final-window numbers."""

import itertools

import numpy as np
import pandas as pd
import pytest

from grpo.report.claims import CELL_AXES, CLAIMS, claims_markdown, contrasts, verdict

LEVELS = {"loss_agg": ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"],
          "loss_mode": ["clipped", "clip_higher"], "deltas_mode": ["normalized_rewards", "centered_rewards"]}


def finals(incorrect_length, entropy, seeds=6):
    """One row per configuration x seed; the metrics are functions of (cell, seed)."""
    rows = []
    for cell in itertools.product(*LEVELS.values()):
        cell = dict(zip(CELL_AXES, cell))
        for seed in range(seeds):
            rows.append({**cell, "seed": seed, "incorrect_length": incorrect_length(cell, seed),
                         "entropy": entropy(cell, seed)})
    return pd.DataFrame(rows)


def test_contrasts_are_paired_differences_in_each_cell_and_pooled():
    noise = np.random.default_rng(0).normal(size=6)  # a per-seed level shared by every configuration: pairing removes it
    grow = {"seq_mean_token_mean": 1.0, "seq_mean_token_sum_norm": 0.5, "token_mean": 0.0}
    table = contrasts(finals(lambda cell, seed: 4 + noise[seed] + grow[cell["loss_agg"]] * (cell["loss_mode"] == "clipped"),
                             lambda cell, seed: 0.3 + noise[seed] - 0.1 * (cell["loss_mode"] == "clip_higher")))
    dr_grpo, dapo = (table[table.claim == claim.name].set_index("cell") for claim in CLAIMS)
    # Dr. GRPO's contrast holds deltas_mode at normalized_rewards; its cells are the clip modes
    assert list(dr_grpo.index) == ["clip_higher", "clipped", "pooled"]
    assert dr_grpo.difference.tolist() == pytest.approx([0.0, 0.5, 0.25])
    assert dr_grpo.loc["clipped", ["low", "high"]].tolist() == pytest.approx([0.5, 0.5])  # every seed differs by 0.5
    assert verdict(dr_grpo.loc["pooled"]) == "replicates" and verdict(dr_grpo.loc["clip_higher"]) == "undecided"
    # DAPO's contrast runs over every (loss_agg, deltas_mode) cell
    assert len(dapo) == 3 * 2 + 1 and dapo.difference.tolist() == pytest.approx([-0.1] * 7)
    assert verdict(dapo.loc["pooled"]) == "contradicted" and (dapo.pairs == 6).all()


def test_claims_md_says_first_when_its_data_is_incomplete():
    data = finals(lambda cell, seed: 4.0 + seed, lambda cell, seed: 0.3)
    table = contrasts(data)
    text = claims_markdown(table, data, {"policy": "transformer"}, {"missing": 3, "failed": 1})
    assert text.splitlines()[2] == ("**INCOMPLETE**: 1 run(s) failed, 3 run(s) missing of the grid: the contrasts below"
                                    " pair only the seeds finished in both arms.")
    assert "INCOMPLETE" not in claims_markdown(table, data, {"policy": "transformer"}, {})
