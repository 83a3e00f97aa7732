"""The RLVR-shaped regime's claims: their measures against hand computations and brute force,
the summaries "samples" (at an equal sample budget), "asymptote" (jackknife fits) and
"measured", the equivalence verdict of a claim that predicts no difference, and the presets."""

import dataclasses
import itertools
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from grpo.core.config import TrainConfig
from grpo.experiment.canaries import CLAIMS
from grpo.experiment.grids import load_grid
from grpo.modes.aggregation import LOSS_AGGREGATIONS
from grpo.modes.deltas import DELTAS, STD_EPS
from grpo.report._fits import saturating_curve
from grpo.report.claims import ClaimData, contrasts, load_claim, verdict
from grpo.report.claims._compute import with_measured_scores
from grpo.report.mechanisms import (
    Measurement,
    advantage_given_outcome,
    baseline_given_mixed,
    group_gradient_norms,
    jackknife_fits,
    mid_and_extreme,
    pass_rate_profile,
    rollout,
    start_policies,
)

PRESETS = Path(__file__).parents[2] / "grpo" / "presets"
REGIME = {"policy": "transformer", "task": "stream", "task_min_length": 2, "task_length": 6, "task_vocab": 5,
          "task_prompts": 12, "task_heldout": 256, "max_response_length": 8, "dim": 16, "heads": 2, "layers": 1,
          "warm_start_steps": 200, "warm_start_lr": 1e-2, "warm_start_noise": 0.2, "responses": 8,
          "steps_per_epoch": 2, "lr": 3e-3}
TINY = {**REGIME, "task_length": 3, "task_heldout": 16, "task_prompts": 4, "dim": 8, "warm_start_steps": 5,
        "responses": 4, "max_response_length": 5}


def row(difference, se, mde, p=0.5):
    return pd.Series({"difference": difference, "se": se, "mde": mde, "p": p})


def test_every_rlvr_preset_holds_the_regime_and_its_claims_name_its_levels():
    rlvr = CLAIMS.sets["rlvr"]
    assert len(rlvr) == 10 and all(name.startswith("rlvr-") for name in rlvr)
    for name in rlvr:
        claim = CLAIMS[name]
        assert claim.statement.startswith("RLVR regime"), name  # the regime named in each claim
        grid = load_grid(claim.grid)
        text = tomllib.loads((PRESETS / f"{claim.grid}.toml").read_text())["grid"]
        assert {field: text[field] for field in REGIME} == REGIME, claim.grid
        assert grid.seeds == tuple(range(32))
        arms = {arm: [c for c in grid.configs() if all(getattr(c, a) == v for a, v in claim.arm(arm).items())]
                for arm in ("treatment", "baseline")}
        assert arms["treatment"] and arms["baseline"], name
        assert claim.mechanism.measure is not None or claim.mechanism.column is not None


def test_a_claim_of_no_difference_is_supported_only_by_an_equivalence_test():
    assert verdict(row(0.001, 0.002, 0.0095), 0, 0.6) == "tied"
    assert verdict(row(0.05, 0.002, 0.0095), 0, 1e-6) == "contradicted"  # a difference where none was predicted
    assert verdict(row(0.006, 0.004, 0.0095), 0, 0.3) == "undecided"  # non-inferiority says nothing here
    assert verdict(row(0.001, 0.002, 0.0095), 0, 0.6, regime_held=False) == "regime failed"


@pytest.mark.parametrize("group", [2, 3, 4, 5])
def test_the_exact_advantage_bias_matches_brute_force_enumeration(group):
    """Every one of the 2^G reward vectors of a group weighted by its probability: the mean
    reward of the mixed groups, and each response's delta given its outcome and a mixed group,
    with the deltas written out by hand (centred; std-normalised with Bessel's std + 1e-5)."""
    for p in (0.1, 0.37, 0.5, 0.8):
        mixed_mass = mixed_mean = 0.0
        given = {(mode, correct): [0.0, 0.0] for mode in ("centered_rewards", "normalized_rewards") for correct in (0, 1)}
        for outcome in itertools.product((0, 1), repeat=group):
            rewards = np.array(outcome, dtype=float)
            if rewards.min() == rewards.max():
                continue
            probability = p ** rewards.sum() * (1 - p) ** (group - rewards.sum())
            mixed_mass += probability
            mixed_mean += probability * rewards.mean()
            centred = rewards - rewards.mean()
            deltas = {"centered_rewards": centred, "normalized_rewards": centred / (rewards.std(ddof=1) + STD_EPS)}
            for mode, values in deltas.items():
                weight, total = given[(mode, outcome[0])]
                given[(mode, outcome[0])] = [weight + probability, total + probability * values[0]]
        assert baseline_given_mixed(p, group) == pytest.approx(mixed_mean / mixed_mass, rel=1e-12)
        for (mode, correct), (weight, total) in given.items():
            assert advantage_given_outcome(p, group, mode, bool(correct)) == pytest.approx(total / weight, rel=1e-9)
    # the paper's sign: the group baseline lies above p for a hard prompt, below it for an easy one, at it for 1/2
    assert baseline_given_mixed(0.1, group) > 0.1 and baseline_given_mixed(0.9, group) < 0.9
    assert baseline_given_mixed(0.5, group) == pytest.approx(0.5)


def test_the_per_group_weight_profile_is_the_deltas_mode_by_hand():
    """Binary groups of 8 with k correct: centred, mean |delta| = 2 k (8 - k) / 64; std-normalised,
    that over Bessel's std sqrt(8/7 k/8 (1 - k/8)). Relative to k = 4: 0.4375 and 0.6614 at k = 1."""
    k = np.repeat(np.arange(9), 3)
    rewards = torch.tensor([[1.0] * n + [0.0] * (8 - n) for n in k])[None]  # [seed batch response]
    profile = {mode: pass_rate_profile(k / 8, DELTAS[mode](rewards).abs().mean(-1)[0].numpy(), 8)
               for mode in ("centered_rewards", "normalized_rewards")}
    by_hand = 2 * np.arange(9) * (8 - np.arange(9)) / 64
    np.testing.assert_allclose(profile["centered_rewards"].weight, by_hand, atol=1e-7)
    std = np.sqrt(8 / 7 * np.arange(9) / 8 * (1 - np.arange(9) / 8))
    np.testing.assert_allclose(profile["normalized_rewards"].weight, by_hand / (std + STD_EPS), atol=1e-6)
    assert profile["centered_rewards"].relative[1] == pytest.approx(0.4375)
    assert profile["normalized_rewards"].relative[1] == pytest.approx(0.6614, abs=1e-4)


def test_a_groups_gradient_norm_is_that_of_its_own_loss_alone():
    """group_gradient_norms against a fresh forward and backward of one group's loss, seed by
    seed; a group whose rewards are all equal has no gradient under centred deltas."""
    config = TrainConfig(**{**TINY, "reward_fn": "sort_distance", "deltas_mode": "centered_rewards",
                            "loss_agg": "seq_mean_token_sum_norm"})
    seeds = [0, 1]
    task, kind, policy, generators = start_policies(config, seeds)
    task, sample = rollout(config, task, kind, policy, generators)
    norms, pass_rate = group_gradient_norms(config, kind, policy, task, sample)
    assert norms.shape == pass_rate.shape == (2, config.task_prompts)
    rewards = kind.rewards(config, task, sample.responses)
    deltas = DELTAS[config.deltas_mode](rewards)
    for seed in range(2):
        for group in range(config.task_prompts):
            policy.zero_grad()
            log_probs, _ = kind.log_probs(policy, task.prompts, sample)
            mask = torch.zeros_like(sample.mask)
            mask[seed, group] = sample.mask[seed, group]
            (-LOSS_AGGREGATIONS[config.loss_agg](deltas[..., None] * log_probs, mask).sum()).backward()
            squares = sum(float((p.grad ** 2).sum()) for p in policy.parameters() if p.grad is not None)
            assert float(norms[seed, group]) == pytest.approx(np.sqrt(squares), rel=1e-4, abs=1e-7)
            if bool((rewards[seed, group] == rewards[seed, group, 0]).all()):
                assert float(norms[seed, group]) == 0.0
    expected = kind.success(task, sample.responses).float().mean(-1)
    assert torch.equal(pass_rate, expected)


def test_the_signal_per_group_weighs_each_pass_rate_alike():
    """Seed 0: pass rates 1/8 (norms 1, 3), 4/8 (5) and 7/8 (4); seed 1: 2/8 (2) and 3/8 (6, 8):
    mid 5 and 7; extreme the mean of 2 and 4 = 3 (not the groups' mean 8/3), and 2."""
    groups = pd.DataFrame({"seed": [0, 0, 0, 0, 1, 1, 1], "k": [1, 1, 4, 7, 2, 3, 3], "norm": [1, 3, 5, 4, 2, 6, 8.0]})
    per_seed = mid_and_extreme(groups, 8)
    assert per_seed.treatment.tolist() == [5.0, 7.0] and per_seed.baseline.tolist() == [3.0, 2.0]


def test_the_jackknife_of_a_shifted_curve_gives_each_seed_its_own_shift():
    """Seeds whose curves are one saturating curve shifted by c_i: the seed-mean's fitted A moves
    by the mean shift, so the pseudo-value of seed i is A + c_i (a linear statistic's jackknife is
    exact); B and s_mid do not move."""
    samples = np.arange(1, 61) * 96.0
    shifts = np.array([-0.03, 0.0, 0.01, 0.04, -0.02, 0.05])
    rows = [pd.DataFrame({"seed": seed, "epoch": np.arange(60), "samples": samples,
                          "success": saturating_curve(samples, 0.1, 0.8, 1.5, 1500.0) + shift})
            for seed, shift in enumerate(shifts)]
    fits, failed = jackknife_fits(pd.concat(rows, ignore_index=True), "success")
    assert failed is None
    np.testing.assert_allclose(fits.asymptote, 0.8 + shifts, atol=2e-3)
    np.testing.assert_allclose(fits.efficiency, 1.5, atol=2e-2)
    np.testing.assert_allclose(fits.log_midpoint, np.log(1500.0), atol=2e-2)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """A tiny dynamic-sampling grid on the stream, trained in-process."""
    from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

    root = tmp_path_factory.mktemp("rlvr")
    fields = {**TINY, "epochs": 4, "reward_fn": "exact_match", "deltas_mode": "normalized_rewards"}
    text = "\n".join(["seeds = 3", "[grid]", *(f"{k} = {v!r}".replace("'", '"') for k, v in fields.items()),
                      "dynamic_sampling = [0, 1]"]) + "\n"  # one more round at most: the first epoch within the budget
    build_results(root, "ds", text)
    (root / "ds.toml").write_text(text)
    return root


def test_the_samples_summary_compares_the_arms_at_the_least_budget_by_hand(sampled):
    """Each run's held-out success interpolated by hand between its evaluated epochs at the fewest
    responses any run of the two arms sampled in all."""
    from grpo.experiment.results import open_results, per_epoch

    claim = dataclasses.replace(CLAIMS["rlvr-dapo-dynamic-sampling"], grid=str(sampled / "ds.toml"),
                                treatment={"dynamic_sampling": 1})
    data = load_claim(claim, sampled)
    results = open_results(sampled / "ds")
    runs = {config_id: per_epoch(records) for config_id, records in
            results.iter_records(["epoch", "samples", "heldout_sorted_frac"])}
    budget = min(float(run.groupby("seed").samples.max().min()) for run in runs.values())
    assert data.budget == budget == 4 * 4 * 4  # the baseline: 4 epochs of 4 prompts x 4 responses
    for config_id, run in runs.items():
        rounds = int(results.runs[results.runs.config_id == config_id].dynamic_sampling.iloc[0])
        arm = "treatment" if rounds == 1 else "baseline"
        for seed, curve in run.dropna(subset=["heldout_sorted_frac"]).groupby("seed"):
            x, y = curve.samples.to_numpy(float), curve.heldout_sorted_frac.to_numpy(float)
            below = np.flatnonzero(x <= budget).max()
            by_hand = y[below] if x[below] == budget else y[below] + (y[below + 1] - y[below]) * (
                budget - x[below]) / (x[below + 1] - x[below])
            value = data.scores[(data.scores.arm == arm) & (data.scores.seed == seed)].value.item()
            assert value == pytest.approx(by_hand)


def test_a_measured_claims_scores_are_its_measures_per_seed_values():
    claim = CLAIMS["rlvr-advantage-bias"]
    data = ClaimData(claim, pd.DataFrame(), pd.DataFrame(), ["all"], {}, {}, 0.0, 0)
    per_seed = pd.DataFrame({"treatment": [0.30, 0.25, 0.28], "baseline": [0.20, 0.21, 0.19]}, index=[0, 1, 2])
    table = contrasts(with_measured_scores(data, Measurement("", per_seed=per_seed, arms=("a", "b"))))
    assert table.iloc[0].difference == pytest.approx(np.mean([0.10, 0.04, 0.09]))
    assert table.iloc[0].pairs == 3
