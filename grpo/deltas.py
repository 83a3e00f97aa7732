"""Deltas (advantages): how rewards become the per-response weight of the policy gradient.

Every mode maps ``rewards [seed batch trial]`` to ``deltas [seed batch trial]``; the group
of a response is the other responses to the same prompt (the trial axis). Computed once
per rollout; the loss only consumes them.
"""

from collections.abc import Callable
from typing import Literal

import torch

DeltasName = Literal["rewards", "centered_rewards", "normalized_rewards", "max_rewards"]
STD_EPS = 1e-5  # the seed's guard against a zero std in a group of equal rewards


def raw_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """Seed ``rewards``: the reward itself (REINFORCE without a baseline)."""
    return rewards


def centered_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """Seed ``centered_rewards``: reward minus its group mean. The baseline that
    Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training") argues for, since
    dividing by the std biases towards too-easy and too-hard prompts."""
    return rewards - rewards.mean(-1, keepdim=True)


def normalized_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """Seed ``normalized_rewards``: centered / (group std + 1e-5), the std with Bessel's
    correction (GRPO, Shao et al. 2024, DeepSeekMath). Needs at least 2 responses."""
    return centered_rewards(rewards) / (rewards.std(-1, keepdim=True) + STD_EPS)


def max_rewards(rewards: torch.Tensor) -> torch.Tensor:
    """Seed ``max_rewards``: keep a reward only where it equals its group's max, else 0."""
    best = rewards.max(-1, keepdim=True).values
    return torch.where(rewards == best, rewards, torch.zeros_like(rewards))


DELTAS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "rewards": raw_rewards,
    "centered_rewards": centered_rewards,
    "normalized_rewards": normalized_rewards,
    "max_rewards": max_rewards,
}
MIN_GROUP: dict[str, int] = {"normalized_rewards": 2}  # responses per prompt a mode needs
