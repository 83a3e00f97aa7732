"""The report of a random study (grpo.report.random_study) on hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from grpo.experiment.random_study import Choice
from grpo.report.random_study import _compute as wide


def test_the_conditional_percentile_and_its_binomial_interval():
    """Scores 1..100: x_(95) = 95; Binomial(100, 0.95) has P(B <= 89) = 0.0115 and P(B <= 90) = 0.0282, so
    the lower rank is 90; P(B <= 98) = 0.963 and P(B <= 99) = 0.9941, so the upper rank is 100;
    coverage P(90 <= B <= 99) = 0.9941 - 0.0115."""
    p95, low, high, coverage = wide.conditional_percentile(np.arange(100, 0, -1))  # order does not matter
    assert (p95, low, high) == (95, 90, 100)
    assert coverage == pytest.approx(0.9941 - 0.0115, abs=5e-4)


def test_few_scores_give_a_short_interval_and_say_its_coverage():
    """n = 5: x_(5) is the estimate; Binomial(5, 0.95) puts 0.204 on 4 and 0.774 on 5: [x_(4), x_(5)] covers 0.204."""
    p95, low, high, coverage = wide.conditional_percentile([0.1, 0.2, 0.3, 0.4, 0.5])
    assert (p95, low, high) == (0.5, 0.4, 0.5)
    assert coverage == pytest.approx(0.2036, abs=1e-3)
    assert np.isnan(wide.conditional_percentile([])[0])


def test_the_top_share_against_the_sampling_share():
    """40 configurations: the top 5% are the 2 best (0.95 and 0.9, both with level a); a's top share 2/2
    against a sampling share of 16/32 (the 8 configurations where the choice does not apply are left
    out); Clopper-Pearson for 2 of 2 is [0.158, 1]."""
    scores = pd.Series([0.95, 0.9, *np.linspace(0.0, 0.5, 38)])
    levels = pd.Series(["a", "a", *["a"] * 14, *["b"] * 16, *[None] * 8])
    top = wide.top_mask(scores)
    assert top.sum() == 2 and top.iloc[:2].all()
    shares = wide.top_share(levels, top).set_index("level")
    assert shares.loc["a", "n"] == 16 and shares.loc["b", "n"] == 16
    assert shares.loc["a", "sample_share"] == 0.5 and shares.loc["a", "top_share"] == 1.0
    assert shares.loc["b", "top_share"] == 0.0
    assert shares.loc["a", "top_low"] == pytest.approx(0.1581, abs=1e-3) and shares.loc["a", "top_high"] == 1.0


def test_ties_at_the_threshold_are_taken_in_a_seeded_random_order():
    scores = pd.Series([1.0] + [0.5] * 30 + [0.0] * 9)  # top 5% of 40: the 1.0 and one of the thirty 0.5s
    top = wide.top_mask(scores)
    assert top.sum() == 2 and top.iloc[0] and top.iloc[1:31].sum() == 1
    assert top.equals(wide.top_mask(scores))


def test_levels_of_a_range_are_bins_on_its_own_scale_and_explicit_values_stand_alone():
    kl = Choice("kl_penalty", (0.0,), "loguniform", 1e-3, 1e-1)
    assert wide.level_order(kl) == [0.0, "[0.001, 0.0032)", "[0.0032, 0.01)", "[0.01, 0.032)", "[0.032, 0.1)"]
    assert wide.level_of(kl, 0.0) == 0.0 and wide.level_of(kl, 0.005) == "[0.0032, 0.01)" and wide.level_of(kl, 0.1) == "[0.032, 0.1)"
    assert wide.level_of(kl, None) is None


def synthetic(n=1000, seed=0):
    """Records built so that only `loss` matters: success 0.8 with loss 'x', 0.2 otherwise, plus small noise;
    `deltas` and `lr` are drawn but irrelevant."""
    rng = np.random.default_rng(seed)
    choices = {"loss": Choice("loss", ("x", "y", "z")), "deltas": Choice("deltas", ("p", "q", "r", "s")),
               "lr": Choice("lr", (), "loguniform", 1e-4, 1e-1)}
    loss, deltas = rng.choice(["x", "y", "z"], n), rng.choice(["p", "q", "r", "s"], n)
    lr = np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), n))
    success = np.where(loss == "x", 0.8, 0.2) + rng.normal(0, 0.05, n)
    table = pd.DataFrame({"success": success})
    for name, values in {"loss": loss, "deltas": deltas, "lr": lr}.items():
        levels = [wide.level_of(choices[name], value.item()) for value in values]
        table[name], table[f"{name}:drawn"] = values, values
        table[f"{name}:level"] = table[f"{name}:drawn_level"] = levels
    return table, choices


def test_the_importance_ranking_recovers_the_one_choice_that_matters(monkeypatch):
    monkeypatch.setattr(wide, "IMPORTANCE_RESAMPLES", 10)
    monkeypatch.setattr(wide, "INTERACTION_RESAMPLES", 20)
    table, choices = synthetic()
    importance, interactions = wide.importance_rows(table, choices)
    first, rest = importance.iloc[0], importance.iloc[1:]
    assert first.choice == "loss" and first["rank"] == 1
    assert first.ped_anova_low > rest.ped_anova_high.max()  # intervals apart
    assert first.eta2 > 0.9 and first.eta2_low > rest.eta2_high.max()
    assert interactions.share.max() < 0.05  # nothing interacts
    levels = wide.level_rows(table, choices)
    over = levels[levels.top == "over-represented"]
    assert over[["choice", "level"]].values.tolist() == [["loss", "x"]]  # the one recommended value


def test_sensitivity_curve_follows_a_value_that_matters():
    rng = np.random.default_rng(1)
    choice = Choice("lr", (), "loguniform", 1e-4, 1e-1)
    lr = np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), 400))
    table = pd.DataFrame({"lr": lr, "success": (np.log10(lr) + 4) / 3})  # 0 at 1e-4, 1 at 1e-1
    curve = wide.sensitivity_curves(table, {"lr": choice})
    assert curve["mean"].is_monotonic_increasing
    assert (curve.low <= curve["mean"] + 1e-6).all() and (curve["mean"] <= curve.high + 1e-6).all()


def test_agreement_with_the_full_grid():
    levels = pd.DataFrame([
        {"choice": "deltas_mode", "level": "normalized_rewards", "top": "over-represented"},
        {"choice": "deltas_mode", "level": "rewards", "top": "under-represented"},
        {"choice": "loss_mode", "level": "clipped", "top": "over-represented"},
        {"choice": "loss_mode", "level": "unclipped", "top": "neither"},
        {"choice": "reward_fn", "level": "pairwise_order", "top": "over-represented"},
        {"choice": "responses", "level": "8", "top": "neither"},
        {"choice": "responses", "level": "16", "top": "over-represented"},
        {"choice": "kl_penalty", "level": "0", "top": "neither"}])
    full = pd.DataFrame([
        {"factor": "deltas_mode", "level": "normalized_rewards", "reference": "rewards", "difference": 0.14, "low": 0.11,
         "high": 0.16, "decisive": True},
        {"factor": "loss_mode", "level": "unclipped", "reference": "naive", "difference": 0.015, "low": 0.008, "high": 0.02,
         "decisive": True},
        {"factor": "loss_mode", "level": "clipped", "reference": "naive", "difference": -0.04, "low": -0.05, "high": -0.03,
         "decisive": True},
        {"factor": "reward_fn", "level": "sort_distance", "reference": "sort_inclusion_ordering", "difference": 0.06,
         "low": 0.04, "high": 0.08, "decisive": True},
        {"factor": "responses", "level": "8", "reference": "10", "difference": 0.02, "low": 0.01, "high": 0.03,
         "decisive": True},
        {"factor": "kl_penalty", "level": "0.01", "reference": "0.0", "difference": 0.006, "low": -0.0001, "high": 0.013,
         "decisive": False}])
    choices = {"deltas_mode": Choice("deltas_mode", ("rewards", "normalized_rewards")),
               "loss_mode": Choice("loss_mode", ("naive", "unclipped", "clipped")),
               "kl_penalty": Choice("kl_penalty", (0.0,), "loguniform", 1e-3, 0.3),
               "reward_fn": Choice("reward_fn", ("pairwise_order",)), "responses": Choice("responses", (8, 16))}
    verdicts = wide.agreement(levels, choices, full).set_index("factor").verdict
    assert verdicts.to_dict() == {"deltas_mode": "agree", "loss_mode": "disagree", "reward_fn": "full's best is not sampled here",
                                  "kl_penalty": "agree: neither decisive",
                                  "responses": "undecided: the values recommended here were not in full"}
