"""The sampler apart from the learner and the rollout corrections (grpo.core.rollout_correction),
each against a reference written from its peer's code (verl b178a3c,
verl/trainer/ppo/rollout_corr_helper.py; TRL f2cd577, trl/trainer/grpo_trainer.py; line numbers
theirs) on ragged responses; the weights folded into the deltas against the peers' per-token
loss x weight, in value and gradient; the records; stacked seeds against separate runs; and what
remax and the optimal token baseline read of the rollout (the greedy rewards, sum pi^2)."""

import math

import pytest
import torch

from grpo.core.config import TrainConfig, in_own_terms
from grpo.core.policies import POLICIES
from grpo.core.rollout_correction import (
    ROLLOUT_DTYPES,
    ROLLOUT_REJECTIONS,
    off_policy_mask,
    rollout_weights,
    sampler_kl,
    weighted_deltas,
)
from grpo.core.train import deltas_inputs, train
from grpo.core.uniforms import SeedUniforms
from grpo.modes.losses import LOSSES
from grpo.modes.rewards import REWARDS
from grpo.tasks.prompts import seed_task
from grpo.testing import assert_stacked_seeds_equal_separate_runs

SEEDS, BATCH, RESPONSES, POS = 2, 3, 4, 5


def case(seed=0, spread=0.6):
    """Learner and sampler log-probs [seed batch response pos] a log-ratio of about `spread` apart,
    a ragged mask and deltas of both signs [seed batch response]."""
    generator = torch.Generator().manual_seed(seed)
    learner = -torch.rand(SEEDS, BATCH, RESPONSES, POS, generator=generator) * 3
    sampler = learner + torch.randn(learner.shape, generator=generator) * spread
    lengths = torch.randint(1, POS + 1, (SEEDS, BATCH, RESPONSES), generator=generator)
    mask = (torch.arange(POS) < lengths[..., None]).float()
    deltas = torch.randn(SEEDS, BATCH, RESPONSES, generator=generator)
    return learner, sampler, mask, deltas


def config(**fields):
    return TrainConfig(**{"policy": "transformer", "task": "variable", "loss_mode": "clipped", **fields})


def verl_rollout_is(log_ratio, response_mask, rollout_is, threshold):  # rollout_corr_helper.py 481-598, no batch norm
    if rollout_is == "token":
        weights = torch.exp(torch.clamp(log_ratio, min=-20.0, max=20.0))
    else:
        log_ratio_sum = (log_ratio * response_mask).sum(-1).unsqueeze(-1)
        weights = torch.exp(torch.clamp(log_ratio_sum, min=-20.0, max=20.0)).expand_as(log_ratio)
    return (weights * response_mask).clamp(max=threshold)


def trl_importance_sampling(old, sampling, mask, mode, clip_min, clip_max):  # grpo_trainer.py 2579-2620
    per_token_logps_diff = (old - sampling) * mask
    logps_diff = per_token_logps_diff.sum(dim=-1, keepdim=True) if mode.startswith("sequence") else per_token_logps_diff
    ratio = torch.exp(logps_diff)
    if mode.endswith("truncate"):
        return torch.clamp(ratio, min=clip_min, max=clip_max)
    invalid = (ratio < (clip_min if clip_min is not None else -math.inf)) | (ratio > clip_max)
    return ratio.masked_fill(invalid, value=0.0)


@pytest.mark.parametrize("level", ["token", "sequence"])
def test_truncation_is_verls_rollout_is(level):
    learner, sampler, mask, _ = case()
    weights, _ = rollout_weights(config(rollout_correction=f"{level}_truncate"), learner, sampler, mask)
    expected = verl_rollout_is((learner - sampler).flatten(0, 2), mask.flatten(0, 2), level, 2.0).view(mask.shape)
    per_token = weights if level == "token" else weights[..., None].expand(mask.shape)
    torch.testing.assert_close(per_token * mask, expected)
    assert (expected == 2.0).any() and (expected * mask < 1).any()  # the cap acts, and weights below 1 stay


@pytest.mark.parametrize("mode", ["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"])
@pytest.mark.parametrize("low", [0.0, 0.7])
def test_the_modes_are_trls_vllm_importance_sampling_modes(mode, low):
    learner, sampler, mask, _ = case(1)
    weights, records = rollout_weights(config(rollout_correction=mode, rollout_is_threshold=1.5,
                                              rollout_is_threshold_lower=low), learner, sampler, mask)
    flat = [values.flatten(0, 2) for values in (learner, sampler, mask)]
    expected = trl_importance_sampling(*flat, mode, low if low else None, 1.5)
    expected = expected.view(*mask.shape[:3], -1)
    if mode.startswith("sequence"):
        torch.testing.assert_close(weights, expected[..., 0])
        applied = expected[..., 0]
        torch.testing.assert_close(records["is_weight_mean"], applied.flatten(1).mean(1))
    else:
        torch.testing.assert_close(weights * mask, expected * mask)
        applied = torch.where(mask > 0, expected, torch.nan)
        torch.testing.assert_close(records["is_weight_mean"], (expected * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3)))
    torch.testing.assert_close(records["is_weight_min"], applied.flatten(1).nan_to_num(torch.inf).amin(1))
    torch.testing.assert_close(records["is_weight_max"], applied.flatten(1).nan_to_num(-torch.inf).amax(1))
    assert 0 < records["is_corrected_frac"].min() and records["is_corrected_frac"].max() < 1


def verl_rollout_rs(log_ratio, response_mask, option, lower, upper):  # rollout_corr_helper.py 156-372, one option
    log_ratio = torch.clamp(log_ratio, min=-20.0, max=20.0)
    stats = {"k1": -log_ratio, "k2": 0.5 * log_ratio ** 2, "k3": torch.exp(log_ratio) - 1.0 - log_ratio}
    per_token = stats[option[-2:]]
    if option.startswith("token"):
        value = per_token
    elif option.startswith("seq_sum"):
        value = (per_token * response_mask).sum(-1, keepdim=True)
    elif option.startswith("seq_mean"):
        value = (per_token * response_mask).sum(-1, keepdim=True) / response_mask.sum(-1, keepdim=True)
    else:
        value = per_token.masked_fill(~response_mask.bool(), float("-inf")).max(dim=-1, keepdim=True).values
    if option.endswith("k1"):
        keep = (value >= math.log(lower)) & (value <= math.log(upper))
    else:
        keep = value <= upper
    final_mask = keep.expand_as(response_mask).to(log_ratio.dtype)
    masked_fraction = ((1 - final_mask) * response_mask).sum() / response_mask.sum()  # rollout_rs_masked_fraction
    return response_mask * final_mask, masked_fraction


@pytest.mark.parametrize("option", [name for name in ROLLOUT_REJECTIONS if name != "none"])
def test_rejection_is_verls_rollout_rs(option):
    learner, sampler, mask, _ = case(2, spread=0.3)
    upper = 1.3 if option.endswith("k1") else {"token": 0.05, "seq_sum": 0.15, "seq_mean": 0.04, "seq_max": 0.08}[
        option.rsplit("_", 1)[0]]
    weights, records = rollout_weights(config(rollout_rs=option, rollout_rs_threshold=upper,
                                              **({"rollout_rs_threshold_lower": 0.8} if option.endswith("k1") else {})),
                                       learner, sampler, mask)
    for s in range(SEEDS):
        expected, fraction = verl_rollout_rs((learner - sampler)[s].flatten(0, 1), mask[s].flatten(0, 1), option, 0.8, upper)
        kept = weights[s] if weights.dim() == 4 else weights[s][..., None]
        torch.testing.assert_close((kept * mask[s]).flatten(0, 1), expected)
        torch.testing.assert_close(records["rs_masked_frac"][s], fraction)
    assert 0 < records["rs_masked_frac"].mean() < 1  # some rejected, some kept


def trl_off_policy_mask(advantages, per_token_logps, sampling_per_token_logps, mask, threshold):  # grpo_trainer.py 2920-2937
    kl_div = sampling_per_token_logps - per_token_logps.detach()
    avg_seq_kl = (kl_div * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    return ((advantages >= 0) | (avg_seq_kl <= threshold)).to(dtype=mask.dtype)


def test_the_off_policy_mask_is_trls():
    learner, sampler, mask, deltas = case(3)
    keep = off_policy_mask(deltas, learner, sampler, mask, 0.1)
    expected = trl_off_policy_mask(deltas.reshape(-1, 1), learner.flatten(0, 2), sampler.flatten(0, 2),
                                   mask.flatten(0, 2), 0.1)
    torch.testing.assert_close(keep, expected.view(deltas.shape))
    assert 0 < keep.mean() < 1 and (keep[deltas >= 0] == 1).all()


def peers_per_token_loss(loss_mode, log_prob, old_log_prob, advantages, mask, train_config):
    """The per-token loss as the peers write it, before any weight: verl's compute_policy_loss_vanilla
    (core_algos.py 1160-1250: max(-A r, -A clip(r))) for clipped and clip_higher, its
    compute_policy_loss_gspo (1254-1327) for gspo_token; TRL's _compute_loss (grpo_trainer.py
    3070-3100) for sapo and cispo; -A log pi for naive (verl's gpg)."""
    if loss_mode == "naive":
        return -advantages * log_prob
    ratio = torch.exp(log_prob - old_log_prob)
    if loss_mode == "gspo_token":
        seq = ((log_prob - old_log_prob) * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True)
        ratio = torch.exp(torch.clamp(seq.detach() + log_prob - log_prob.detach(), max=10.0))
    if loss_mode in ("clipped", "clip_higher", "gspo_token"):
        low, high = ((train_config.epsilon, train_config.epsilon) if loss_mode != "clip_higher"
                     else (train_config.epsilon_low, train_config.epsilon_high))
        return torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - low, 1 + high))
    if loss_mode == "sapo":
        tau = torch.where(advantages > 0, train_config.sapo_temperature_pos, train_config.sapo_temperature_neg)
        return -torch.sigmoid(tau * (ratio - 1)) * 4 / tau * advantages
    return -torch.clamp(ratio, max=1 + train_config.epsilon_high).detach() * advantages * log_prob  # cispo


@pytest.mark.parametrize("loss_mode", ["naive", "clipped", "clip_higher", "sapo", "cispo", "gspo_token"])
@pytest.mark.parametrize("mode", ["token_truncate", "sequence_mask"])
def test_weights_folded_into_the_deltas_are_the_peers_weighted_per_token_loss(loss_mode, mode):
    """TRL (grpo_trainer.py 3111-3115: ``per_token_loss * inputs["importance_sampling_ratio"]``) and
    verl (core_algos.py 1236-1238: ``pg_losses * rollout_is_weights``) weigh each per-token loss
    term; here the weight multiplies the delta. Equal in value and gradient for every loss whose
    term is the delta times a function of the ratio and the delta's sign (token_mean: the peers'
    weighted terms over the real tokens)."""
    learner, sampler, mask, deltas = case(4)
    train_config = config(loss_mode=loss_mode, rollout_correction=mode, rollout_is_threshold=1.5, loss_agg="token_mean")
    weights, _ = rollout_weights(train_config, learner, sampler, mask)
    per_token = weights if weights.dim() == 4 else weights[..., None].expand(mask.shape)
    assert per_token[mask > 0].min() < 0.5 and per_token[mask > 0].max() > 1.2  # the weights matter here
    current = (learner + torch.randn(learner.shape, generator=torch.Generator().manual_seed(6)) * 0.2).requires_grad_()
    folded = LOSSES[loss_mode](current, learner, weighted_deltas(deltas, weights), train_config, mask=mask).loss
    terms = peers_per_token_loss(loss_mode, current, learner, deltas[..., None], mask, train_config)
    peers = (terms * per_token * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3))
    torch.testing.assert_close(folded, peers, rtol=1e-5, atol=1e-6)
    (folded_gradient,) = torch.autograd.grad(folded.sum(), current)
    (peers_gradient,) = torch.autograd.grad(peers.sum(), current)
    torch.testing.assert_close(folded_gradient, peers_gradient, rtol=1e-5, atol=1e-6)


def test_the_sampler_is_a_rounded_copy_and_the_learner_keeps_its_weights():
    task = seed_task()
    policy = POLICIES["seed"].init(TrainConfig(), task, [torch.Generator().manual_seed(s) for s in range(2)])
    before = policy.weights.detach().clone()
    for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16), ("float8", torch.float8_e4m3fn)):
        sampler = ROLLOUT_DTYPES[name](policy)
        torch.testing.assert_close(sampler.weights, before.to(dtype).float(), rtol=0, atol=0)
        assert not torch.equal(sampler.weights, before)
    assert ROLLOUT_DTYPES["float32"](policy) is policy
    assert torch.equal(policy.weights, before)


def test_sampler_kl_orders_the_precisions_and_is_k3_of_the_two_policies():
    """float16 (11 significant bits) < bfloat16 (8) < float8 (4); with the learner sampling, no record."""
    base = dict(epochs=2, steps_per_epoch=1, loss_mode="clipped", responses=4)
    kl = {dtype: train(config(rollout_dtype=dtype, **base), [0, 1]).sampler_kl.mean()
          for dtype in ("float16", "bfloat16", "float8")}
    assert 0 < kl["float16"] < kl["bfloat16"] < kl["float8"], kl
    assert train(config(**base), [0]).sampler_kl.isna().all()
    learner, sampler, mask, _ = case(7)
    ratio = (learner - sampler).exp()
    torch.testing.assert_close(sampler_kl(learner, sampler, mask),
                               ((ratio - 1 - ratio.log()) * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3)))


def test_without_a_mismatch_the_weights_are_one_and_nothing_is_corrected():
    """The learner recomputes in float32 what it drew: the same log-probs up to float rounding."""
    records = train(config(rollout_correction="token_mask", epochs=2, steps_per_epoch=1, responses=4), [0, 1])
    assert records.is_weight_min.min() > 1 - 1e-4 and records.is_weight_max.max() < 1 + 1e-4
    assert (records.is_corrected_frac == 0).all() and records.sampler_kl.max() < 1e-9


@pytest.mark.parametrize("fields", [
    dict(rollout_dtype="float8", rollout_correction="token_truncate"),
    dict(rollout_dtype="float8", rollout_correction="sequence_mask", rollout_is_threshold=1.2),
    dict(rollout_dtype="bfloat16", rollout_rs="token_k1", rollout_rs_threshold=1.01, rollout_rs_threshold_lower=0.99),
    dict(rollout_dtype="float8", off_policy_mask_threshold=1e-3, deltas_mode="normalized_rewards"),
    dict(rollout_dtype="float8", rollout_correction="token_truncate", deltas_mode="optimal_token_baseline")])
def test_corrections_keep_stacked_seeds_apart_on_ragged_responses(fields):
    assert_stacked_seeds_equal_separate_runs(config(epochs=3, steps_per_epoch=2, responses=4, **fields))


def test_the_records_carry_the_corrections_measures():
    records = train(config(rollout_dtype="float8", rollout_correction="sequence_truncate", rollout_is_threshold=1.001,
                           rollout_rs="seq_mean_k3", rollout_rs_threshold=1e-5, off_policy_mask_threshold=1e-6,
                           deltas_mode="normalized_rewards", epochs=3, steps_per_epoch=2, responses=4), [0, 1])
    assert records.sampler_kl.min() > 0
    assert (records.is_weight_max <= 1.001 + 1e-6).all() and (records.is_weight_min < 1).any()
    assert records.is_corrected_frac.max() > 0 and records.rs_masked_frac.max() > 0
    assert records.off_policy_masked_frac.between(0, 1).all() and records.off_policy_masked_frac.max() > 0
    assert not records.diverged.any()


def test_remax_reads_the_reward_of_the_samplers_greedy_response():
    task = seed_task()
    train_config = TrainConfig(deltas_mode="remax")
    policy = POLICIES["seed"].init(train_config, task, [torch.Generator().manual_seed(s) for s in range(2)])
    sample = POLICIES["seed"].sample(policy, train_config, task, SeedUniforms([torch.Generator().manual_seed(1)] * 2), False)
    inputs = deltas_inputs(POLICIES["seed"], policy, policy, train_config, ("greedy_rewards",), task, task.prompts, sample,
                           None, None)
    greedy = policy(task.prompts).argmax(-1)  # [seed batch pos]: each position's most likely token
    expected = REWARDS[train_config.reward_fn](task.prompts, greedy[:, :, None, :])[..., 0]
    torch.testing.assert_close(inputs["greedy_rewards"], expected)


@pytest.mark.parametrize("policy_name", ["seed", "transformer"])
def test_sum_pi_squared_is_each_tokens_next_token_distribution(policy_name):
    """Brute force: the transformer's distribution at each response position from its own prefix
    alone (one forward a position), the seed policy's from its position's distribution."""
    train_config = TrainConfig(policy=policy_name, **({"task": "variable", "dim": 16, "heads": 2}
                                                      if policy_name == "transformer" else {}))
    task = train_config.make_task() if policy_name == "transformer" else seed_task()
    kind = POLICIES[policy_name]
    policy = kind.init(train_config, task, [torch.Generator().manual_seed(s) for s in range(2)])
    with torch.no_grad():
        sample = kind.sample(policy, train_config, task, SeedUniforms([torch.Generator().manual_seed(4)] * 2), False)
        ours = kind.sum_pi_squared(policy, task.prompts, sample)
        if policy_name == "seed":
            expected = policy(task.prompts).softmax(-1).square().sum(-1)[:, :, None, :].expand(ours.shape)
        else:
            columns = []
            for t in range(sample.responses.shape[-1]):
                inputs = policy._inputs(task.prompts, sample.responses[..., :t])  # prompt, BOS, the response before t
                columns.append(policy(inputs, inputs.shape[-1] - 1).softmax(-1).square().sum(-1)[..., 0])
            expected = torch.stack(columns, -1).view(ours.shape)
    real = torch.ones_like(ours) if sample.mask is None else sample.mask
    torch.testing.assert_close(ours * real, expected * real, rtol=1e-5, atol=1e-6)


def test_peer_names_and_refusals(train_refusal):
    assert in_own_terms("vllm_importance_sampling_mode", "token_mask")[:2] == ("rollout_correction", "token_mask")
    assert in_own_terms("rollout_is", "sequence")[:2] == ("rollout_correction", "sequence_truncate")
    assert in_own_terms("vllm_importance_sampling_clip_max", 3.0)[:2] == ("rollout_is_threshold", 3.0)
    assert in_own_terms("vllm_importance_sampling_clip_min", 0.5)[:2] == ("rollout_is_threshold_lower", 0.5)
    refusals = [
        (["--rollout-correction", "token_truncate", "--loss", "gspo"], "weighs tokens one by one; loss_mode 'gspo'"),
        (["--rollout-correction", "sequence_mask", "--loss", "vespo"], "does not apply to loss_mode 'vespo'"),
        (["--rollout-is-threshold", "3"], "does not apply: rollout_correction is 'none'"),
        (["--rollout-rs", "seq_mean_k3", "--rollout-rs-threshold-lower", "0.1"], "only the k1 options bound the ratio"),
        (["--rollout-dtype", "int4"], "unknown choice; choose from float32, bfloat16, float16, float8"),
        (["--off-policy-mask-threshold", "-1"], "must be non-negative"),
    ]
    for flags, message in refusals:
        assert message in train_refusal(flags), flags
