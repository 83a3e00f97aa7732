"""The training loop: stacked seeds equal separate runs, learning goes the right way, KL and
the reference model, records."""

import functools
import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from grpo import TrainConfig, register, train
from grpo.core.config import CONFIG_FIELDS
from grpo.core.optim import Adam
from grpo.core.policies import POLICIES, SeedPolicy
from grpo.core.schema import COLUMNS, STEP_METRICS
from grpo.core.seed_model import StackedSeedModel
from grpo.core.train import Rollout, update_step
from grpo.core.uniforms import SeedUniforms
from grpo.modes.deltas import DELTAS
from grpo.modes.losses import LOSSES, LossTerms
from grpo.testing import assert_stacked_seeds_equal_separate_runs

SHORT = dict(epochs=4, steps_per_epoch=3)


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(**SHORT),
        TrainConfig(**SHORT, loss_mode="clipped", deltas_mode="normalized_rewards", kl_penalty=0.1, ref_period=2),
        TrainConfig(**SHORT, loss_mode="unclipped", deltas_mode="max_rewards", reward_fn="sort_distance", task="random"),
        TrainConfig(**SHORT, loss_mode="cispo", deltas_mode="rloo", kl_penalty=0.1, kl_estimator="k2",
                    reward_fn="pairwise_order"),
        TrainConfig(**SHORT, loss_mode="clip_higher", deltas_mode="batch_normalized", kl_penalty=0.1, kl_estimator="k1",
                    reward_fn="exact_match", task="random", task_length=6),
        TrainConfig(**SHORT, loss_mode="gspo", deltas_mode="centered_rewards"),
        TrainConfig(**SHORT, deltas_mode="centered_rewards", kl_penalty=0.1, kl_estimator="k3_corrected"),
    ],
    ids=["seed-defaults", "clipped-kl", "unclipped-random-task", "cispo-rloo-k2-pairwise", "clip-higher-batch-k1-exact",
         "gspo", "naive-k3-corrected"],
)
def test_stacked_seeds_equal_separate_runs(config):
    assert_stacked_seeds_equal_separate_runs(config, seeds=[0, 1, 7])


def test_same_config_and_seed_give_the_same_numbers():
    config = TrainConfig(**SHORT, loss_mode="clipped", kl_penalty=0.05)
    pd.testing.assert_frame_equal(train(config, [3, 4]), train(config, [3, 4]), check_exact=True)


def learning_gain(config, seeds=range(8)):
    """Seed-mean reward_frac over the last 5 epochs minus that of the first epoch."""
    per_epoch = train(config, seeds).groupby("epoch").reward_frac.mean()
    return per_epoch.iloc[-5:].mean() - per_epoch.iloc[0]


@pytest.mark.parametrize("loss_mode", list(LOSSES))
def test_a_short_run_raises_reward_frac(loss_mode):
    assert learning_gain(TrainConfig(loss_mode=loss_mode, deltas_mode="centered_rewards", epochs=15)) > 0.05


def test_the_seeds_ratio_would_lower_reward_frac():
    """With the seed document's `log_probs / old_log_probs` the same run unlearns."""

    def seed_unclipped(log_probs, old_log_probs, deltas, config):
        surrogate = (log_probs / old_log_probs) * deltas[..., None]
        zero = torch.zeros(log_probs.shape[0])
        return LossTerms(-surrogate.mean((1, 2, 3)), zero, zero)

    register("losses", "seed_unclipped")(seed_unclipped)
    try:
        assert learning_gain(TrainConfig(loss_mode="seed_unclipped", deltas_mode="centered_rewards", epochs=15)) < -0.05
    finally:
        LOSSES.unregister("seed_unclipped")


def count_reference_copies(monkeypatch):
    calls = []
    original = StackedSeedModel.frozen_copy
    monkeypatch.setattr(StackedSeedModel, "frozen_copy", lambda self: calls.append(1) or original(self))
    return calls


def test_no_kl_means_no_reference_and_zero_kl(monkeypatch):
    calls = count_reference_copies(monkeypatch)
    records = train(TrainConfig(**SHORT, loss_mode="clipped"), [0, 1])
    assert calls == [] and (records.kl == 0).all()


def test_reference_is_refreshed_every_ref_period_epochs(monkeypatch):
    calls = count_reference_copies(monkeypatch)
    records = train(TrainConfig(epochs=7, steps_per_epoch=3, kl_penalty=0.5, ref_period=3), [0])
    assert len(calls) == math.ceil(7 / 3)
    # right after a refresh the policy equals the reference: KL is exactly 0 on that epoch's first step
    first_steps = records[records.step % 3 == 0].set_index("epoch").kl
    assert (first_steps.loc[[0, 3, 6]] == 0).all() and (first_steps.loc[[1, 2, 4, 5]] > 0).all()


def test_records_hold_the_design_columns():
    config = TrainConfig(**SHORT)
    records = train(config, [5, 6])
    assert tuple(records.columns) == (*COLUMNS, *CONFIG_FIELDS) and (records.config_id == config.config_id).all()
    assert records[list(CONFIG_FIELDS)].drop_duplicates().to_dict("records") == [config.as_dict()]  # constant columns
    assert len(records) == 2 * 4 * 3
    assert records.groupby("seed").step.apply(list).tolist() == [list(range(12))] * 2
    evaluated = records.greedy_train_acc.notna()
    assert (evaluated == (records.step % 3 == 2)).all()
    assert records[evaluated].greedy_heldout_acc.notna().all()
    best = 5.0  # sort_inclusion_ordering on a length-3 prompt: 3 inclusions + 2 ordered pairs
    pd.testing.assert_series_equal(records.reward_frac, records.mean_reward / best, check_names=False, rtol=1e-6)
    assert records.sorted_frac.between(0, 1).all() and (records.entropy > 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu_statistically():
    """Different RNG streams on the GPU, so compare learning, not numbers."""
    config = TrainConfig(deltas_mode="centered_rewards", epochs=30)
    records = train(config, range(8), device="cuda")
    per_epoch = records.groupby("epoch").reward_frac.mean()
    assert per_epoch.iloc[-5:].mean() - per_epoch.iloc[0] > 0.05


def test_config_id_is_pinned_and_tells_configs_apart():
    """Pinned: a change of the hash, of a default or of the field list changes every results key
    and must be deliberate (update the pins with it)."""
    assert TrainConfig().config_id == "62392e162bd0"
    assert TrainConfig(loss_mode="cispo", kl_penalty=0.1, kl_reduction="mean", task="random").config_id == "d9f46bff4b99"
    assert TrainConfig().config_id == TrainConfig(kl_penalty=0, task_vocab=5, epsilon_low=0.2).config_id
    assert TrainConfig().config_id != TrainConfig(kl_penalty=0.01).config_id
    with_kl = TrainConfig(kl_penalty=0.1, kl_estimator="k1")
    assert with_kl.config_id == "3fcfd3adc266"  # pinned before kl_placement existed: the default keeps it
    assert TrainConfig(kl_penalty=0.1, kl_estimator="k1", kl_placement="reward").config_id != with_kl.config_id
    for config in (TrainConfig(), TrainConfig(loss_mode="cispo", kl_penalty=0.1, task="random", task_length=4)):
        assert TrainConfig(**config.as_dict()) == config  # what a sweep trial and a runs row rebuild
    assert TrainConfig(epochs=np.int64(5), lr=np.float64(0.01)) == TrainConfig(epochs=5, lr=0.01)  # numpy scalars of a row


def count_gathers(monkeypatch):
    calls = []
    module = sys.modules["grpo.core.seed_model"]  # the seed policy's lookups (grpo.core.policies.SeedPolicy) all go through it
    original = module.gather_log_probs
    monkeypatch.setattr(module, "gather_log_probs", lambda *args: calls.append(1) or original(*args))
    return calls


@pytest.mark.parametrize("loss_mode, old_lookups", [("naive", 0), ("unclipped", 1), ("cispo", 1)])
def test_only_losses_that_read_old_log_probs_look_them_up(monkeypatch, loss_mode, old_lookups):
    """One lookup per inner step, plus one per epoch for the old log-probs where the loss reads them,
    plus one before training (the start entropy, START_METRICS); naive gets None for them."""
    calls = count_gathers(monkeypatch)
    received = []
    loss = LOSSES[loss_mode]
    noting = functools.wraps(loss)(lambda lp, old, *rest: received.append(old is None) or loss(lp, old, *rest))  # its facts too
    monkeypatch.setitem(LOSSES.built_ins, loss_mode, noting)
    train(TrainConfig(epochs=2, steps_per_epoch=3, loss_mode=loss_mode), [0])
    assert len(calls) == 2 * (3 + old_lookups) + 1
    assert set(received) == {old_lookups == 0}


def test_the_mean_kl_reduction_divides_the_penalty_by_the_length():
    """kl_reduction 'mean' with kl_penalty L x beta is the same objective as 'sum' with beta: the
    same numbers (the records' kl is per response either way)."""
    length, beta = 3, 0.05
    summed = train(TrainConfig(**SHORT, kl_penalty=beta, ref_period=2), [0, 1])
    mean = train(TrainConfig(**SHORT, kl_penalty=beta * length, kl_reduction="mean", ref_period=2), [0, 1])
    metrics = [name for name in COLUMNS if name not in ("config_id", "kl_coef")]  # kl_coef: the coefficients, L x apart
    pd.testing.assert_frame_equal(summed[metrics], mean[metrics], rtol=1e-5, atol=1e-7)
    assert (summed.kl > 0).any()


def test_training_runs_on_one_thread_and_gives_the_callers_count_back():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        during = []
        train(TrainConfig(epochs=2, steps_per_epoch=1), [0], on_epoch=lambda epoch: during.append(torch.get_num_threads()))
        assert during == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("policy", ["seed", "transformer"])
def test_equal_reward_frac_counts_the_groups_whose_rewards_are_all_equal(policy, monkeypatch):
    """The record against the rollouts' own rewards, captured as the trainer computes them; one
    response a prompt makes every group equal."""
    kind = POLICIES[policy]
    captured = []
    original = kind.rewards
    monkeypatch.setattr(kind, "rewards", staticmethod(lambda *args: captured.append(original(*args)) or captured[-1]))
    reward, responses = ("exact_match", 10) if policy == "seed" else ("sort_distance", 2)
    config = TrainConfig(**SHORT, policy=policy, reward_fn=reward, responses=responses, deltas_mode="centered_rewards", task="random",
                         task_length=3, task_vocab=3, task_prompts=8, task_heldout=4)
    records = train(config, [0, 1])
    by_hand = [[((r[s] == r[s, :, :1]).all(-1)).float().mean().item() for r in captured] for s in range(2)]  # [seed epoch]
    got = records[records.step % 3 == 0].pivot(index="seed", columns="epoch", values="equal_reward_frac")
    np.testing.assert_allclose(got.to_numpy(), by_hand, rtol=1e-6)
    assert 0 < np.mean(by_hand) < 1  # some groups equal, some not: the check tells them apart
    single = train(TrainConfig(**{**config.as_dict(), "responses": 1, "deltas_mode": "rewards"}), [0])
    assert (single.equal_reward_frac == 1).all()


def shaped_rewards_recorder(name):
    """A deltas plugin that records the rewards it is given and centres them."""
    seen = []

    def recording(rewards):
        seen.append(rewards.clone())
        return rewards - rewards.mean(-1, keepdim=True)

    register("deltas", name)(recording)
    return seen


@pytest.mark.parametrize("policy", ["seed", "transformer"])
def test_kl_placement_reward_shifts_the_rewards_by_the_rollouts_kl_and_leaves_the_loss_alone(policy, monkeypatch):
    """The first rollout samples the reference itself: no KL, the rewards as they are, and the
    loss of every step that of a run without KL (no loss term), where the loss placement adds
    one. The second rollout's rewards fall by kl_penalty x each response's summed k1 under the
    rollout policy, which is the same for both coefficients (the first epoch trained alike), so
    the shift doubles with the coefficient."""
    kind = POLICIES[policy]
    task_rewards = []
    original = kind.rewards
    monkeypatch.setattr(kind, "rewards", staticmethod(lambda *args: task_rewards.append(original(*args)) or task_rewards[-1]))
    extra = {"policy": policy, "max_response_length": 6} if policy == "transformer" else {}
    base = dict(epochs=2, steps_per_epoch=3, loss_mode="clipped", reward_fn="sort_distance", **extra)
    shifts = {}
    try:
        for coefficient in (0.5, 1.0):
            seen = shaped_rewards_recorder(f"recording_{coefficient}")
            config = TrainConfig(**base, deltas_mode=f"recording_{coefficient}", kl_penalty=coefficient, kl_placement="reward",
                                 kl_estimator="k1", ref_period=5)
            records = train(config, [0, 1])
            # epoch 0: KL 0 (the transformer's up to rounding: its rollout log-probs are those drawn, the reference's teacher-forced)
            torch.testing.assert_close(seen[0], task_rewards[-2], rtol=0, atol=0 if policy == "seed" else 1e-6)
            shifts[coefficient] = task_rewards[-1] - seen[1]  # [seed batch response]
            without = train(TrainConfig(**base, deltas_mode=f"recording_{coefficient}"), [0, 1])
            in_loss = train(TrainConfig(**{**config.as_dict(), "kl_placement": "loss"}), [0, 1])
            first = records.epoch == 0
            np.testing.assert_allclose(records.loss[first], without.loss[first], rtol=0, atol=0 if policy == "seed" else 1e-6)
            assert (records.kl[first & (records.step > 0)] != 0).all()  # recorded, not a loss term
            assert (in_loss.loss[first & (in_loss.step > 0)] != without.loss[first & (without.step > 0)]).all()
    finally:
        for coefficient in (0.5, 1.0):
            DELTAS.unregister(f"recording_{coefficient}")
    assert shifts[0.5].abs().max() > 1e-3  # the policy moved from its reference
    torch.testing.assert_close(shifts[1.0], 2 * shifts[0.5], rtol=1e-4, atol=1e-6)


def test_k3_corrected_is_k3_in_value_on_a_rollouts_first_step_not_in_gradient():
    """A rollout of one policy against another as reference: on the first step pi = pi_old bit
    for bit, so the ratio is 1 and the loss and KL are k3's; the ratio's own gradient,
    grad log pi x k3, makes the update differ. (That the trainer keeps the rollout's log-probs
    for it under the naive loss: test_stacked_seeds_equal_separate_runs[naive-k3-corrected].)"""
    config = TrainConfig(kl_penalty=0.5, deltas_mode="centered_rewards")
    task = config.make_task()
    generators = [torch.Generator().manual_seed(seed) for seed in (0, 1)]
    reference = SeedPolicy.init(config, task, [torch.Generator().manual_seed(seed) for seed in (7, 8)])
    start = SeedPolicy.init(config, task, generators)
    with torch.no_grad():
        sample = SeedPolicy.sample(start, config, task, SeedUniforms(generators), with_log_probs=True)
        rewards = SeedPolicy.rewards(config, task, sample.responses)
        rollout = Rollout(task.prompts, sample, DELTAS["centered_rewards"](rewards), old_log_probs=sample.log_probs,
                          ref_log_probs=SeedPolicy.log_probs(reference, task.prompts, sample)[0])
    after, metrics = {}, {}
    for estimator in ("k3", "k3_corrected"):
        policy = start.frozen_copy().requires_grad_(True)
        metrics[estimator] = update_step(policy, Adam(policy.parameters(), lr=0.01),
                                         TrainConfig(**{**config.as_dict(), "kl_estimator": estimator}), rollout)
        after[estimator] = policy.weights.detach()
    assert (metrics["k3"]["kl"] > 0.1).all()  # the reference is another policy: a real KL
    values = [name for name in STEP_METRICS if name != "grad_norm"]  # the gradient differs by design
    for name in values:
        torch.testing.assert_close(metrics["k3_corrected"][name], metrics["k3"][name], rtol=0, atol=0, equal_nan=True)
    assert (metrics["k3_corrected"]["grad_norm"] != metrics["k3"]["grad_norm"]).all()
    assert (after["k3_corrected"] != after["k3"]).any()


def test_clip_high_low_prob_frac_is_recorded_for_token_clips_and_null_elsewhere():
    clipped = train(TrainConfig(**SHORT, loss_mode="clip_higher", deltas_mode="centered_rewards", lr=0.05), [0, 1])
    values = clipped.clip_high_low_prob_frac.dropna()
    assert values.between(0, 1).all() and (values > 0).any()
    assert (clipped.clip_high_low_prob_frac[clipped.step % 3 == 0].fillna(0) == 0).all()  # pi = pi_old: no ratio above
    naive = train(TrainConfig(**SHORT), [0, 1])
    assert naive.clip_high_low_prob_frac.isna().all() and not naive.diverged.any()  # null by design, not divergence
