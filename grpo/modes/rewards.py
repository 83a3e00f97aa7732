"""Reward functions: how close a response is to its sorted prompt, in tensor ops.

Every function maps ``prompts [batch pos]`` and ``responses [seed batch response pos]`` to
``rewards [seed batch response]`` (float) in its own units. Every function rates the ideal
response (the sorted prompt) best, so ``best_reward`` is the reward of that response and
``reward_frac = reward / best_reward`` puts all functions on one axis. The first line of each
function's docstring is its help in ``grpo train --help``.
"""

import torch

from grpo.modes.registry import Registry, tensor_contract
from grpo.tasks.prompts import Task


def prompt_tokens_found(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Whether each prompt token (with multiplicity) occurs in the response. [seed batch response pos]"""
    return (prompts[:, None, :, None] == responses[..., None, :]).any(-1)


def sort_distance(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """seed document: the number of positions where the response equals sorted(prompt)."""
    ideal = Task.ideal(prompts)[:, None, :]  # [batch 1 pos]
    return (responses == ideal).sum(-1).float()


def sort_inclusion_ordering(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """seed document: prompt tokens found in the response (with multiplicity) + ordered adjacent pairs.

    An adjacent response pair is ordered when ``x <= y``."""
    included = prompt_tokens_found(prompts, responses)  # [seed batch response pos]
    ordered = responses[..., :-1] <= responses[..., 1:]  # [seed batch response pos-1]
    return (included.sum(-1) + ordered.sum(-1)).float()


def exact_match(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """sparse: 1 for the exactly sorted response, 0 for anything else.

    The outcome reward of verifiable-answer RL, e.g. DeepSeek-R1's accuracy reward."""
    return Task.is_ideal(prompts, responses).float()


def pairwise_order(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """dense: fraction of position pairs ordered as in the sorted prompt x prompt tokens found.

    The seed document's "relative positions": the fraction of position pairs
    i < j that the response orders as the sorted prompt does, i.e. with
    sign(r_j - r_i) == sign(s_j - s_i) (a tie agrees only with a tie), times the fraction of
    prompt tokens (with multiplicity) found in the response, so that any increasing sequence
    of the wrong tokens cannot score full marks. 1 only for responses that are sorted and
    contain every prompt token."""
    ideal = Task.ideal(prompts)[:, None, :]  # [batch 1 pos]
    length = responses.shape[-1]
    upper = torch.ones(length, length, dtype=torch.bool, device=responses.device).triu(1)  # pairs i < j
    response_order = torch.sign(responses[..., None, :] - responses[..., :, None])  # [seed batch response pos pos]
    ideal_order = torch.sign(ideal[..., None, :] - ideal[..., :, None])  # [batch 1 pos pos]
    pairs = int(upper.sum())
    agreement = ((response_order == ideal_order) & upper).sum((-1, -2)).float() / pairs if pairs else 1.0
    included = prompt_tokens_found(prompts, responses).float().mean(-1)  # [seed batch response]
    return agreement * included


def reward_contract(result, prompts: torch.Tensor, responses: torch.Tensor) -> str | None:
    return tensor_contract(result, responses.shape[:-1], "float rewards [seed batch response]")


REWARDS: Registry = Registry("rewards", {
    "sort_distance": sort_distance,
    "sort_inclusion_ordering": sort_inclusion_ordering,
    "exact_match": exact_match,
    "pairwise_order": pairwise_order,
}, reward_contract)


def best_reward(reward_fn: str, prompts: torch.Tensor) -> torch.Tensor:
    """The best attainable reward of each prompt: that of its sorted response. [batch]"""
    return REWARDS.checked(reward_fn)(prompts, Task.ideal(prompts)[None, :, None, :])[0, :, 0]
