"""Claims' paired contrasts, verdicts and minimum detectable effects on hand-made numbers, and
the Dr. GRPO mechanism's token weights against their formula."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from grpo.core.config import TrainConfig
from grpo.experiment.canaries import CLAIMS
from grpo.report._stats import holm, minimum_detectable_effect, seeds_needed
from grpo.report.claims import ClaimData, ClaimOutcome, contrasts, regime_held, verdict, with_verdicts
from grpo.report.mechanisms import Measurement, slope, token_weights

SEEDS = 6


def data(claim_name: str, value, cells=("a", "b")) -> ClaimData:
    """Scores for every (arm, cell, seed) from value(arm, cell, seed)."""
    rows = [{"arm": arm, "cell": cell, "seed": seed, "value": value(arm, cell, seed), "mechanism": np.nan}
            for arm in ("treatment", "baseline") for cell in cells for seed in range(SEEDS)]
    return ClaimData(CLAIMS[claim_name], pd.DataFrame(rows), pd.DataFrame(), list(cells), {}, {}, 0.0, len(rows))


def test_contrasts_are_paired_differences_in_each_cell_and_pooled_with_their_mde():
    noise = np.random.default_rng(0).normal(size=SEEDS)  # a per-seed level shared by both arms: pairing removes it
    spread = np.arange(SEEDS) / 10  # the per-seed difference in cell b varies
    table = contrasts(data("dr-grpo-sequence", lambda arm, cell, seed: 4 + noise[seed] + (arm == "treatment") * (
        0.5 if cell == "a" else 0.2 + spread[seed]))).set_index("cell")
    assert list(table.index) == ["a", "b", "pooled"]
    assert table.difference.tolist() == pytest.approx([0.5, 0.2 + spread.mean(), (0.7 + spread.mean()) / 2])
    assert table.loc["a", ["low", "high", "sd", "mde"]].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])
    sd = np.std(spread / 2, ddof=1)  # pooled: per seed the mean of the two cells' differences
    assert table.loc["pooled", "mde"] == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * sd / np.sqrt(SEEDS))
    assert table.loc["pooled", "p"] < 0.01
    assert verdict(table.loc["pooled"], 1, 0.01) == "replicates" and verdict(table.loc["pooled"], -1, 0.01) == "contradicted"


def test_a_contrast_centred_on_zero_is_tied_within_its_mde_whatever_the_prediction():
    table = contrasts(data("dapo-sequence", lambda arm, cell, seed: (arm == "treatment") * (-1) ** seed, cells=("all",)))
    assert list(table.cell) == ["all"]  # one cell: no pooled row
    assert table.iloc[0].low < 0 < table.iloc[0].high
    assert table.iloc[0].difference == 0 and table.iloc[0].mde > 1.645 * table.iloc[0].se
    assert verdict(table.iloc[0], 1, table.iloc[0].p) == verdict(table.iloc[0], -1, table.iloc[0].p) == "tied"
    narrow = table.iloc[0].copy()
    narrow["mde"] = narrow.se  # a margin of one standard error: neither bound holds
    assert verdict(narrow, 1, narrow.p) == verdict(narrow, -1, narrow.p) == "undecided"


def test_the_minimum_detectable_effect_inverts_seeds_needed():
    mde = minimum_detectable_effect(0.3, 32)
    assert mde == pytest.approx(2.8016 * 0.3 / np.sqrt(32), rel=1e-4)
    assert seeds_needed(0.3, mde * 1.0001) == 32
    assert minimum_detectable_effect(0.3, 1) == float("inf")


@pytest.mark.parametrize("loss_agg, expected_slope", [("seq_mean_token_mean", -1.0), ("seq_mean_token_sum_norm", 0.0)])
def test_token_weights_are_the_aggregations_gradients(loss_agg, expected_slope):
    """Per token of response i in a batch of B prompts x G responses: |delta_i| / (|o_i| B G)
    under the per-response mean, |delta_i| / (L B G) under the constant normaliser (L the
    maximum length)."""
    config = TrainConfig(policy="transformer", task="variable", task_length=3, task_prompts=8, task_heldout=4,
                         max_response_length=10, reward_fn="exact_match", responses=8, loss_agg=loss_agg,
                         deltas_mode="centered_rewards", dim=8, heads=2)
    lengths, weights = token_weights(config, seeds=range(64))
    assert len(lengths) > 10
    # centred exact_match deltas of an incorrect response: minus the group's success rate k/8, k in 1..7
    denominator = lengths if loss_agg == "seq_mean_token_mean" else np.full_like(lengths, 10.0)
    successes = weights * denominator * 8 * 8 * 8  # k, the correct responses of its group
    assert successes == pytest.approx(np.round(successes), abs=1e-4) and (1 <= np.round(successes)).all()
    assert slope(lengths, weights * 8 / np.round(successes) * 8 * 8) == pytest.approx(expected_slope, abs=1e-6)


def test_the_kl_study_names_each_arms_penalty():
    from grpo.report.mechanisms import study_estimator

    assert study_estimator(TrainConfig(kl_penalty=0.1, kl_estimator="k1", kl_placement="reward")) == "k1_in_reward"
    assert study_estimator(TrainConfig(kl_penalty=0.1, kl_estimator="k3_corrected")) == "k3_corrected"


def test_zero_advantage_groups_reads_the_arms_records(tmp_path):
    """Dynamic sampling's mechanism on a tiny sweep: the baseline samples once per rollout, the
    treatment between 1 and 1 + 4 rounds; both means are the records' own."""
    import dataclasses

    from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

    from grpo.experiment.results import open_results, per_epoch
    from grpo.report.mechanisms import zero_advantage_groups

    text = "\n".join(["seeds = 3", "[grid]", 'task = "random"', "task_length = 3", "task_vocab = 3", "task_prompts = 4",
                      "task_heldout = 4", 'reward_fn = "exact_match"', "responses = 4", "epochs = 3",
                      "steps_per_epoch = 1", "dynamic_sampling = [0, 4]"]) + "\n"
    folder = build_results(tmp_path, "ds", text)
    (tmp_path / "ds.toml").write_text(text)
    claim = dataclasses.replace(CLAIMS["dapo-dynamic-sampling"], grid=str(tmp_path / "ds.toml"))
    measured = zero_advantage_groups(claim, tmp_path).numbers
    results = open_results(folder)
    by_rounds = {}
    for config_id, records in results.iter_records(["epoch", "equal_reward_frac", "sampling_rounds"]):
        epochs = per_epoch(records)
        by_rounds[int(results.runs[results.runs.config_id == config_id].dynamic_sampling.iloc[0])] = epochs
    assert measured["sampling_rounds_baseline"] == 1.0
    assert 1.0 <= measured["sampling_rounds_treatment"] <= 5.0
    assert measured["sampling_rounds_treatment"] == pytest.approx(by_rounds[4].sampling_rounds.mean())
    assert measured["equal_reward_frac_baseline"] == pytest.approx(by_rounds[0].equal_reward_frac.mean())


def row(difference, se, mde, p=0.5):
    return pd.Series({"difference": difference, "se": se, "mde": mde, "p": p})


def test_tied_only_where_the_equivalence_test_holds_else_non_inferior_or_undecided():
    """gspo-vs-clipped's numbers: +0.00637 [-0.000256, +0.0129], MDE 0.0095 (se about 0.0033): its
    interval's upper end exceeds the MDE, so not tied; above -MDE on the predicted side: non-inferior."""
    assert verdict(row(0.00637, 0.0033, 0.0095), 1, 0.1) == "non-inferior"
    assert verdict(row(0.001, 0.002, 0.0095), 1, 0.6) == "tied"  # 0.001 ± 1.645 * 0.002 within ±0.0095
    assert verdict(row(-0.00637, 0.0033, 0.0095), 1, 0.1) == "undecided"  # could be 0.0095 worse
    assert verdict(row(0.001, 0.002, 0.0095), 1, 0.6, regime_held=False) == "regime failed"
    assert verdict(row(0.02, 0.002, 0.0095), 1, 0.001, regime_held=False) == "replicates"  # decisive stays decisive


def test_a_contrast_without_a_number_is_not_measured_and_outside_the_holm_family():
    """A ScaleRL fit whose asymptote is not identified leaves the contrast NaN: 'not measured' (not
    'undecided'), whatever the other arguments say, and Holm adjusts only the claims with a p."""
    assert verdict(row(float("nan"), float("nan"), float("inf"), p=float("nan")), 0, float("nan")) == "not measured"
    assert verdict(row(float("nan"), 0.01, 0.02), 1, 0.001, regime_held=True) == "not measured"
    adjusted = holm([0.01, float("nan"), 0.04])
    assert np.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)


def test_regime_failed_on_constructed_mechanism_numbers():
    """dapo-clip-higher's mechanism, clip_high_low_prob_frac, 0.6748 vs 0.6792: below its declared
    minimum difference (0.05), so the clip-higher regime had no room: 'regime failed', not 'undecided'."""
    claim = CLAIMS["dapo-clip-higher"]
    assert claim.mechanism.minimum_difference == 0.05
    assert regime_held(claim, Measurement("", {"treatment": 0.6748, "baseline": 0.6792})) is False
    assert regime_held(claim, Measurement("", {"treatment": 0.60, "baseline": 0.6792})) is True
    assert regime_held(claim, Measurement("", {})) is None  # not measured: not checked
    gspo = CLAIMS["gspo-vs-clipped"]  # a column mechanism: treatment and baseline
    assert regime_held(gspo, Measurement("", {"treatment": 0.05126, "baseline": 0.01037})) is True
    dr = CLAIMS["dr-grpo-std"]
    assert regime_held(dr, Measurement("", {"slope_treatment": -0.001, "slope_baseline": -0.002})) is False


def test_holm_runs_over_the_claims_of_one_report():
    """Ten claims, two of them at p 0.021 and 0.018, one at 0.6, the others far smaller: Holm lifts
    0.018 to 3 * 0.018 = 0.054 (8th smallest of 10) and 0.021 to max(0.054, 2 * 0.021) = 0.054;
    the verdicts follow the adjusted p, not the raw one."""
    ps = [1e-6, 1e-7, 0.021, 1e-5, 0.018, 1e-8, 1e-9, 1e-4, 1e-3, 0.6]
    outcomes = []
    for i, p in enumerate(ps):
        table = pd.DataFrame([{"cell": "all", "difference": 0.01, "se": 0.004, "mde": 0.011, "p": p,
                               "low": 0.0, "high": 0.02, "pairs": 32}])
        claim = CLAIMS["gspo-vs-clip-higher"]
        outcomes.append(ClaimOutcome(ClaimData(claim, pd.DataFrame(), pd.DataFrame(), ["all"], {}, {}, 0.0, 0),
                                     table, Measurement("", {"treatment": 0.05, "baseline": 0.01}), f"{i}.png", 0.0))
    with_verdicts(outcomes)
    order = np.argsort(ps)
    by_hand = np.maximum.accumulate(np.minimum(1, (len(ps) - np.arange(len(ps))) * np.array(ps)[order]))
    np.testing.assert_allclose([outcomes[i].p_holm for i in order], by_hand)
    assert outcomes[4].p_holm == pytest.approx(0.018 * 3) and outcomes[2].p_holm == pytest.approx(0.054)
    assert outcomes[2].verdict == outcomes[4].verdict == "non-inferior"  # 0.021 and 0.018 alone would replicate
    assert outcomes[0].verdict == "replicates" and outcomes[9].verdict == "non-inferior"
