"""TRL's per-step GRPO metrics, computed the way TRL computes them (huggingface/trl,
trl/trainer/grpo_trainer.py: ``reward_std``, ``completions/{min,max}_length``,
``completions/{mean,min,max}_terminated_length``, ``num_tokens``; transformers' Trainer:
``grad_norm``), for the records (grpo.core.schema names each column's TRL metric).

Shapes: ``responses [seed batch response pos]``; ``mask`` 1.0 on a response's real tokens (EOS
included), None where every token is real (the seed document's fixed-length policy).
"""

from typing import Any

import torch

from grpo.core.policies import Sample
from grpo.tasks.sequences import ended, prompt_lengths

ROLLOUT_METRICS = ("reward_std", "response_length_min", "response_length_max", "terminated_length",
                   "terminated_length_min", "terminated_length_max", "num_tokens")  # rollout_metrics' rows (schema names)


def rollout_metrics(sample: Sample, rewards: torch.Tensor, prompts: torch.Tensor, vocab: int) -> torch.Tensor:
    """One rollout's TRL metrics, per seed -> [ROLLOUT_METRICS seed]:
    reward_std: the standard deviation (Bessel-corrected, as TRL's nanstd) of every response's
    reward, across prompts (not within a group); the min and max response length in real tokens
    (EOS included, as TRL's completion lengths); the mean, min and max length of the responses that
    ended with EOS (NaN where none did: TRL logs 0 there); num_tokens: this rollout's prompt tokens
    (one prompt per response, padding left out) plus its responses' real tokens, what TRL adds to
    ``num_tokens`` at each generation (grpo.core.train sums them over the epochs). rewards [seed batch response]; prompts [batch pos] or
    [seed batch pos]."""
    seeds, batch, responses = rewards.shape
    if sample.mask is None:
        lengths = torch.full(rewards.shape, float(sample.responses.shape[-1]), device=rewards.device)
    else:
        lengths = sample.mask.sum(-1)  # [seed batch response]
    lengths = lengths.reshape(seeds, -1)  # [seed batch*response]
    terminated = ended(sample.responses, vocab).reshape(seeds, -1)  # [seed batch*response]
    count = terminated.sum(1)
    none = torch.full_like(lengths[:, 0], torch.nan)
    terminated_mean = torch.where(count > 0, (lengths * terminated).sum(1) / count.clamp(min=1), none)
    terminated_min = torch.where(count > 0, torch.where(terminated, lengths, torch.inf).amin(1), none)
    terminated_max = torch.where(count > 0, torch.where(terminated, lengths, -torch.inf).amax(1), none)
    prompt_tokens = prompt_lengths(prompts, vocab).float()  # [batch] or [seed batch]
    prompt_tokens = prompt_tokens.sum(-1).expand(seeds) * responses  # [seed]
    return torch.stack([rewards.reshape(seeds, -1).std(1), lengths.amin(1), lengths.amax(1), terminated_mean,
                        terminated_min, terminated_max, prompt_tokens + lengths.sum(1)])


def grad_norms(policy: Any, slices: int) -> torch.Tensor:
    """The L2 norm of each slice's gradient over all its weights [slice], as transformers' Trainer
    logs ``grad_norm`` (the norm clip_grad_norm_ returns: before any clipping; this trainer clips
    none). Call after backward, before the optimizer step."""
    squares = torch.zeros(slices, device=next(policy.parameters()).device)
    for weights in policy.parameters():
        if weights.grad is not None:
            for view in policy.seed_slices(weights.grad, 0, slices):  # [slice ...] each
                squares += view.reshape(slices, -1).square().sum(1)
    return squares.sqrt()
