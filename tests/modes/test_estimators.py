"""TRL's and verl's newer deltas modes (advantage estimators), each against a reference written from its
peer's code, in the peer's layout: token-level rewards [responses tokens] with the outcome on a
response's last real token, a response mask and a group index, one seed at a time (verl b178a3c,
verl/trainer/ppo/core_algos.py; TRL f2cd577, trl/trainer/grpo_trainer.py; line numbers theirs).
Then stacked seeds against separate runs, and the peers' names as grid keys and flags."""

from collections import defaultdict

import pytest
import torch

from grpo.core.config import TrainConfig, in_own_terms
from grpo.modes.deltas import DELTAS, centered_rewards, deltas_function
from grpo.testing import assert_stacked_seeds_equal_separate_runs

SEEDS, BATCH, RESPONSES, POS = 3, 3, 4, 6


def case(seed=0):
    """Rewards on a coarse grid (ties, zeros, a group of equal rewards) and a ragged mask:
    [seed batch response], [seed batch response pos]."""
    generator = torch.Generator().manual_seed(seed)
    rewards = torch.randint(0, 4, (SEEDS, BATCH, RESPONSES), generator=generator).float() / 2
    rewards[0, 2] = 1.0  # one group of equal rewards
    lengths = torch.randint(1, POS + 1, (SEEDS, BATCH, RESPONSES), generator=generator)
    mask = (torch.arange(POS) < lengths[..., None]).float()
    return rewards, mask


def verl_layout(rewards, mask, s):
    """One seed as verl's estimators take it: token_level_rewards and response_mask [n T], index [n]."""
    response_mask = mask[s].reshape(-1, POS)
    last = response_mask.sum(-1).long() - 1
    token_level_rewards = torch.zeros_like(response_mask)
    token_level_rewards[torch.arange(len(last)), last] = rewards[s].reshape(-1)
    index = [i // RESPONSES for i in range(BATCH * RESPONSES)]
    return token_level_rewards, response_mask, index


def per_seed(reference, rewards, mask):
    """The reference's advantage of each response (its first token's), stacked: [seed batch response]."""
    out = []
    for s in range(SEEDS):
        advantages = reference(*verl_layout(rewards, mask, s))
        out.append(advantages[:, 0].reshape(BATCH, RESPONSES))
    return torch.stack(out)


def verl_masked_whiten(values, mask):  # verl/utils/torch_functional.py masked_mean, masked_var (unbiased), masked_whiten
    mean = (values * mask).sum() / mask.sum()
    variance = ((values - mean) ** 2 * mask).sum() / mask.sum() * (mask.sum() / (mask.sum() - 1))
    return (values - mean) * torch.rsqrt(variance + 1e-8)


def verl_reinforce_plus_plus(token_level_rewards, response_mask, index):  # core_algos.py 583-618, gamma 1
    returns = torch.zeros_like(token_level_rewards)
    running_return = 0
    for t in reversed(range(token_level_rewards.shape[1])):
        running_return = token_level_rewards[:, t] + running_return
        returns[:, t] = running_return
        running_return = running_return * response_mask[:, t]
    return verl_masked_whiten(returns, response_mask) * response_mask


def verl_reinforce_plus_plus_baseline(token_level_rewards, response_mask, index):  # core_algos.py 425-473
    response_length, scores = token_level_rewards.shape[-1], token_level_rewards.sum(dim=-1)
    id2score = defaultdict(list)
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
    id2mean = {idx: torch.mean(torch.stack(values)) for idx, values in id2score.items()}
    scores = torch.stack([scores[i] - id2mean[index[i]] for i in range(len(scores))])
    scores = scores.unsqueeze(-1).tile([1, response_length]) * response_mask
    return verl_masked_whiten(scores, response_mask) * response_mask


def verl_opo(token_level_rewards, response_mask, index):  # core_algos.py 529-579
    response_length, scores = response_mask.sum(dim=-1), token_level_rewards.sum(dim=-1)
    id2score, id2len = defaultdict(list), defaultdict(list)
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
        id2len[index[i]].append(response_length[i])
    id2bsl = {idx: (torch.stack(id2len[idx]) * torch.stack(id2score[idx])).sum() / torch.stack(id2len[idx]).sum()
              for idx in id2score}
    scores = torch.stack([scores[i] - id2bsl[index[i]] for i in range(len(scores))])
    return scores.unsqueeze(-1) * response_mask


def verl_gpg(token_level_rewards, response_mask, index):  # core_algos.py 658-717, f_norm 1
    scores = token_level_rewards.sum(dim=-1)
    alpha = len(scores) / torch.count_nonzero(scores).clamp(min=1)
    id2score = defaultdict(list)
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
    id2mean = {idx: torch.mean(torch.stack(values)) for idx, values in id2score.items()}
    scores = torch.stack([alpha * (scores[i] - id2mean[index[i]]) for i in range(len(scores))])
    return scores.unsqueeze(-1) * response_mask


def verl_grpo_passk(token_level_rewards, response_mask, index):  # core_algos.py 361-419, norm_adv_by_std_in_grpo
    scores = token_level_rewards.sum(dim=-1)
    advantages = torch.zeros_like(scores)
    id2scores, id2indices = defaultdict(list), defaultdict(list)
    for i in range(len(scores)):
        id2scores[index[i]].append(scores[i])
        id2indices[index[i]].append(i)
    for idx in id2scores:
        group = torch.stack(id2scores[idx])
        topk, topk_idx = torch.topk(group, 2)
        advantage = (topk[0] - topk[1]) / (torch.std(group) + 1e-6)
        advantages[id2indices[idx][topk_idx[0].item()]] = advantage
    return advantages.unsqueeze(-1) * response_mask


def trl_scale_rewards_batch(rewards):  # grpo_trainer.py 2683-2707, scale_rewards="batch", one reward function
    mean_grouped_rewards = rewards.view(-1, RESPONSES).mean(dim=1).repeat_interleave(RESPONSES, dim=0)
    mean = rewards.mean()
    std_rewards = torch.sqrt(((rewards - mean) ** 2).sum() / (rewards.numel() - 1)).expand_as(rewards)  # nanstd
    return (rewards - mean_grouped_rewards) / (std_rewards + 1e-4)


@pytest.mark.parametrize("mode, reference", [
    ("reinforce_plus_plus", verl_reinforce_plus_plus), ("reinforce_plus_plus_baseline", verl_reinforce_plus_plus_baseline),
    ("opo", verl_opo), ("gpg", verl_gpg),
    ("grpo_passk", verl_grpo_passk)])
def test_deltas_are_verls_advantages_on_ragged_responses(mode, reference):
    rewards, mask = case()
    ours = deltas_function(mode)(rewards, mask)
    torch.testing.assert_close(ours, per_seed(reference, rewards, mask), rtol=1e-5, atol=1e-6)
    assert ours.abs().max() > 0.1


def test_reinforce_plus_plus_weighs_tokens_and_opo_lengths():
    """On ragged responses both differ from their equal-length forms (the mask matters), and
    opo equals centered_rewards when every response has the same length."""
    rewards, mask = case()
    assert not torch.allclose(deltas_function("opo")(rewards, mask), centered_rewards(rewards))
    torch.testing.assert_close(deltas_function("opo")(rewards, None), centered_rewards(rewards))
    equal = torch.ones_like(mask)
    unweighted = deltas_function("reinforce_plus_plus")(rewards, None)
    torch.testing.assert_close(deltas_function("reinforce_plus_plus")(rewards, equal[..., :1]), unweighted)
    assert not torch.allclose(deltas_function("reinforce_plus_plus")(rewards, mask), unweighted)


def test_group_mean_batch_std_is_trls_scale_rewards_batch_and_differs_from_batch_normalized():
    rewards, _ = case()
    ours = DELTAS["group_mean_batch_std"](rewards)
    expected = torch.stack([trl_scale_rewards_batch(rewards[s].reshape(-1)).reshape(BATCH, RESPONSES)
                            for s in range(SEEDS)])
    torch.testing.assert_close(ours, expected)
    assert not torch.allclose(ours, DELTAS["batch_normalized"](rewards), atol=1e-3)  # the spread between prompts counts


def test_grpo_passk_gives_the_best_response_only():
    rewards = torch.tensor([[[0.0, 2.0, 1.0, 2.0], [1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 1.0]]])
    deltas = DELTAS["grpo_passk"](rewards)
    assert deltas[0, 0].tolist() == [0.0] * 4  # a tie at the top: a gap of 0, wherever it goes
    assert deltas[0, 1].tolist() == [0.0] * 4
    gap = (3.0 - 1.0) / (torch.tensor([3.0, 0.0, 0.0, 1.0]).std() + 1e-6)  # Bessel's std of the group
    torch.testing.assert_close(deltas[0, 2], torch.stack([gap, *torch.zeros(3)]))


@pytest.mark.parametrize("mode", ["group_mean_batch_std", "reinforce_plus_plus", "opo", "gpg", "grpo_passk"])
def test_new_deltas_keep_stacked_seeds_apart(mode):
    assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode=mode, loss_mode="clipped", epochs=4,
                                                         steps_per_epoch=3))


@pytest.mark.parametrize("mode", ["reinforce_plus_plus", "reinforce_plus_plus_baseline", "opo"])
def test_deltas_that_read_the_mask_keep_stacked_seeds_apart_on_ragged_responses(mode):
    assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode=mode, loss_mode="clipped", policy="transformer",
                                                         task="variable", epochs=3, steps_per_epoch=2))


def test_trls_scale_rewards_and_verls_adv_estimator_name_deltas_modes(train_refusal):
    assert in_own_terms("scale_rewards", "batch")[:2] == ("deltas_mode", "group_mean_batch_std")
    assert in_own_terms("scale_rewards", False)[:2] == ("deltas_mode", "centered_rewards")
    assert in_own_terms("adv_estimator", "reinforce_plus_plus")[:2] == ("deltas_mode", "reinforce_plus_plus")
    assert in_own_terms("adv_estimator", "remax")[:2] == ("deltas_mode", "remax")
    assert in_own_terms("adv_estimator", "optimal_token_baseline")[:2] == ("deltas_mode", "optimal_token_baseline")
    assert "--adv-estimator 'gae': " in train_refusal(["--adv-estimator", "gae"])
    assert "needs at least 2 responses per prompt" in train_refusal(["--deltas", "grpo_passk", "--responses", "1"])


def verl_remax(token_level_rewards, reward_baselines, response_mask):  # core_algos.py 621-654
    returns = (token_level_rewards * response_mask).flip(dims=[-1]).cumsum(dim=-1).flip(dims=[-1])
    return returns - reward_baselines.unsqueeze(-1) * response_mask


def test_remax_is_verls_advantage_with_the_greedy_reward_as_baseline():
    """verl repeats each prompt's greedy reward over its n responses (ray_trainer.py, ``batch.repeat(...,
    interleave=True)`` after ``reward_baselines``); every real token's advantage is the response's."""
    rewards, mask = case()
    greedy = torch.randint(0, 4, (SEEDS, BATCH), generator=torch.Generator().manual_seed(3)).float() / 2
    ours = deltas_function("remax")(rewards, mask, greedy_rewards=greedy)
    for s in range(SEEDS):
        token_level_rewards, response_mask, _ = verl_layout(rewards, mask, s)
        advantages = verl_remax(token_level_rewards, greedy[s].repeat_interleave(RESPONSES), response_mask)
        expected = advantages.reshape(BATCH, RESPONSES, POS)
        torch.testing.assert_close(ours[s][..., None] * mask[s], expected)
    assert ours.abs().max() > 0.4


def verl_optimal_token_baseline(token_level_rewards, response_mask, index, old_log_probs, sum_pi_squared,
                                rollout_is_weights=None, epsilon=1e-8):  # core_algos.py 758-873, handle_zero_tail False
    returns = (token_level_rewards * response_mask).flip(dims=[-1]).cumsum(dim=-1).flip(dims=[-1])
    w_per_timestep = 1 - 2 * torch.exp(old_log_probs) + sum_pi_squared
    if rollout_is_weights is not None:
        w_per_timestep = w_per_timestep * (rollout_is_weights ** 2)
    w_cumulative = (w_per_timestep * response_mask).cumsum(dim=-1)
    groups = defaultdict(list)
    for i in range(len(index)):
        groups[index[i]].append(i)
    baselines = torch.zeros_like(returns)
    for members in groups.values():
        if len(members) == 1:
            continue
        rows = torch.tensor(members)
        numerator = (returns[rows] * w_cumulative[rows] * response_mask[rows]).sum(dim=0)
        denominator = (w_cumulative[rows] * response_mask[rows]).sum(dim=0) + epsilon
        baselines[rows] = (numerator / denominator).unsqueeze(0).expand(len(members), -1)
    return (returns - baselines) * response_mask


@pytest.mark.parametrize("weighted", [False, True])
def test_optimal_token_baseline_is_verls_on_ragged_responses(weighted):
    """One delta a token: verl's per-position baseline of each group, with and without the
    correction's weights (their square scales the path variance)."""
    rewards, mask = case()
    generator = torch.Generator().manual_seed(5)
    probs = torch.rand(SEEDS, BATCH, RESPONSES, POS, generator=generator) * 0.9 + 0.05
    sum_pi_squared = probs.square() + torch.rand(probs.shape, generator=generator) * (1 - probs).square()  # >= pi^2
    weights = torch.rand(probs.shape, generator=generator) * 2 if weighted else None
    ours = deltas_function("optimal_token_baseline")(rewards, mask, old_log_probs=probs.log(),
                                                     sum_pi_squared=sum_pi_squared, rollout_is_weights=weights)
    assert ours.shape == mask.shape
    for s in range(SEEDS):
        token_level_rewards, response_mask, index = verl_layout(rewards, mask, s)
        flat = [values[s].reshape(-1, POS) for values in (probs.log(), sum_pi_squared)]
        expected = verl_optimal_token_baseline(token_level_rewards, response_mask, index, *flat,
                                               None if weights is None else weights[s].reshape(-1, POS))
        torch.testing.assert_close(ours[s], expected.reshape(BATCH, RESPONSES, POS), rtol=1e-5, atol=1e-6)
    varies = (ours[..., 1:] - ours[..., :1]).abs() * mask[..., 1:]
    assert varies.max() > 0.01  # the baseline moves along a response: not a response-level delta
    equal = ours[0, 2]  # a group of equal rewards: every baseline is that reward, so every delta 0
    torch.testing.assert_close(equal, torch.zeros_like(equal), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["remax", "optimal_token_baseline"])
def test_remax_and_the_optimal_token_baseline_keep_stacked_seeds_apart(mode):
    assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode=mode, loss_mode="clipped", epochs=3,
                                                         steps_per_epoch=2, responses=4))
    assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode=mode, loss_mode="clipped", policy="transformer",
                                                         task="variable", epochs=3, steps_per_epoch=2, responses=4))


def test_token_level_deltas_need_a_loss_that_takes_them(train_refusal):
    assert ("gives one delta a token; loss_mode 'gspo' takes one a response"
            in train_refusal(["--deltas", "optimal_token_baseline", "--loss", "gspo"]))
    assert "set dynamic_sampling 0" in train_refusal(["--deltas", "remax", "--dynamic-sampling", "1"])
