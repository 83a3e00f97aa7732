"""Deltas (advantages): how rewards become the per-response weight of the policy gradient.

Every mode maps ``rewards [seed batch response]`` to ``deltas [seed batch response]``; the
group of a response is the other responses to the same prompt (the response axis). Computed
once per rollout; the loss only consumes them. The first line of each function's docstring is
its help in ``grpo train --help``.
"""

import torch

from grpo.modes.registry import Registry, declare, tensor_contract

STD_EPS = 1e-5  # the seed document's guard against a zero std in a group of equal rewards
TRL_STD_EPS = 1e-4  # TRL's (trl/trainer/grpo_trainer.py: advantages / (std_rewards + 1e-4))
VERL_STD_EPS = 1e-6  # verl's advantage estimators' epsilon


def raw_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """seed document: the reward itself (REINFORCE without a baseline)."""
    return rewards


@declare(min_group=2)
def centered_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """seed document: reward minus its group mean (Dr. GRPO's choice).

    The baseline that Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training") argues
    for, since dividing by the std biases towards too-easy and too-hard prompts."""
    return rewards - rewards.mean(-1, keepdim=True)


@declare(min_group=2)
def normalized_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """seed document, GRPO: centered / (group std + 1e-5), the std with Bessel's correction.

    GRPO (Shao et al. 2024, DeepSeekMath). Needs at least 2 responses."""
    return centered_rewards(rewards) / (rewards.std(-1, keepdim=True) + STD_EPS)


def max_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """seed document: keep a reward only where it equals its group's max, else 0."""
    best = rewards.max(-1, keepdim=True).values
    return torch.where(rewards == best, rewards, torch.zeros_like(rewards))


@declare(min_group=2)
def rloo(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO: reward minus the mean of the other responses to the same prompt (leave-one-out).

    The leave-one-out baseline of RLOO (Ahmadian et al. 2024, "Back to Basics: Revisiting
    REINFORCE Style Optimization for RLHF"). Equals N / (N - 1) x centered. Needs N >= 2."""
    group = rewards.shape[-1]
    others_mean = (rewards.sum(-1, keepdim=True) - rewards) / (group - 1)
    return rewards - others_mean


@declare(min_group=2)
def batch_normalized(rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE++, ScaleRL: centred per prompt, divided by the std over the whole batch + 1e-5.

    The std of the centred rewards over the seed's whole batch (all prompts and responses), as
    REINFORCE++ (Hu 2025) and
    ScaleRL (Khatri et al. 2025) do: one scale for every prompt, so easy and hard prompts are
    not re-weighted as with the per-prompt std."""
    centered = centered_rewards(rewards)  # [seed batch response]
    return centered / (centered.flatten(1).std(-1)[:, None, None] + STD_EPS)


@declare(min_group=2)
def group_mean_batch_std(rewards: torch.Tensor) -> torch.Tensor:
    """TRL's scale_rewards="batch", LitePPO: centred per prompt, divided by the std of the raw rewards over the batch + 1e-4.

    TRL (trl/trainer/grpo_trainer.py, ``_generate_and_score_completions``: ``std_rewards =
    nanstd(rewards)`` over the whole batch, ``advantages / (std_rewards + 1e-4)``); LitePPO (Liu et
    al. 2025, arXiv 2508.08221): the group's mean, the batch's std. batch_normalized divides by
    the std of the centred rewards instead (the spread within groups only), as REINFORCE++ does;
    this std also counts the spread between prompts' means. Bessel's correction, as TRL's nanstd."""
    return centered_rewards(rewards) / (rewards.flatten(1).std(-1)[:, None, None] + TRL_STD_EPS)


def token_counts(rewards: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Real tokens of each response [seed batch response] (1 each when the mask is None: equal lengths)."""
    return torch.ones_like(rewards) if mask is None else mask.sum(-1)


@declare(reads_mask=True)
def reinforce_plus_plus(rewards: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """REINFORCE++: the reward whitened over the batch's tokens, no per-prompt baseline (verl's reinforce_plus_plus).

    REINFORCE++ (Hu 2025, arXiv 2501.03262); verl (verl/trainer/ppo/core_algos.py,
    ``compute_reinforce_plus_plus_outcome_advantage``, gamma 1): every token's return is its
    response's outcome reward, whitened by ``masked_whiten`` over the batch's real tokens: (r -
    token mean) / sqrt(token variance with Bessel's correction + 1e-8), so a long response
    weighs more in the mean and variance. Without a mask (equal lengths) every response counts
    once and Bessel's correction counts responses, not tokens (verl: n tokens / (n - 1); on the
    seed task 90/89 against 30/29, 1.1% in the variance)."""
    counts = token_counts(rewards, mask)  # [seed batch response]
    total = counts.sum((1, 2), keepdim=True)
    mean = (rewards * counts).sum((1, 2), keepdim=True) / total
    variance = ((rewards - mean).square() * counts).sum((1, 2), keepdim=True) / (total - 1)
    return (rewards - mean) * torch.rsqrt(variance + 1e-8)


@declare(min_group=2, reads_mask=True)
def reinforce_plus_plus_baseline(rewards: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """REINFORCE++-baseline: the group's mean subtracted, then whitened over the batch's tokens (verl's).

    REINFORCE++ (Hu 2025, arXiv 2501.03262); verl (verl/trainer/ppo/core_algos.py,
    ``compute_reinforce_plus_plus_baseline_outcome_advantage``): reward minus its group's mean,
    then ``masked_whiten`` over the batch's real tokens as reinforce_plus_plus. batch_normalized
    is its response-weighted form without the second centring (on equal lengths the centred
    rewards' mean is 0 already) and with 1e-5 added to the std instead of 1e-8 to the variance."""
    return reinforce_plus_plus(centered_rewards(rewards), mask)


@declare(min_group=2, reads_mask=True)
def opo(rewards: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """OPO: reward minus the length-weighted mean of its group, the optimal baseline for sequence rewards.

    On-Policy RL with Optimal Reward Baseline (Hao et al. 2025, arXiv 2505.23585); verl
    (verl/trainer/ppo/core_algos.py, ``compute_opo_outcome_advantage``): b = sum L_i r_i / sum L_i
    over the group, L a response's real tokens. With equal lengths (no mask) it is
    centered_rewards."""
    counts = token_counts(rewards, mask)  # [seed batch response]
    return rewards - (counts * rewards).sum(-1, keepdim=True) / counts.sum(-1, keepdim=True)


@declare(min_group=2)
def gpg(rewards: torch.Tensor) -> torch.Tensor:
    """GPG: centred per prompt, times the batch's responses / those with a nonzero reward.

    Group Policy Gradient (Chu et al. 2025, arXiv 2504.02546); verl
    (verl/trainer/ppo/core_algos.py, ``compute_gpg_outcome_advantage``, f_norm 1): alpha = B /
    count_nonzero(rewards) over the seed's batch, which scales the gradient up when few responses
    score; no std. GPG pairs it with verl's ``gpg`` loss, -log pi x A: this project's naive."""
    nonzero = (rewards != 0).flatten(1).sum(-1).clamp(min=1)  # [seed]
    alpha = rewards[0].numel() / nonzero  # [seed]
    return alpha[:, None, None] * centered_rewards(rewards)


@declare(min_group=2)
def grpo_passk(rewards: torch.Tensor) -> torch.Tensor:
    """Pass@k: only each group's best response has a delta, (best - second best) / (group std + 1e-6).

    Chen et al. 2025, arXiv 2503.19595; verl (verl/trainer/ppo/core_algos.py,
    ``compute_grpo_passk_outcome_advantage``, ``norm_adv_by_std_in_grpo`` true, its default): the
    delta of a group's first best response (verl's ``torch.topk``; with a tie the gap is 0, so
    which one does not matter), every other response 0; the std with Bessel's correction."""
    top = rewards.topk(2, dim=-1).values  # [seed batch 2]
    gap = (top[..., 0] - top[..., 1]) / (rewards.std(-1) + VERL_STD_EPS)  # [seed batch]
    first_best = torch.zeros_like(rewards).scatter_(-1, rewards.argmax(-1, keepdim=True), 1.0)
    return first_best * gap[..., None]


@declare(reads_rollout=("greedy_rewards",))
def remax(rewards: torch.Tensor, greedy_rewards: torch.Tensor) -> torch.Tensor:
    """ReMax: reward minus the reward of the policy's greedy response to the same prompt (verl's remax).

    ReMax (Li et al. 2023, arXiv 2310.10505); verl (verl/trainer/ppo/core_algos.py,
    ``compute_remax_outcome_advantage``: ``returns - reward_baselines``; the baseline is the reward
    of a ``do_sample=False`` response to each prompt, generated beside the rollout and repeated
    over its n responses, verl/trainer/ppo/ray_trainer.py, ``gen_baseline_batch``). The trainer
    generates one greedy response a prompt with the rollout's policy (1/responses of the
    rollout's sampling) and rewards it. greedy_rewards [seed batch]. Needs no group: one
    response a prompt has a baseline."""
    return rewards - greedy_rewards[..., None]


OTB_EPS = 1e-8  # verl's epsilon of compute_optimal_token_baseline_advantage


@declare(min_group=2, reads_mask=True, token_level=True,
         reads_rollout=("old_log_probs", "sum_pi_squared", "rollout_is_weights"))
def optimal_token_baseline(rewards: torch.Tensor, mask: torch.Tensor | None, old_log_probs: torch.Tensor,
                           sum_pi_squared: torch.Tensor, rollout_is_weights: torch.Tensor | None) -> torch.Tensor:
    """OTB: per token, reward minus its group's mean weighed by each response's path variance so far (verl's).

    verl's optimal token baseline (verl/trainer/ppo/core_algos.py,
    ``compute_optimal_token_baseline_advantage``, ``handle_zero_tail`` False, its default): with an
    outcome reward every token's return G_t is its response's reward; per position t of a group,
    B_t = sum_i G_i W_i,t m_i,t / (sum_i W_i,t m_i,t + 1e-8), W_i,t = sum_{j<=t} m_i,j w_i,j the
    cumulative path-variance proxy, w_j = 1 - 2 pi_j + sum_v pi(v)^2 (pi_j the rollout
    probability of the drawn token, ``old_log_probs``; ``sum_pi_squared`` over the vocabulary),
    times rho^2 where a rollout correction weighs tokens (``rollout_is_weights``, verl's W
    correction); the delta is (G_t - B_t) m_t, one a token [seed batch response pos]. A response
    alone in its group has no baseline in verl; here a group has at least 2 responses."""
    real = torch.ones_like(old_log_probs) if mask is None else mask  # [seed batch response pos]
    per_token = 1 - 2 * old_log_probs.exp() + sum_pi_squared
    if rollout_is_weights is not None:
        per_token = per_token * rollout_is_weights.square()
    cumulative = (per_token * real).cumsum(-1)  # W_t [seed batch response pos]
    returns = rewards[..., None].expand(real.shape)  # G_t: the outcome reward at every token
    baseline = (returns * cumulative * real).sum(2, keepdim=True) / ((cumulative * real).sum(2, keepdim=True) + OTB_EPS)
    return (returns - baseline) * real


def equal_reward_groups(rewards: torch.Tensor) -> torch.Tensor:
    """Whether each group's rewards are all equal: every centred deltas mode (centered, normalized,
    rloo, batch_normalized) gives such a group deltas of 0, so it adds nothing to the policy
    gradient (DAPO, Yu et al. 2025, arXiv 2503.14476, §3.2). rewards [seed batch response] -> [seed batch] bool"""
    return (rewards == rewards[..., :1]).all(-1)


def deltas_contract(result, rewards: torch.Tensor, *_) -> str | None:
    return tensor_contract(result, rewards.shape, "float deltas [seed batch response], one per reward")


DELTAS: Registry = Registry("deltas", {
    "rewards": raw_rewards,
    "centered_rewards": centered_rewards,
    "normalized_rewards": normalized_rewards,
    "max_rewards": max_rewards,
    "rloo": rloo,
    "batch_normalized": batch_normalized,
    "group_mean_batch_std": group_mean_batch_std,
    "reinforce_plus_plus": reinforce_plus_plus,
    "reinforce_plus_plus_baseline": reinforce_plus_plus_baseline,
    "opo": opo,
    "gpg": gpg,
    "grpo_passk": grpo_passk,
    "remax": remax,
    "optimal_token_baseline": optimal_token_baseline,
}, deltas_contract, facts={
    # Responses per prompt the mode needs: with one response a group's mean is that response, so
    # the centred modes give all-zero deltas (no learning) and the normalised ones divide by no spread.
    "min_group": 1,
    "reads_mask": False,  # True: called as fn(rewards, mask), mask [seed batch response pos] or None (every token real)
    # What the mode reads of the rollout beyond its rewards, as keyword arguments: greedy_rewards [seed batch] (the
    # reward of the rollout policy's greedy response to each prompt), old_log_probs and sum_pi_squared (the rollout
    # policy's log-prob of each drawn token and sum of squared probabilities over the vocabulary) [seed batch response
    # pos], rollout_is_weights [seed batch response pos] or None (a rollout correction's weights)
    "reads_rollout": (),
    "token_level": False,  # True: returns one delta a token [seed batch response pos]; only losses that take them
})


def min_group(deltas_mode: str) -> int:
    """Responses per prompt a mode needs: its ``min_group`` fact (``@declare(min_group=2)``, or
    ``my_deltas.min_group = 2``); else 1."""
    return DELTAS.fact(deltas_mode, "min_group")


def deltas_function(deltas_mode: str):
    """The mode as the trainer calls it, ``fn(rewards, mask, **rollout)``: the mask (the responses'
    real tokens [seed batch response pos], None when every token is real) passed on to a mode that
    declares ``reads_mask``, dropped for the others; of `rollout`'s keyword arguments, those the
    mode declares in ``reads_rollout``."""
    fn = DELTAS.checked(deltas_mode)
    with_mask, reads = DELTAS.fact(deltas_mode, "reads_mask"), DELTAS.fact(deltas_mode, "reads_rollout")
    return lambda rewards, mask, **rollout: fn(rewards, *([mask] if with_mask else []),
                                               **{name: rollout[name] for name in reads})
