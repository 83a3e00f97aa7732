"""Rewards of variable-length responses (the ``transformer`` policy), in tensor ops.

Every function maps ``prompts [batch pos]`` (padded, see grpo.tasks.sequences), ``responses
[seed batch response response_pos]`` and the task's ``vocab`` to ``rewards [seed batch
response]``. The table is a registry (group ``sequence_rewards``): a plugin registered there
serves the transformer policy as ``grpo.modes.rewards``' plugins serve the seed policy. Only a
response's real tokens count: anything after its first EOS changes no reward.
With ``n`` the prompt's length and the response's *content* its tokens before EOS:

- ``exact_match``: 1 if the response is the sorted prompt followed by EOS, else 0 (EOS
  included: a truncated or over-long response is wrong). Best 1.
- ``sort_distance`` (the seed's, extended): positions of the ideal response (sorted prompt,
  then EOS: n + 1 positions) that the response matches. A response shorter than the ideal
  matches nothing past its EOS, a longer one misses the ideal's EOS. Best n + 1.
- ``sort_inclusion_ordering`` (the seed's, extended): prompt tokens (with multiplicity) found
  in the content, plus ordered adjacent pairs ``x <= y`` among the first n content tokens
  (so that a longer response cannot collect more pairs), plus 1 if EOS follows exactly n
  content tokens. Best 2n.

``length_penalty`` is the optional shaping term ``|content length - n|``; the trainer subtracts
``length_penalty x`` it from any reward (0 for the ideal response, so the best reward holds).
``soft_overlong_punishment`` is DAPO's, added to any reward where ``overlong_cache_length`` is set.
"""

import torch

from grpo.modes.registry import Registry, tensor_contract
from grpo.tasks.sequences import canonical, ended, eos_token, ideal_responses, pad_token, prompt_lengths, response_mask


def content_lengths(responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """Tokens before the first EOS. [seed batch response]"""
    return (response_mask(responses, vocab) & (responses != eos_token(vocab))).sum(-1)


def _ideal(prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    return ideal_responses(prompts, vocab, responses.shape[-1])[:, None, :]  # [batch 1 response_pos]


def exact_match(prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """sparse: 1 for the sorted prompt followed by EOS, else 0."""
    return (canonical(responses, vocab) == _ideal(prompts, responses, vocab)).all(-1).float()


def sort_distance(prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """seed document, extended: positions of the ideal response (sorted prompt, EOS) matched."""
    ideal = _ideal(prompts, responses, vocab)  # [batch 1 response_pos]
    matches = (canonical(responses, vocab) == ideal) & (ideal != pad_token(vocab))
    return matches.sum(-1).float()


def sort_inclusion_ordering(prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """seed document, extended: prompt tokens found + ordered pairs + 1 for EOS at the right length."""
    length = prompt_lengths(prompts, vocab)[:, None]  # [batch 1]
    content = content_lengths(responses, vocab)  # [seed batch response]
    is_content = torch.arange(responses.shape[-1], device=responses.device) < content[..., None]  # [... response_pos]
    in_content = torch.where(is_content, responses, -1)  # -1 matches no prompt token
    is_prompt = prompts != pad_token(vocab)  # [batch pos]
    found = (prompts[:, None, :, None] == in_content[..., None, :]).any(-1) & is_prompt[:, None, :]  # [... pos]
    pair_end = torch.arange(1, responses.shape[-1], device=responses.device)  # pair (j - 1, j) for j = 1 ..
    counted = pair_end < torch.minimum(content, length)[..., None]  # [... response_pos-1]
    ordered = (responses[..., :-1] <= responses[..., 1:]) & counted
    stops_right = (content == length) & ended(responses, vocab)
    return (found.sum(-1) + ordered.sum(-1) + stops_right).float()


def length_penalty(prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """|content length - prompt length|: how far the response's length is from the ideal's."""
    return (content_lengths(responses, vocab) - prompt_lengths(prompts, vocab)[:, None]).abs().float()


def sequence_reward_contract(result, prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> str | None:
    return tensor_contract(result, responses.shape[:-1], "float rewards [seed batch response]")


SEQUENCE_REWARDS: Registry = Registry("sequence_rewards", {
    "exact_match": exact_match,
    "sort_distance": sort_distance,
    "sort_inclusion_ordering": sort_inclusion_ordering,
}, sequence_reward_contract)


def best_sequence_reward(reward_fn: str, prompts: torch.Tensor, vocab: int, max_length: int) -> torch.Tensor:
    """The reward of each prompt's ideal response. [batch]"""
    ideal = ideal_responses(prompts, vocab, max_length)[None, :, None, :]  # [1 batch 1 response_pos]
    return SEQUENCE_REWARDS.checked(reward_fn)(prompts, ideal, vocab)[0, :, 0]


def soft_overlong_punishment(responses: torch.Tensor, vocab: int, max_length: int, cache: int) -> torch.Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, arXiv 2503.14476, §3.4, eq. 13): with L a
    response's real tokens (EOS included), 0 while L <= max_length - cache, then (max_length -
    cache - L) / cache down to -1 at L = max_length, and -1 beyond. As TRL's
    ``get_soft_overlong_punishment(max_completion_len, soft_punish_cache)``
    (trl/rewards/other_rewards.py, ``_SoftOverlongPunishment.__call__``), whose completion ids end
    with their EOS. responses [... response_pos] -> [...]"""
    lengths = response_mask(responses, vocab).sum(-1).float()
    allowed = max_length - cache
    return torch.where(lengths <= allowed, 0.0, torch.where(lengths <= max_length, (allowed - lengths) / cache, -1.0))
