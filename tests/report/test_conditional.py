"""Conditional effects and three-way interactions on a hand-made 2 x 2 x 2 grid whose answers
are known: success = 0.01 + 0.1 a + 0.2 a b + 0.3 a b c, plus a per-seed level and a little noise."""

import itertools

import numpy as np
import pandas as pd
import pytest

from grpo.report.grid._compute import factor_effects
from grpo.report.grid._conditional import conditional_effects, three_way_interactions

SEEDS = list(range(24))
AXES = {"a": [0, 1], "b": [0, 1], "c": [0, 1]}
REFERENCES = {"a": 0, "b": 0, "c": 0}


@pytest.fixture(scope="module")
def grid():
    rng = np.random.default_rng(0)
    level = rng.normal(0, 0.003, len(SEEDS))  # shared by every configuration of a seed: pairing removes it
    configs = pd.DataFrame([{"config_id": f"{a}{b}{c}", "a": a, "b": b, "c": c}
                            for a, b, c in itertools.product([0, 1], repeat=3)]).set_index("config_id")
    scores = pd.DataFrame([0.01 + 0.1 * r.a + 0.2 * r.a * r.b + 0.3 * r.a * r.b * r.c + level
                           + rng.normal(0, 0.001, len(SEEDS)) for r in configs.itertuples()],
                          index=configs.index, columns=SEEDS)  # [config seed]
    return scores, configs


def test_the_three_way_interaction_is_the_difference_of_two_way_interactions(grid):
    scores, configs = grid
    rows = three_way_interactions(scores, configs, AXES, REFERENCES, SEEDS)
    assert len(rows) == 1 and rows.decisive.all()
    assert rows.difference.iloc[0] == pytest.approx(0.3, abs=0.002)  # (0.6 - 0 - 0 + 0) - (0.3 - 0 - 0 + 0)
    by_hand = (scores.loc["111"] - scores.loc["011"] - scores.loc["101"] + scores.loc["001"]
               - scores.loc["110"] + scores.loc["010"] + scores.loc["100"] - scores.loc["000"]).mean()
    assert rows.difference.iloc[0] == pytest.approx(by_hand)


def test_a_main_effect_within_each_level_of_a_factor_it_interacts_with(grid):
    scores, configs = grid
    _, interactions = factor_effects(scores, configs, AXES, REFERENCES, SEEDS)
    assert interactions.set_index(["factor", "factor_b"]).decisive[("a", "b")]
    rows = conditional_effects(scores, configs, AXES, REFERENCES, SEEDS, interactions)
    a_within_b = rows[(rows.factor == "a") & (rows.within == "b")].set_index("at")
    assert a_within_b.difference[0] == pytest.approx(0.1, abs=0.002)  # b = 0: 0.1 alone
    assert a_within_b.difference[1] == pytest.approx(0.1 + 0.2 + 0.3 / 2, abs=0.002)  # b = 1, averaged over c
    b_within_a = rows[(rows.factor == "b") & (rows.within == "a")].set_index("at")
    assert b_within_a.near_zero[0] == 2 and b_within_a.cells[0] == 2  # a = 0: both arms at 0.01 in both c cells
    assert b_within_a.near_zero[1] == 0 and b_within_a.decisive[1]
    assert rows.p_holm.to_numpy() == pytest.approx(np.minimum(1, np.maximum.accumulate(
        (len(rows) - np.arange(len(rows))) * np.sort(rows.p.to_numpy())))[np.argsort(np.argsort(rows.p.to_numpy(),
                                                                                               kind="stable"))])
    main, _ = factor_effects(scores, configs, AXES, REFERENCES, SEEDS)
    assert main.set_index("factor").near_zero["b"] == 2  # of the four (a, c) cells: a = 0 at both c
