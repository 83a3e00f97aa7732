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


def kl_per_token(estimator):
    """Wrap a per-token estimator of KL(pi || pi_ref): sum over positions, mean over prompts
    and responses (the seed's reduction). -> fn(log_probs, ref_log_probs) [seed]"""

    def kl(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
        return estimator(log_probs - ref_log_probs).sum(-1).mean((1, 2))

    kl.__doc__ = estimator.__doc__
    return kl


def k1(log_ratio: torch.Tensor) -> torch.Tensor:
    """``k1`` = log pi - log pi_ref: unbiased, high variance, can be negative (Schulman 2020,
    "Approximating KL Divergence")."""
    return log_ratio


def k2(log_ratio: torch.Tensor) -> torch.Tensor:
    """``k2`` = (log pi - log pi_ref)^2 / 2: biased (an f-divergence that matches KL to second
    order), low variance, >= 0 (Schulman 2020)."""
    return log_ratio.square() / 2


def k3(log_ratio: torch.Tensor) -> torch.Tensor:
    """``k3`` (the seed's, GRPO's) = exp(q - p) - (q - p) - 1 with p = log pi, q = log pi_ref:
    unbiased, low variance, >= 0 (Schulman 2020)."""
    return torch.exp(-log_ratio) + log_ratio - 1


KL_ESTIMATORS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    name: kl_per_token(estimator) for name, estimator in {"k1": k1, "k2": k2, "k3": k3}.items()
}
