"""Policy losses and the KL penalty, in stages: log-ratio -> ratio -> per-token surrogate ->
mean.

Shapes: ``log_probs, old_log_probs [seed batch trial pos]`` (log-probability of each response
token), ``deltas [seed batch trial]``. Every loss returns one value per seed (the mean over
batch, trial and position), so the seeds stacked in one model stay independent: the total
loss is their sum and each seed's gradient is its own.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

LossName = Literal["naive", "unclipped", "clipped"]


@dataclass(frozen=True)
class LossTerms:
    loss: torch.Tensor  # [seed] the surrogate to minimise
    clip_frac: torch.Tensor  # [seed] fraction of tokens whose clipping is active (0 if unclipped)


def naive(log_probs, old_log_probs, deltas, epsilon) -> LossTerms:
    """Seed ``naive``: -mean(log pi * delta), REINFORCE. Needs no old log-probs."""
    surrogate = log_probs * deltas[..., None]  # [seed batch trial pos]
    return LossTerms(-surrogate.mean((1, 2, 3)), torch.zeros_like(surrogate[:, 0, 0, 0]))


def unclipped(log_probs, old_log_probs, deltas, epsilon) -> LossTerms:
    """Seed ``unclipped``: -mean(r * delta) with the probability ratio
    r = exp(log pi - log pi_old). (The seed's ``log_probs / old_log_probs`` is no ratio and
    flips the gradient's sign.) At pi = pi_old its gradient is the naive one."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch trial pos]
    surrogate = ratio * deltas[..., None]
    return LossTerms(-surrogate.mean((1, 2, 3)), torch.zeros_like(surrogate[:, 0, 0, 0]))


def clipped(log_probs, old_log_probs, deltas, epsilon) -> LossTerms:
    """Seed ``clipped`` (PPO, Schulman et al. 2017; GRPO): -mean(min(r * delta,
    clip(r, 1 - eps, 1 + eps) * delta)). A token whose ratio has left the trust region in
    the direction of its delta gets zero gradient."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch trial pos]
    delta = deltas[..., None]  # [seed batch trial 1]
    surrogate = torch.minimum(ratio * delta, ratio.clamp(1 - epsilon, 1 + epsilon) * delta)
    is_clipped = ((ratio < 1 - epsilon) & (delta < 0)) | ((ratio > 1 + epsilon) & (delta > 0))
    return LossTerms(-surrogate.mean((1, 2, 3)), is_clipped.float().mean((1, 2, 3)))


LOSSES: dict[str, Callable[..., LossTerms]] = {
    "naive": naive,
    "unclipped": unclipped,
    "clipped": clipped,
}
NEEDS_OLD_LOG_PROBS: dict[str, bool] = {"naive": False, "unclipped": True, "clipped": True}


def kl_k3(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """Seed KL penalty, Schulman's k3 estimator of KL(pi || pi_ref) per token,
    exp(q - p) - (q - p) - 1 >= 0 with p = log pi, q = log pi_ref; summed over positions,
    averaged over prompts and responses. [seed]"""
    log_ratio = ref_log_probs - log_probs  # [seed batch trial pos]
    return (torch.exp(log_ratio) - log_ratio - 1).sum(-1).mean((1, 2))
