"""An example grpo plugin: one deltas mode, installed through an entry point (pyproject.toml)."""

import torch


def centered_ranks(rewards: torch.Tensor) -> torch.Tensor:
    """ES fitness shaping: the response's rank in its group, scaled to [-0.5, 0.5] (ties share).

    The centered rank transformation of evolution strategies (Wierstra et al. 2014, "Natural
    Evolution Strategies"; Salimans et al. 2017, "Evolution Strategies as a Scalable
    Alternative to Reinforcement Learning"): ranks 0 .. N-1 of the N responses to a prompt,
    ties given their mean rank, mapped to rank / (N - 1) - 0.5. Invariant to any increasing
    transform of the reward and to its scale; sums to 0 in each group; a one-response group
    gets 0 (so the mode declares ``min_group``). (The first line above is the mode's help in ``grpo train --help``.)

    rewards [seed batch response] -> deltas [seed batch response]
    """
    group = rewards.shape[-1]
    if group == 1:
        return torch.zeros_like(rewards)
    others = rewards[..., None, :]  # [seed batch 1 response]
    below = (others < rewards[..., None]).sum(-1)  # [seed batch response] responses ranked lower
    tied = (others == rewards[..., None]).sum(-1) - 1  # [seed batch response] others with the same reward
    rank = below + tied / 2  # 0 .. group - 1, ties averaged
    return rank / (group - 1) - 0.5


centered_ranks.min_group = 2  # with one response every delta is 0: grpo refuses responses = 1
