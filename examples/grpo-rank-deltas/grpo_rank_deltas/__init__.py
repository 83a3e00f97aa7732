"""An example grpo plugin: one deltas mode, installed through an entry point (pyproject.toml)."""

import torch


def centered_ranks(rewards: torch.Tensor) -> torch.Tensor:
    """``centered_ranks``: each response's rank among the responses to its prompt, scaled to
    [-0.5, 0.5] (ties share their mean rank), the fitness shaping of evolution strategies
    (Wierstra et al. 2014, NES; Salimans et al. 2017). Invariant to any increasing transform of
    the reward; sums to 0 in each group; a one-response group gets 0.

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
