"""Policy losses and the KL penalty, in stages: log-ratio -> ratio -> per-token surrogate ->
mean.

Shapes: ``log_probs, old_log_probs [seed batch response pos]`` (log-probability of each
response token), ``deltas [seed batch response]``, and the keyword ``mask [seed batch response
pos]`` (1.0 on a response's real tokens, 0.0 after its EOS), which the trainer passes only for
variable-length responses (policy transformer): a loss that takes no mask still serves the seed
document's policy, where every token is real. Every loss returns one value per seed: its per-token terms over the real
tokens, aggregated as ``config.loss_agg`` says (grpo.modes.aggregation; with every token real, the
mean over batch, response and position), so the seeds stacked in one model stay
independent: the total loss is their sum and each seed's gradient is its own.

The first line of each function's docstring is its help in ``grpo train --help``.

Groups (grpo.core.group): configurations that differ only in numbers train as slices of one
model, the leading axis then running over (configuration, seed). A loss reads its numbers from
``config`` as always; in a group, a number that differs between its configurations
(``epsilon``, ``epsilon_low``, ``epsilon_high``) is a float64 tensor ``[slice 1 1 1]``, which
the built-ins pass through ``per_slice`` before it meets their float32 tensors. A plugin loss
joins groups only if it says it reads them so (``my_loss.sliced = True``, see ``takes_slices``);
otherwise each of its configurations trains in a program of its own, reading plain floats.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from grpo.errors import UsageError
from grpo.modes.aggregation import LOSS_AGGREGATIONS, TOKEN_DIMS, token_mean
from grpo.modes.registry import Registry, tensor_contract


@dataclass(frozen=True)
class LossTerms:
    loss: torch.Tensor  # [seed] the surrogate to minimise
    clip_low: torch.Tensor  # [seed] fraction of tokens (sequences for gspo) clipped at 1 - eps_low
    clip_high: torch.Tensor  # [seed] fraction clipped at 1 + eps_high (both 0 for losses that do not clip)
    clip_high_low_prob: torch.Tensor | None = None  # [seed] low_prob_clip_high's; None: the loss clips no token's ratio


LOW_PROBABILITY = 0.2  # DAPO §3.1 (Fig. 3a): the up-clipped tokens' mean probability is below 0.2; 1 / the seed task's vocab


def low_prob_clip_high(above: torch.Tensor, positive: torch.Tensor, old_log_probs: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
    """DAPO's clip-higher mechanism (Yu et al. 2025, arXiv 2503.14476, §3.1): among the real
    tokens with a positive delta whose probability at the rollout was below LOW_PROBABILITY (the
    "exploration" tokens), the fraction above the upper bound, where the clip stops their rise;
    NaN for a seed with no such token. above: the tokens above the upper bound with a positive
    delta, old_log_probs [seed batch response pos]; positive: delta > 0 [seed batch response 1]
    -> [seed]"""
    low = old_log_probs < math.log(LOW_PROBABILITY)  # [seed batch response pos]
    if mask is not None:
        low = low & (mask > 0)
    return (low & above).sum(TOKEN_DIMS) / (low & positive).sum(TOKEN_DIMS)  # 0 / 0: NaN where none qualifies


def aggregate(values: torch.Tensor, mask: torch.Tensor | None, config) -> torch.Tensor:
    """Per-token terms [seed batch response pos] (or [seed batch response 1]: one term per
    response, counted on each of its real tokens) -> [seed], by ``config.loss_agg``."""
    return LOSS_AGGREGATIONS[config.loss_agg](values if mask is None else values.expand(mask.shape), mask)


def unclipped_terms(surrogate: torch.Tensor, mask, config) -> LossTerms:
    zero = torch.zeros_like(surrogate[:, 0, 0, 0])  # [seed]
    return LossTerms(-aggregate(surrogate, mask, config), zero, zero)


def per_slice(value, like: torch.Tensor):
    """A number of ``config`` as the arithmetic on `like` [slice ...] takes it: a float as it
    is; a group's float64 tensor [slice 1 1 1] (or an expression of it, such as ``1 - epsilon``)
    rounded to like's dtype and shaped [slice 1 ...] to broadcast over it. A float meeting a
    float32 tensor is rounded to float32 once, after Python's double arithmetic, and so is this
    tensor: the same bounds, bit for bit (tests/core/test_group.py)."""
    if isinstance(value, float):
        return value
    return value.to(like.dtype).view(-1, *[1] * (like.dim() - 1))


def clip_bounds(low, high, like: torch.Tensor):
    """(1 - low, 1 + high) as the arithmetic on `like` takes them (``per_slice``): two floats,
    or, where either is per-slice, two tensors (``clamp`` takes no mix)."""
    lower, upper = 1 - low, 1 + high
    if isinstance(lower, float) and isinstance(upper, float):
        return lower, upper
    return tuple(per_slice(torch.as_tensor(bound, dtype=torch.float64, device=like.device), like) for bound in (lower, upper))


def trust_region(ratio, delta, low, high, mask, config, fraction_mask, old_log_probs=None) -> LossTerms:
    """PPO's pessimistic surrogate -(min(r * delta, clip(r, 1 - low, 1 + high) * delta)),
    aggregated (`low`, `high`: floats, or per-slice tensors, see ``per_slice``). Where the ratio
    has left [1 - low, 1 + high] in the direction of its delta,
    the clipped (constant) term is the minimum and the gradient is zero; everywhere else the
    minimum is r * delta. Written as that choice (one ``where``) rather than as
    ``torch.minimum``: the same values and gradients (tests/modes/test_losses.py), and a backward of one
    node instead of the minimum's and the clamp's (bench/test_loss_kernels.py). The clip
    fractions count the real tokens of `fraction_mask` (None: every entry of `ratio`);
    `old_log_probs` (token-level ratios only) adds low_prob_clip_high."""
    lower, upper = clip_bounds(low, high, ratio)
    below = (ratio < lower) & (delta < 0)  # clipped at 1 - low
    above = (ratio > upper) & (delta > 0)  # clipped at 1 + high
    clipped_term = ratio.detach().clamp(lower, upper) * delta
    surrogate = torch.where(below | above, clipped_term, ratio * delta)
    clip_low, clip_high = token_mean(below.float(), fraction_mask), token_mean(above.float(), fraction_mask)
    low_prob = None if old_log_probs is None else low_prob_clip_high(above, delta > 0, old_log_probs, mask)
    return LossTerms(-aggregate(surrogate, mask, config), clip_low, clip_high, low_prob)


def naive(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """seed document: -mean(log pi x delta), REINFORCE; needs no old log-probs.

    ``old_log_probs`` is None here: the trainer skips their lookup for this loss."""
    return unclipped_terms(log_probs * deltas[..., None], mask, config)


def unclipped(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """seed document: -mean(r x delta), r = exp(log pi - log pi_old) the probability ratio.

    (The seed document's ``log_probs / old_log_probs`` is no ratio and flips the gradient's
    sign.) At pi = pi_old its gradient is the naive one."""
    return unclipped_terms(torch.exp(log_probs - old_log_probs) * deltas[..., None], mask, config)


def clipped(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """seed document: PPO/GRPO's trust region [1 - epsilon, 1 + epsilon] per token.

    PPO (Schulman et al. 2017), GRPO (Shao et al. 2024); ``epsilon``, the seed document's 0.01."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    return trust_region(ratio, deltas[..., None], config.epsilon, config.epsilon, mask, config, mask, old_log_probs)


def clip_higher(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """DAPO: asymmetric trust region [1 - epsilon_low, 1 + epsilon_high] per token (0.2 / 0.28).

    DAPO (Yu et al. 2025): unlikely tokens with a positive delta can grow further before
    clipping."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    return trust_region(ratio, deltas[..., None], config.epsilon_low, config.epsilon_high, mask, config, mask,
                        old_log_probs)


def gspo(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """GSPO: one ratio per sequence, exp(mean log-ratio), clipped to [1 - epsilon, 1 + epsilon].

    GSPO (Zheng et al. 2025) uses 3e-4 / 4e-4 on long responses; a 3-token mean moves far
    more, so the seed document's ``epsilon`` is the default here. The mean log-ratio runs over
    a response's real tokens only, and the sequence's term counts on each of them (as TRL's
    ``importance_sampling_level="sequence"``); the clip fractions count sequences."""
    log_ratio = log_probs - old_log_probs  # [seed batch response pos]
    if mask is None:
        mean_log_ratio = log_ratio.mean(-1, keepdim=True)
    else:
        mean_log_ratio = (log_ratio * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)
    ratio = torch.exp(mean_log_ratio)  # [seed batch response 1]
    return trust_region(ratio, deltas[..., None], config.epsilon, config.epsilon, mask, config, None)


def cispo(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """CISPO: -mean(sg(clip(r, 1 - epsilon_low, 1 + epsilon_high)) x delta x log pi); r <= 5.

    CISPO (MiniMax-M1, 2025; ScaleRL, Khatri et al. 2025): the importance weight is clipped
    and detached, so every token keeps a gradient. Defaults from the sources: no lower bound
    (MiniMax-M1 sets epsilon_low "to a large value"; verl's ``compute_policy_loss_cispo`` clamps
    to [1 - clip_ratio_low, 1 + clip_ratio_high]; here epsilon_low = 1, a bound of 0 that never
    acts) and an upper cap of 5 (ScaleRL's epsilon_max; TRL clamps the ratio at
    ``max=epsilon_high`` for cispo and recommends 5): epsilon_high = 4. The clip fractions count
    weights clipped whatever the delta's sign, since every clipped weight changes the gradient."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    lower, upper = clip_bounds(config.epsilon_low, config.epsilon_high, ratio)
    weight = ratio.clamp(lower, upper).detach()
    terms = unclipped_terms(weight * deltas[..., None] * log_probs, mask, config)
    clip_low = token_mean((ratio < lower).float(), mask)
    clip_high = token_mean((ratio > upper).float(), mask)
    positive = deltas[..., None] > 0
    low_prob = low_prob_clip_high((ratio > upper) & positive, positive, old_log_probs, mask)
    return LossTerms(terms.loss, clip_low, clip_high, low_prob)


def loss_contract(result, log_probs: torch.Tensor, *_) -> str | None:
    """A loss returns LossTerms whose three parts hold one float per seed (slice)."""
    if not isinstance(result, LossTerms):
        return f"returned {type(result).__name__}; it must return LossTerms(loss, clip_low, clip_high)"
    for part in ("loss", "clip_low", "clip_high"):
        problem = tensor_contract(getattr(result, part), log_probs.shape[:1], f"LossTerms.{part} [seed]")
        if problem:
            return problem
    return None


LOSSES: Registry = Registry("losses", {
    "naive": naive,
    "unclipped": unclipped,
    "clipped": clipped,
    "clip_higher": clip_higher,
    "gspo": gspo,
    "cispo": cispo,
}, loss_contract)
WITHOUT_OLD_LOG_PROBS = frozenset({"naive"})  # losses that never read old_log_probs (they get None)
LOSS_OPTIONS: dict[str, dict[str, float]] = {  # the TrainConfig fields each loss reads, with its defaults
    "clipped": {"epsilon": 0.01},  # the seed document's
    "clip_higher": {"epsilon_low": 0.2, "epsilon_high": 0.28},  # DAPO's
    "gspo": {"epsilon": 0.01},  # the seed document's
    "cispo": {"epsilon_low": 1.0, "epsilon_high": 4.0},  # no lower bound, ratio cap 5 (see cispo)
}


def loss_options(loss_mode: str) -> dict[str, float]:
    """The TrainConfig fields a loss reads, with its defaults: LOSS_OPTIONS for a built-in; a
    plugin declares its own as an attribute of its function (``my_loss.options = {"epsilon_high": 0.5}``).
    A plugin that cannot be imported reads none here; naming it as the loss_mode is the error."""
    if loss_mode in LOSS_OPTIONS:
        return LOSS_OPTIONS[loss_mode]
    try:
        return getattr(LOSSES.get(loss_mode), "options", {})
    except UsageError:
        return {}


def takes_slices(loss_mode: str) -> bool:
    """Whether a loss reads a group's per-slice numbers (see the module's docstring): every
    built-in does; a plugin says so with ``my_loss.sliced = True``."""
    return loss_mode in LOSSES.built_ins or getattr(LOSSES[loss_mode], "sliced", False)


def k1(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """log pi - log pi_ref: unbiased, high variance, can be negative (Schulman 2020).

    Schulman 2020, "Approximating KL Divergence". Per token: [seed batch response pos]."""
    return log_probs - ref_log_probs


def k2(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """(log pi - log pi_ref)^2 / 2: biased, low variance, >= 0 (Schulman 2020).

    An f-divergence that matches the KL to second order. Per token: [seed batch response pos]."""
    return (log_probs - ref_log_probs).square() / 2


def k3(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """seed document, GRPO: exp(q - p) - (q - p) - 1, p = log pi, q = log pi_ref: unbiased, >= 0.

    Schulman 2020; the estimator of GRPO (Shao et al. 2024), TRL and verl's ``low_var_kl``.
    Per token: [seed batch response pos]."""
    log_ratio = ref_log_probs - log_probs
    return torch.exp(log_ratio) - log_ratio - 1


def k3_corrected(log_probs: torch.Tensor, ref_log_probs: torch.Tensor, old_log_probs: torch.Tensor) -> torch.Tensor:
    """TRL's use_bias_correction_kl: k3 x the ratio pi / pi_old, unbiased for KL(pi || pi_ref) off-policy.

    TRL (trl/trainer/grpo_trainer.py, ``GRPOTrainer._compute_loss``; ``GRPOConfig.use_bias_correction_kl``,
    citing DeepSeek-V3.2, arXiv 2512.02556) multiplies the per-token k3 by ``coef_1 = exp(log pi -
    log pi_old)``, the token-level importance ratio, not detached. Samples come from pi_old, so
    E_old[r k3] = sum_v pi (pi_ref / pi - log(pi_ref / pi) - 1) = KL(pi || pi_ref), and, pi_old not
    depending on the weights, its gradient is unbiased for the KL's gradient; k3 alone in the loss
    is neither once pi moves from pi_old (arXiv 2512.21852). At pi = pi_old it equals k3 in value.
    Per token: [seed batch response pos]."""
    return torch.exp(log_probs - old_log_probs) * k3(log_probs, ref_log_probs)


def kl_contract(result, log_probs: torch.Tensor, ref_log_probs: torch.Tensor, *_) -> str | None:
    return tensor_contract(result, log_probs.shape, "a float per token [seed batch response pos]")


KL_ESTIMATORS: Registry = Registry("kl_estimators", {"k1": k1, "k2": k2, "k3": k3, "k3_corrected": k3_corrected},
                                   kl_contract)
KL_WITH_OLD_LOG_PROBS = frozenset({"k3_corrected"})  # estimators that read the rollout's log-probs too


def estimate_kl(estimator: str, log_probs: torch.Tensor, ref_log_probs: torch.Tensor,
                old_log_probs: torch.Tensor | None) -> torch.Tensor:
    """The per-token KL estimate of `estimator` [seed batch response pos], given the rollout's
    log-probs `old_log_probs` where it reads them (KL_WITH_OLD_LOG_PROBS)."""
    if estimator in KL_WITH_OLD_LOG_PROBS:
        return KL_ESTIMATORS.checked(estimator)(log_probs, ref_log_probs, old_log_probs)
    return KL_ESTIMATORS.checked(estimator)(log_probs, ref_log_probs)


def kl_sum(kl_tokens: torch.Tensor, mask: torch.Tensor | None = None, config=None) -> torch.Tensor:
    """seed document: summed over positions, averaged over prompts and responses.

    kl_penalty is then L x the beta of TRL and verl (L = response length) for the same
    penalty. Only a response's real tokens (``mask``) count.
    [seed batch response pos] -> [seed]"""
    return (kl_tokens if mask is None else kl_tokens * mask).sum(-1).mean((1, 2))


def kl_mean(kl_tokens: torch.Tensor, mask: torch.Tensor | None = None, config=None) -> torch.Tensor:
    """TRL, verl: aggregated over tokens as the policy loss is (loss_agg); kl_penalty is their beta.

    TRL (trl/trainer/grpo_trainer.py, ``_compute_loss``) adds beta x the per-token KL to the
    per-token loss before aggregating; verl (verl/workers/actor/dp_actor.py, ``use_kl_loss``)
    aggregates the per-token KL with the policy loss's ``loss_agg_mode``. With every token real
    (mask None), the mean over tokens. [seed batch response pos] -> [seed]"""
    return kl_tokens.mean((1, 2, 3)) if mask is None else aggregate(kl_tokens, mask, config)


KL_REDUCTIONS: dict[str, Callable[..., torch.Tensor]] = {"sum": kl_sum, "mean": kl_mean}


def kl_in_loss(loss: torch.Tensor, penalty: torch.Tensor, coefficient) -> torch.Tensor:
    """seed document, GRPO, TRL's beta, verl's use_kl_loss: kl_penalty x the KL estimate is a loss term.

    Its gradient is the estimator's own (``kl_estimator``), at every inner step.
    loss, penalty [seed] -> [seed]"""
    return loss + per_slice(coefficient, penalty) * penalty


def kl_in_reward(rewards: torch.Tensor, kl_tokens: torch.Tensor, mask: torch.Tensor | None, coefficient) -> torch.Tensor:
    """verl's use_kl_in_reward: kl_penalty x a response's KL, summed over its tokens, subtracted from its reward.

    verl (verl/trainer/ppo/ray_trainer.py, ``apply_kl_penalty``) subtracts beta x the per-token
    estimate, masked, from the token-level rewards, with the rollout policy's log-probs
    (``old_log_probs``) against the reference's; its GRPO advantage (verl/trainer/ppo/core_algos.py,
    ``compute_grpo_outcome_advantage``) sums the token-level rewards over the response. So an
    outcome reward becomes reward - beta x the sum over the response's real tokens, detached,
    before the deltas; the loss has no KL term. verl's estimator there is ``algorithm.kl_penalty``,
    by default ``kl`` (k1). rewards [seed batch response], kl_tokens [seed batch response pos],
    mask [seed batch response pos] or None -> [seed batch response]"""
    response_kl = (kl_tokens if mask is None else kl_tokens * mask).sum(-1)  # [seed batch response]
    return rewards - per_slice(coefficient, rewards) * response_kl.detach()


KL_PLACEMENTS: dict[str, Callable[..., torch.Tensor]] = {"loss": kl_in_loss, "reward": kl_in_reward}
