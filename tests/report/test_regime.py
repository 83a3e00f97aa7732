import numpy as np
import pandas as pd
import pytest

from grpo.report.grid._regime import (
    about,
    compare_with_full,
    equal_sample_contrasts,
    late_slopes,
    trial_cost,
    value_at_samples,
    without_counterpart,
)


def hand_made_curves():
    """Arm "a" (dynamic_sampling 0) samples 10 responses an epoch, success 0.01 per response
    sampled; arm "b" (dynamic_sampling 4) samples 20 an epoch, success 0.3 + 0.002 per response;
    seed s adds 0.01 s to both. Per epoch seen as a record would show it."""
    rows = []
    for seed in range(4):
        for epoch in range(4):
            rows.append({"config_id": "a", "seed": seed, "epoch": epoch, "samples": 10 * (epoch + 1),
                         "success": 0.01 * 10 * (epoch + 1) + 0.01 * seed})
            rows.append({"config_id": "b", "seed": seed, "epoch": epoch, "samples": 20 * (epoch + 1),
                         "success": 0.3 + 0.002 * 20 * (epoch + 1) + 0.01 * seed})
    return pd.DataFrame(rows)


def test_value_at_samples_interpolates_between_evaluated_epochs():
    values = value_at_samples(hand_made_curves(), "success", 30.0)
    assert values[("a", 0)] == pytest.approx(0.30)
    assert values[("b", 0)] == pytest.approx(0.36)  # halfway between 0.34 (20 responses) and 0.38 (40)
    assert values[("b", 3)] == pytest.approx(0.39)
    assert np.isnan(value_at_samples(hand_made_curves(), "success", 50.0)[("a", 1)])  # a never samples 50


def test_the_equal_sample_contrast_compares_arms_at_one_budget_not_one_epoch():
    curves = hand_made_curves()
    configs = pd.DataFrame({"dynamic_sampling": [0, 4]}, index=["a", "b"])
    table = equal_sample_contrasts(curves, configs, {"dynamic_sampling": [0, 4]}, {"dynamic_sampling": 0}, "success", 40.0)
    row = table.iloc[0]
    assert (row.level, row.reference, row.rate, row.reference_rate) == (4, 0, 20.0, 10.0)
    assert row.difference == pytest.approx(0.38 - 0.40) and row.pairs == 4  # at epoch 4 it would read 0.46 - 0.40
    assert row.low == pytest.approx(-0.02) and row.high == pytest.approx(-0.02)  # every seed differs by the same
    same_rate = equal_sample_contrasts(curves.assign(samples=curves.epoch + 1), configs, {"dynamic_sampling": [0, 4]},
                                       {"dynamic_sampling": 0}, "success", 2.0)
    assert same_rate.empty  # arms that sample alike compare at equal epochs already


def test_findings_say_level_or_speed_and_whether_full_carries_over():
    effects = pd.DataFrame({"factor": ["loss_mode", "kl_penalty", "reward_fn"], "level": ["clipped", 0.1, "sort_distance"],
                            "reference": ["naive", 0.0, "sort_inclusion_ordering"], "difference": [0.05, 0.01, 0.03],
                            "low": [0.02, -0.01, 0.01], "high": [0.08, 0.03, 0.05], "decisive": [True, False, True],
                            "verdict": ["robust", "not decisive", "robust"]})
    slopes = pd.DataFrame({"factor": ["loss_mode", "loss_mode", "kl_penalty", "kl_penalty", "reward_fn", "reward_fn"],
                           "level": ["naive", "clipped", 0.0, 0.1, "sort_distance", "sort_inclusion_ordering"],
                           "still_improving": [False, False, False, True, False, True]})
    full = pd.DataFrame({"factor": ["loss_mode", "kl_penalty", "reward_fn", "deltas_mode"],
                         "level": ["clipped", "0.1", "sort_distance", "max_rewards"],
                         "reference": ["naive", "0.0", "sort_inclusion_ordering", "rewards"],
                         "difference": [-0.04, 0.003, 0.06, 0.03], "low": [-0.05, -0.006, 0.04, 0.02],
                         "high": [-0.03, 0.012, 0.08, 0.04], "decisive": [True, False, True, True],
                         "verdict": ["robust", "conditional", "robust", "robust"]})
    assert about(effects, slopes).tolist() == ["level", "speed", "speed"]  # a rising arm on either side: speed
    compared = compare_with_full(effects.assign(about=about(effects, slopes)), full).set_index("factor")
    assert list(compared.index) == ["loss_mode", "kl_penalty", "reward_fn"]  # max_rewards: not in this grid
    assert compared.carries_over.tolist() == ["reverses", "not decisive in either", "carries over"]
    assert compared.loc["loss_mode", "full_difference"] == -0.04 and compared.loc["loss_mode", "difference"] == 0.05
    own = effects.assign(factor=["loss_mode", "loss_agg", "reward_fn"])  # full's seed policy reads no loss_agg
    assert without_counterpart(own, full).factor.tolist() == ["loss_agg"]
    assert without_counterpart(own, None).empty  # no full beside the report: no comparison at all


def test_late_slopes_tell_a_rising_arm_from_a_levelled_one():
    """Arm "up" gains 0.01 an epoch over the last third (plus seed noise), arm "flat" only noise;
    only the evaluated epochs (every third) count."""
    rng = np.random.default_rng(0)
    rows = []
    for config_id, gain in (("up", 0.01), ("flat", 0.0)):
        for seed in range(32):
            for epoch in range(30):
                value = 0.1 + gain * epoch + rng.normal(0, 0.01) if (epoch + 1) % 3 == 0 else np.nan
                rows.append({"config_id": config_id, "seed": seed, "epoch": epoch, "heldout_sorted_frac": value})
    configs = pd.DataFrame({"loss_mode": ["clipped", "naive"]}, index=["up", "flat"])
    slopes = late_slopes(pd.DataFrame(rows), configs, {"loss_mode": ["naive", "clipped"]}, 30).set_index("level")
    assert slopes.loc["clipped", "slope"] == pytest.approx(0.1, abs=0.01)  # per 10 epochs
    assert slopes.loc["clipped", "still_improving"] and not slopes.loc["naive", "still_improving"]
    assert slopes.loc["naive", "low"] < 0 < slopes.loc["naive", "high"]


def test_trial_cost_counts_a_grouped_trial_once_and_the_design_grids_apart():
    """Trial "t1" trained configurations a and b as one group (its wall time on each of their
    runs), "t2" configuration c; d was never trained. The design grid is a and c."""
    runs = pd.DataFrame({"config_id": ["a", "a", "b", "b", "c", "c", "d"],
                         "trial": ["t1", "t1", "t1", "t1", "t2", "t2", None],
                         "wall_s": [30.0, 30.0, 30.0, 30.0, 12.5, 12.5, np.nan]})
    assert trial_cost(runs, ["a", "c"]) == {"all": (2, 42.5), "design": (2, 42.5)}
    assert trial_cost(runs, ["c"]) == {"all": (2, 42.5), "design": (1, 12.5)}
