"""The peers' entropy, truncation, overlong and reference-update mechanisms (entropy_coeff,
top_entropy_quantile, mask_truncated_completions, the soft overlong punishment,
ref_model_mixup_alpha / ref_model_sync_steps), each against a computation written from the
peer's code, then stacked seeds against separate runs and the one-line refusals.

Peer sources, as fetched: TRL f2cd577 (trl/trainer/grpo_trainer.py, trl/rewards/other_rewards.py,
trl/trainer/callbacks.py), verl b178a3c (verl/workers/actor/dp_actor.py,
verl/trainer/ppo/core_algos.py); line numbers are theirs.
"""

import pandas as pd
import pytest
import torch

from grpo.core.config import TrainConfig, in_own_terms
from grpo.core.policies import TransformerPolicy
from grpo.core.sampling import Sampling
from grpo.core.schema import COLUMNS
from grpo.core.seed_model import StackedSeedModel
from grpo.core.train import Rollout, step_loss, train, update_reference, without_truncated
from grpo.core.transformer import StackedTransformer
from grpo.core.uniforms import SeedUniforms
from grpo.modes.losses import high_entropy_tokens
from grpo.modes.sequence_rewards import soft_overlong_punishment
from grpo.tasks.sequences import eos_token, pad_token, response_mask
from grpo.testing import assert_stacked_seeds_equal_separate_runs

STREAM = dict(policy="transformer", task="stream", task_min_length=2, task_length=4, task_vocab=5, task_prompts=6,
              task_heldout=16, max_response_length=6, dim=8, heads=2, responses=4, epochs=3, steps_per_epoch=2,
              warm_start_steps=10, warm_start_lr=1e-2, warm_start_noise=0.2, lr=3e-3)
VOCAB = 5


def trl_high_entropy_mask(entropies, mask, threshold):
    """TRL's get_high_entropy_mask (grpo_trainer.py lines 1396-1432) for one process: the
    `threshold` quantile of the non-pad entropies, then entropies * mask >= it, and mask."""
    local = entropies[mask.bool()].float()
    if local.numel() == 0:
        return torch.zeros_like(entropies, dtype=torch.bool)
    entropy_threshold = torch.quantile(local, threshold)
    return ((entropies * mask.float()) >= entropy_threshold) & mask.bool()


@pytest.mark.parametrize("quantile", [0.0, 0.2, 0.5, 0.93, 1.0])
def test_high_entropy_tokens_are_trls_mask_per_seed(quantile):
    generator = torch.Generator().manual_seed(int(quantile * 100))
    entropy = torch.rand(3, 2, 4, 5, generator=generator) * 2  # [seed batch response pos]
    lengths = torch.randint(1, 6, (3, 2, 4), generator=generator)
    mask = (torch.arange(5) < lengths[..., None]).float()
    mask[2] = 0  # a seed with no real token: nothing kept
    ours = high_entropy_tokens(entropy, mask, quantile)
    for seed in range(3):
        assert torch.equal(ours[seed], trl_high_entropy_mask(entropy[seed], mask[seed], 1 - quantile))
    every = high_entropy_tokens(entropy, None, quantile)  # no mask: every token real
    assert torch.equal(every[0], trl_high_entropy_mask(entropy[0], torch.ones_like(mask[0]), 1 - quantile))


def transformer_rollout(seeds=(0, 1), **options):
    """A transformer, its config, and a rollout of ragged responses (some cut at the maximum
    length) to a stream-like batch, with random deltas and the drawn log-probs."""
    config = TrainConfig(**{**STREAM, "loss_mode": "clipped", "epsilon": 0.2, **options})
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    policy = StackedTransformer.init(generators, VOCAB, config.task_length + config.max_response_length, config.dim,
                                     config.layers, config.heads)
    prompts = torch.tensor([[0, 3, 1, 2], [4, 4, 0, 1], [2, 1, pad_token(VOCAB), pad_token(VOCAB)]])
    with torch.no_grad():
        sample = TransformerPolicy.sample(policy, config, type("T", (), {"prompts": prompts, "vocab_size": VOCAB})(),
                                          SeedUniforms(generators), True)
    deltas = torch.randn(sample.responses.shape[:3], generator=torch.Generator().manual_seed(7))
    return policy, config, Rollout(prompts, sample, deltas, sample.log_probs, None)


def trl_reference_loss(policy, config, rollout, entropy_mask_quantile=None):
    """TRL's _compute_loss for loss_type "grpo" with epsilon = epsilon_high = config.epsilon, written
    from grpo_trainer.py (lines 3020-3125), on this policy's logits / temperature (line 1519): per
    token -min(r A, clip(r) A), times the entropy mask (line 3115), then
    ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean() per seed (line 3125); and
    verl's entropy bonus (dp_actor.py lines 635-638): minus entropy_coeff x agg_loss(entropy,
    response_mask, "seq-mean-token-mean") (core_algos.py agg_loss). The logits come from the model's
    plain forward pass, not from the trainer's log-prob path."""
    sample, mask = rollout.sample, rollout.sample.mask
    inputs = policy._inputs(rollout.prompts, sample.responses[..., :-1])
    logits = policy(inputs, rollout.prompts.shape[-1]) / sample.temperature  # [seed seq max_length vocab+1]
    log_softmax = logits.log_softmax(-1)
    chosen = sample.responses.clamp(max=eos_token(VOCAB)).flatten(1, 2)
    per_token_logps = log_softmax.gather(-1, chosen[..., None])[..., 0].view(sample.responses.shape)
    entropies = -(log_softmax.exp() * log_softmax).sum(-1).view(sample.responses.shape)
    losses = []
    for s in range(len(per_token_logps)):
        logps, old, m = per_token_logps[s].flatten(0, 1), rollout.old_log_probs[s].flatten(0, 1), mask[s].flatten(0, 1)
        advantages = rollout.deltas[s].flatten()[:, None]
        coef_1 = torch.exp(logps - old)
        coef_2 = torch.clamp(coef_1, 1 - config.epsilon, 1 + config.epsilon)
        per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)
        if entropy_mask_quantile is not None:
            per_token_loss = per_token_loss * trl_high_entropy_mask(entropies[s].flatten(0, 1).detach(), m,
                                                                    1 - entropy_mask_quantile)
        loss = ((per_token_loss * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
        if config.entropy_coeff:
            ent = entropies[s].flatten(0, 1)
            seq_mask = m.sum(-1)
            seq_losses = (ent * m).sum(-1) / (seq_mask + 1e-8)
            loss = loss - config.entropy_coeff * (seq_losses * (seq_mask > 0).float()).sum() / (seq_mask > 0).float().sum()
        losses.append(loss)
    return torch.stack(losses)


def gradients(policy, loss):
    policy.zero_grad()
    loss.sum().backward()
    return torch.cat([p.grad.flatten() for p in policy.parameters()])


def test_the_entropy_bonus_and_the_top_entropy_quantile_are_the_peers_in_gradient():
    """On ragged responses at temperature 0.8: the step's gradient equals TRL's per_token_loss x
    entropy_mask with verl's entropy bonus; the bonus's recorded value is verl's; the kept share is the mask's."""
    policy, config, rollout = transformer_rollout(temperature=0.8, entropy_coeff=0.05, top_entropy_quantile=0.3)
    loss, metrics = step_loss(policy, config, rollout)
    ours = gradients(policy, loss)
    reference = trl_reference_loss(policy, config, rollout, entropy_mask_quantile=0.3)
    torch.testing.assert_close(ours, gradients(policy, reference), rtol=1e-4, atol=1e-6)
    _, plain = step_loss(policy, TrainConfig(**{**STREAM, "loss_mode": "clipped", "epsilon": 0.2, "temperature": 0.8}),
                         rollout)
    bonus = trl_reference_loss(policy, TrainConfig(**{**STREAM, "loss_mode": "clipped", "epsilon": 0.2,
                                                      "entropy_coeff": 0.05}), rollout)
    torch.testing.assert_close(metrics["entropy_bonus"], (trl_reference_loss(policy, TrainConfig(**{
        **STREAM, "loss_mode": "clipped", "epsilon": 0.2}), rollout) - bonus).detach(), rtol=1e-4, atol=1e-6)
    assert torch.isnan(plain["entropy_bonus"]).all() and torch.isnan(plain["entropy_kept_frac"]).all()
    assert ((metrics["entropy_kept_frac"] > 0.25) & (metrics["entropy_kept_frac"] < 0.45)).all()
    torch.testing.assert_close(metrics["entropy"], plain["entropy"], rtol=1e-5, atol=1e-6)  # the same record either path


def trl_is_truncated(responses):
    """TRL's truncation test (grpo_trainer.py line 2419) on completion id lists cut after their
    first EOS (as TRL's completion_ids_list is): the last id is neither EOS nor pad."""
    eos_and_pad = [eos_token(VOCAB), pad_token(VOCAB)]
    flags = []
    for row in responses.reshape(-1, responses.shape[-1]).tolist():
        ids = row[:row.index(eos_token(VOCAB)) + 1] if eos_token(VOCAB) in row else row
        flags.append(ids[-1] not in eos_and_pad)
    return torch.tensor(flags).view(responses.shape[:-1])


def test_mask_truncated_completions_is_trls_and_its_loss_counts_the_masked_responses_as_trl_does():
    policy, config, rollout = transformer_rollout(seeds=(0, 1, 2), max_response_length=5, mask_truncated_completions=1)
    masked, share = without_truncated(rollout.sample, VOCAB)
    truncated = trl_is_truncated(rollout.sample.responses)
    assert truncated.any() and (~truncated).any()  # the case has both
    expected = rollout.sample.mask * (~truncated).unsqueeze(-1).int()  # line 2421: completion_mask * (~is_truncated)
    assert torch.equal(masked.mask, expected)
    torch.testing.assert_close(share, truncated.float().mean((1, 2)))
    masked_rollout = Rollout(rollout.prompts, masked, rollout.deltas, rollout.old_log_probs, None)
    loss, _ = step_loss(policy, config, masked_rollout)
    reference = trl_reference_loss(policy, config, masked_rollout)
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gradients(policy, loss), gradients(policy, reference), rtol=1e-4, atol=1e-6)


def test_mask_truncated_completions_is_recorded_and_trains():
    config = TrainConfig(**{**STREAM, "max_response_length": 5, "mask_truncated_completions": 1})
    records = train(config, [0, 1])
    first = records[records.epoch == 0]
    torch.testing.assert_close(torch.tensor(first.truncated_masked_frac.to_numpy()), torch.tensor(1 - first.eos_rate.to_numpy()))
    assert train(TrainConfig(**{**STREAM, "max_response_length": 5}), [0, 1]).truncated_masked_frac.isna().all()


def trl_soft_overlong(completion_ids, max_completion_len, soft_punish_cache):
    """TRL's _SoftOverlongPunishment.__call__ (trl/rewards/other_rewards.py lines 126-138)."""
    rewards = []
    for ids in completion_ids:
        completion_length = len(ids)
        if completion_length <= max_completion_len - soft_punish_cache:
            rewards.append(0.0)
        elif max_completion_len - soft_punish_cache < completion_length <= max_completion_len:
            rewards.append((max_completion_len - soft_punish_cache - completion_length) / soft_punish_cache)
        else:
            rewards.append(-1.0)
    return rewards


@pytest.mark.parametrize("max_length, cache", [(8, 3), (6, 6), (5, 1), (8, 0 + 1)])
def test_the_soft_overlong_punishment_is_trls(max_length, cache):
    eos, pad = eos_token(VOCAB), pad_token(VOCAB)
    rows = [[0] * (length - 1) + [eos] + [pad] * (8 - length) for length in range(1, 9)] + [[1] * 8]  # lengths 1..8, one cut
    responses = torch.tensor(rows)
    ids = [row[:row.index(eos) + 1] if eos in row else row for row in rows]
    expected = torch.tensor(trl_soft_overlong(ids, max_length, cache))
    torch.testing.assert_close(soft_overlong_punishment(responses, VOCAB, max_length, cache), expected)


def test_the_soft_overlong_punishment_enters_the_rewards_and_is_recorded():
    plain = TrainConfig(**STREAM)
    punished = TrainConfig(**STREAM, overlong_cache_length=3, overlong_max_length=5)
    responses = torch.tensor([[[[0, 1, 2, 3, eos_token(VOCAB), pad_token(VOCAB)], [0, 1, eos_token(VOCAB)] + [pad_token(VOCAB)] * 3]]])
    task = type("T", (), {"prompts": torch.tensor([[0, 1, 2, 3]]), "vocab_size": VOCAB})()
    difference = TransformerPolicy.rewards(punished, task, responses) - TransformerPolicy.rewards(plain, task, responses)
    torch.testing.assert_close(difference, torch.tensor([[[(2 - 5) / 3, (2 - 3) / 3]]]))  # lengths 5 and 3, EOS in; 5 - 3 allowed
    records = train(TrainConfig(**{**STREAM, "overlong_cache_length": 3}), [0])
    assert (records.overlong_punishment <= 0).all() and (records.overlong_punishment < 0).any()


def test_the_reference_update_is_trls_sync_callback():
    """alpha < 1 mixes each weight as TRL's _sync_target_model (callbacks.py line 120); alpha 1 copies."""
    generators = [torch.Generator().manual_seed(seed) for seed in (0, 1)]
    policy = StackedSeedModel.init(generators, 5, 3, 4)
    reference = policy.frozen_copy()
    with torch.no_grad():
        policy.weights.add_(torch.randn(policy.weights.shape, generator=torch.Generator().manual_seed(3)))
    expected = [target.detach().clone().mul_(1.0 - 0.6).add_(current.detach(), alpha=0.6)
                for target, current in zip(reference.parameters(), policy.parameters(), strict=True)]
    mixed = update_reference(reference, policy, 0.6)
    assert mixed is reference and all(torch.equal(a, b) for a, b in zip(mixed.parameters(), expected, strict=True))
    assert torch.equal(mixed.views[0], mixed.document_views(mixed.weights)["embedding"])  # the views follow the weights
    copied = update_reference(reference, policy, 1.0)
    assert copied is not policy and torch.equal(copied.weights, policy.weights) and not copied.weights.requires_grad


def metric_columns(records: pd.DataFrame) -> pd.DataFrame:
    """The metrics of the records, without the configuration's key and fields."""
    return records[[name for name in COLUMNS if name != "config_id"]]


def test_ref_period_is_ref_model_sync_steps_of_its_steps_with_alpha_one():
    """A hard refresh every P epochs (at an epoch's start) is TRL's sync every P x steps_per_epoch
    steps (at a step's end) with alpha 1: the same records, bit for bit; a soft update differs."""
    hard = train(TrainConfig(loss_mode="clipped", kl_penalty=0.2, ref_period=2, steps_per_epoch=3, epochs=6), [0, 1])
    synced = train(TrainConfig(loss_mode="clipped", kl_penalty=0.2, ref_model_sync_steps=6, steps_per_epoch=3, epochs=6),
                   [0, 1])
    pd.testing.assert_frame_equal(metric_columns(hard), metric_columns(synced))
    soft = train(TrainConfig(loss_mode="clipped", kl_penalty=0.2, ref_model_sync_steps=6, ref_model_mixup_alpha=0.5,
                             steps_per_epoch=3, epochs=6), [0, 1])
    early = hard.epoch < 2  # the same until the first update
    pd.testing.assert_frame_equal(metric_columns(hard[early]), metric_columns(soft[early]))
    assert not hard[~early].kl.equals(soft[~early].kl)


@pytest.mark.parametrize("options", [
    dict(**STREAM, loss_mode="clipped", epsilon=0.2, entropy_coeff=0.05, top_entropy_quantile=0.3, temperature=0.8),
    dict(**{**STREAM, "max_response_length": 5}, mask_truncated_completions=1, overlong_cache_length=2),
    dict(loss_mode="clipped", entropy_coeff=0.02, top_entropy_quantile=0.5, epochs=3),
    dict(loss_mode="clipped", kl_penalty=0.1, ref_model_mixup_alpha=0.6, ref_model_sync_steps=4, epochs=3),
], ids=["transformer-entropy", "transformer-truncation", "seed-entropy", "seed-soft-reference"])
def test_the_mechanisms_keep_stacked_seeds_apart(options):
    assert_stacked_seeds_equal_separate_runs(TrainConfig(**options))


@pytest.mark.parametrize("argv, message", [
    (["--loss", "gspo", "--top-entropy-quantile", "0.2"], "does not apply to loss_mode 'gspo': its terms are a sequence's"),
    (["--mask-truncated-completions", "1"], "does not apply to policy 'seed'"),
    (["--soft-punish-cache", "2"], "does not apply to policy 'seed'"),
    (["--kl", "0.1", "--ref-period", "3", "--ref-model-sync-steps", "4"], "ref_model_sync_steps sets when the reference"),
    (["--ref-model-mixup-alpha", "0.5"], "kl_penalty is 0, so there is no KL term"),
    (["--sync-ref-model", "true"], "give ref_model_sync_steps N (TRL's default 512) and ref_model_mixup_alpha"),
    (["--entropy-coeff", "-1"], "must be non-negative"),
    (["--top-entropy-quantile", "2"], "must lie in [0, 1]"),
])
def test_grpo_train_refuses_an_inapplicable_mechanism_in_one_line(argv, message, train_refusal):
    assert message in train_refusal(argv)


def test_trls_names_of_the_mechanisms():
    assert in_own_terms("entropy_coef", 0.01)[:2] == ("entropy_coeff", 0.01)
    assert "aggregates it as loss_agg" in in_own_terms("entropy_coef", 0.01)[2]
    assert in_own_terms("mask_truncated_completions", True)[:2] == ("mask_truncated_completions", 1)
    assert in_own_terms("soft_punish_cache", 4)[:2] == ("overlong_cache_length", 4)
    assert in_own_terms("max_completion_len", 9)[:2] == ("overlong_max_length", 9)
    assert TrainConfig(**STREAM, mask_truncated_completions=1).config_id != TrainConfig(**STREAM).config_id
    assert response_mask(torch.tensor([[1, eos_token(VOCAB), 2]]), VOCAB).tolist() == [[True, True, False]]
    assert Sampling.of(TrainConfig(temperature=0.5)).temperature == 0.5
