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


def trl_rollout_metrics(sample: Sample, rewards: torch.Tensor, vocab: int) -> dict[str, torch.Tensor]:
    """One rollout's TRL metrics by record column, each [seed]: reward_std, the standard deviation
    (Bessel-corrected, as TRL's nanstd) of every response's reward, across prompts (not within a
    group); the min and max response length in real tokens (EOS included, as TRL's completion
    lengths); the mean, min and max length of the responses that ended with EOS (NaN where none
    did: TRL logs 0 there). rewards [seed batch response]."""
    seeds = rewards.shape[0]
    lengths = _lengths(sample, rewards.shape).reshape(seeds, -1)  # [seed batch*response]
    terminated = ended(sample.responses, vocab).reshape(seeds, -1)  # [seed batch*response]
    count = terminated.sum(1)
    none = torch.full_like(lengths[:, 0], torch.nan)
    return {
        "reward_std": rewards.reshape(seeds, -1).std(1),
        "response_length_min": lengths.amin(1),
        "response_length_max": lengths.amax(1),
        "terminated_length": torch.where(count > 0, (lengths * terminated).sum(1) / count.clamp(min=1), none),
        "terminated_length_min": torch.where(count > 0, torch.where(terminated, lengths, torch.inf).amin(1), none),
        "terminated_length_max": torch.where(count > 0, torch.where(terminated, lengths, -torch.inf).amax(1), none),
    }


def rollout_tokens(sample: Sample, prompts: torch.Tensor, vocab: int) -> torch.Tensor:
    """The tokens one rollout adds to TRL's ``num_tokens``: its prompt tokens (one prompt per
    response, padding left out) plus its responses' real tokens [seed] (grpo.core.train sums them
    over the epochs). prompts [batch pos] or [seed batch pos]."""
    seeds, _, responses = sample.responses.shape[:3]
    prompt_tokens = prompt_lengths(prompts, vocab).float().sum(-1).expand(seeds) * responses  # [seed]
    return prompt_tokens + _lengths(sample, sample.responses.shape[:3]).sum((1, 2))


def _lengths(sample: Sample, shape: torch.Size) -> torch.Tensor:
    """Each response's length in real tokens, EOS included [seed batch response]."""
    if sample.mask is None:
        return torch.full(shape, float(sample.responses.shape[-1]), device=sample.responses.device)
    return sample.mask.sum(-1)


def grad_norms(policy: Any, slices: int) -> torch.Tensor:
    """The L2 norm of each slice's gradient over all its weights [slice], as transformers' Trainer
    logs ``grad_norm`` (the norm clip_grad_norm_ returns: before any clipping; this trainer clips
    none). Call after backward, before the optimizer step."""
    views = [view.reshape(slices, -1) for weights in policy.parameters() if weights.grad is not None
             for view in policy.seed_slices(weights.grad, 0, slices)]  # [slice weights] each
    return torch.linalg.vector_norm(torch.cat(views, 1), dim=1)  # two kernels a step, whatever the sections
