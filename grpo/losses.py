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

LossName = Literal["naive", "unclipped", "clipped", "clip_higher", "gspo", "cispo"]


@dataclass(frozen=True)
class LossTerms:
    loss: torch.Tensor  # [seed] the surrogate to minimise
    clip_low: torch.Tensor  # [seed] fraction of tokens (sequences for gspo) clipped at 1 - eps_low
    clip_high: torch.Tensor  # [seed] fraction clipped at 1 + eps_high (both 0 for losses that do not clip)


def unclipped_terms(surrogate: torch.Tensor) -> LossTerms:
    zero = torch.zeros_like(surrogate[:, 0, 0, 0])  # [seed]
    return LossTerms(-surrogate.mean((1, 2, 3)), zero, zero)


def trust_region(ratio, delta, low: float, high: float, dims) -> LossTerms:
    """PPO's pessimistic surrogate -mean(min(r * delta, clip(r, 1 - low, 1 + high) * delta))
    over `dims`. Where the ratio has left [1 - low, 1 + high] in the direction of its delta,
    the clipped (constant) term wins and the gradient is zero."""
    surrogate = torch.minimum(ratio * delta, ratio.clamp(1 - low, 1 + high) * delta)
    clip_low = ((ratio < 1 - low) & (delta < 0)).float().mean(dims)
    clip_high = ((ratio > 1 + high) & (delta > 0)).float().mean(dims)
    return LossTerms(-surrogate.mean(dims), clip_low, clip_high)


def naive(log_probs, old_log_probs, deltas, config) -> LossTerms:
    """Seed ``naive``: -mean(log pi * delta), REINFORCE. Needs no old log-probs."""
    return unclipped_terms(log_probs * deltas[..., None])


def unclipped(log_probs, old_log_probs, deltas, config) -> LossTerms:
    """Seed ``unclipped``: -mean(r * delta) with the probability ratio
    r = exp(log pi - log pi_old). (The seed's ``log_probs / old_log_probs`` is no ratio and
    flips the gradient's sign.) At pi = pi_old its gradient is the naive one."""
    return unclipped_terms(torch.exp(log_probs - old_log_probs) * deltas[..., None])


def clipped(log_probs, old_log_probs, deltas, config) -> LossTerms:
    """Seed ``clipped`` (PPO, Schulman et al. 2017; GRPO, Shao et al. 2024): the trust region
    [1 - epsilon, 1 + epsilon] per token (``epsilon``, seed default 0.01)."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch trial pos]
    return trust_region(ratio, deltas[..., None], config.epsilon, config.epsilon, (1, 2, 3))


def clip_higher(log_probs, old_log_probs, deltas, config) -> LossTerms:
    """``clip_higher`` (DAPO, Yu et al. 2025): an asymmetric trust region
    [1 - epsilon_low, 1 + epsilon_high] per token (DAPO's 0.2 / 0.28 by default), so unlikely
    tokens with a positive delta can grow further before clipping."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch trial pos]
    return trust_region(ratio, deltas[..., None], config.epsilon_low, config.epsilon_high, (1, 2, 3))


def gspo(log_probs, old_log_probs, deltas, config) -> LossTerms:
    """``gspo`` (GSPO, Zheng et al. 2025): one ratio per sequence,
    s = exp(mean over positions of log pi - log pi_old), clipped per sequence to
    [1 - epsilon, 1 + epsilon] (GSPO uses 3e-4 / 4e-4 on long responses; a 3-token mean
    moves far more, so the seed's ``epsilon`` is the default here)."""
    ratio = torch.exp((log_probs - old_log_probs).mean(-1))  # [seed batch trial]
    return trust_region(ratio, deltas, config.epsilon, config.epsilon, (1, 2))


def cispo(log_probs, old_log_probs, deltas, config) -> LossTerms:
    """``cispo`` (CISPO, MiniMax-M1 2025; ScaleRL, Khatri et al. 2025):
    -mean(sg(clip(r, 1 - epsilon_low, 1 + epsilon_high)) * delta * log pi). The importance
    weight is clipped and detached, so every token keeps a gradient."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch trial pos]
    weight = ratio.clamp(1 - config.epsilon_low, 1 + config.epsilon_high).detach()
    terms = unclipped_terms(weight * deltas[..., None] * log_probs)
    clip_low = (ratio < 1 - config.epsilon_low).float().mean((1, 2, 3))
    clip_high = (ratio > 1 + config.epsilon_high).float().mean((1, 2, 3))
    return LossTerms(terms.loss, clip_low, clip_high)


LOSSES: dict[str, Callable[..., LossTerms]] = {
    "naive": naive,
    "unclipped": unclipped,
    "clipped": clipped,
    "clip_higher": clip_higher,
    "gspo": gspo,
    "cispo": cispo,
}
NEEDS_OLD_LOG_PROBS: dict[str, bool] = {name: name != "naive" for name in LOSSES}


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
