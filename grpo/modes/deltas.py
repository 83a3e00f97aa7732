"""Deltas (advantages): how rewards become the per-response weight of the policy gradient.

Every mode maps ``rewards [seed batch response]`` to ``deltas [seed batch response]``; the
group of a response is the other responses to the same prompt (the response axis). Computed
once per rollout; the loss only consumes them. The first line of each function's docstring is
its help in ``grpo train --help``.
"""

import torch

from grpo.modes.registry import Registry, declare, tensor_contract

STD_EPS = 1e-5  # the seed document's guard against a zero std in a group of equal rewards


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
}, deltas_contract, facts={
    # Responses per prompt the mode needs: with one response a group's mean is that response, so
    # the centred modes give all-zero deltas (no learning) and the normalised ones divide by no spread.
    "min_group": 1,
    "reads_mask": False,  # True: called as fn(rewards, mask), mask [seed batch response pos] or None (every token real)
})


def min_group(deltas_mode: str) -> int:
    """Responses per prompt a mode needs: its ``min_group`` fact (``@declare(min_group=2)``, or
    ``my_deltas.min_group = 2``); else 1."""
    return DELTAS.fact(deltas_mode, "min_group")


def deltas_function(deltas_mode: str):
    """The mode as the trainer calls it, ``fn(rewards, mask)``: the mask (the responses' real
    tokens [seed batch response pos], None when every token is real) passed on to a mode that
    declares ``reads_mask``, dropped for the others."""
    fn = DELTAS.checked(deltas_mode)
    if DELTAS.fact(deltas_mode, "reads_mask"):
        return fn
    return lambda rewards, mask: fn(rewards)
