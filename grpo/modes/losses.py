"""Policy losses and the KL penalty, in stages: log-ratio -> ratio -> per-token surrogate ->
mean.

Shapes: ``log_probs, old_log_probs [seed batch response pos]`` (log-probability of each
response token), ``deltas [seed batch response]`` (a loss declaring ``token_deltas`` also takes
one delta a token, ``[seed batch response pos]``: see per_token), and the keyword ``mask [seed batch response
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

from grpo.modes.aggregation import LOSS_AGGREGATIONS, TOKEN_DIMS, token_mean
from grpo.modes.registry import Registry, declare, tensor_contract


@dataclass(frozen=True)
class LossTerms:
    loss: torch.Tensor  # [seed] the surrogate to minimise
    clip_low: torch.Tensor  # [seed] fraction of tokens (sequences for gspo) clipped at 1 - eps_low
    clip_high: torch.Tensor  # [seed] fraction clipped at 1 + eps_high (both 0 for losses that do not clip)
    clip_high_low_prob: torch.Tensor | None = None  # [seed] low_prob_clip_high's; None: the loss clips no token's ratio
    extra_clip: torch.Tensor | None = None  # [seed] fraction of tokens a rule beyond the trust region acts on; None: none


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


def per_token(deltas: torch.Tensor) -> torch.Tensor:
    """Deltas as a per-token factor: [seed batch response] -> [seed batch response 1]; token-level
    deltas [seed batch response pos] (a loss declaring ``token_deltas``) as they are."""
    return deltas if deltas.dim() == 4 else deltas[..., None]


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


def trust_region_surrogate(ratio, delta, low, high):
    """PPO's pessimistic surrogate min(r * delta, clip(r, 1 - low, 1 + high) * delta) per entry,
    with where each bound acts: (surrogate, below, above) (`low`, `high`: floats, or per-slice
    tensors, see ``per_slice``). Where the ratio has left [1 - low, 1 + high] in the direction of
    its delta, the clipped (constant) term is the minimum and the gradient is zero; everywhere
    else the minimum is r * delta. Written as that choice (one ``where``) rather than as
    ``torch.minimum``: the same values and gradients (tests/modes/test_losses.py), and a backward of
    one node instead of the minimum's and the clamp's (bench/test_loss_kernels.py)."""
    lower, upper = clip_bounds(low, high, ratio)
    below = (ratio < lower) & (delta < 0)  # clipped at 1 - low
    above = (ratio > upper) & (delta > 0)  # clipped at 1 + high
    clipped_term = ratio.detach().clamp(lower, upper) * delta
    return torch.where(below | above, clipped_term, ratio * delta), below, above


def trust_region(ratio, delta, low, high, mask, config, fraction_mask, old_log_probs=None, dual_clip=0.0) -> LossTerms:
    """-trust_region_surrogate, aggregated. The clip fractions count the real tokens of
    `fraction_mask` (None: every entry of `ratio`); `old_log_probs` (token-level ratios only)
    adds low_prob_clip_high. `dual_clip` c > 0 (``clip_ratio_c``) caps a negative delta's term
    at c x delta where r > c (the dual clip, see clipped), counted in extra_clip."""
    surrogate, below, above = trust_region_surrogate(ratio, delta, low, high)
    extra = None
    if dual_clip:
        dual = (ratio > dual_clip) & (delta < 0)  # c >= 1 + high: never clipped above, nor below
        surrogate = torch.where(dual, dual_clip * delta, surrogate)
        extra = token_mean(dual.float(), fraction_mask)
    clip_low, clip_high = token_mean(below.float(), fraction_mask), token_mean(above.float(), fraction_mask)
    low_prob = None if old_log_probs is None else low_prob_clip_high(above, delta > 0, old_log_probs, mask)
    return LossTerms(-aggregate(surrogate, mask, config), clip_low, clip_high, low_prob, extra)


@declare(reads_old_log_probs=False, sliced=True, token_deltas=True)
def naive(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """seed document: -mean(log pi x delta), REINFORCE; needs no old log-probs.

    ``old_log_probs`` is None here: the trainer skips their lookup for this loss."""
    return unclipped_terms(log_probs * per_token(deltas), mask, config)


@declare(sliced=True, token_deltas=True)
def unclipped(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """seed document: -mean(r x delta), r = exp(log pi - log pi_old) the probability ratio.

    (The seed document's ``log_probs / old_log_probs`` is no ratio and flips the gradient's
    sign.) At pi = pi_old its gradient is the naive one."""
    return unclipped_terms(torch.exp(log_probs - old_log_probs) * per_token(deltas), mask, config)


@declare(options={"epsilon": 0.01, "clip_ratio_c": 0.0}, sliced=True, token_deltas=True)  # the seed document's; no dual clip
def clipped(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """seed document: PPO/GRPO's trust region [1 - epsilon, 1 + epsilon] per token.

    PPO (Schulman et al. 2017), GRPO (Shao et al. 2024); ``epsilon``, the seed document's 0.01.

    ``clip_ratio_c`` c > 0 adds the dual clip: a token with a negative delta and r > c keeps the
    constant term c x delta (no gradient), so one very likely token that should fall cannot
    weigh without bound. verl's ``clip_ratio_c`` (verl/trainer/ppo/core_algos.py,
    ``compute_policy_loss_vanilla``: ``pg_losses3 = -advantages * clip_ratio_c``, taken for
    advantages < 0; Ye et al. 2020, arXiv 1912.09729; verl's default 3, always on there) and TRL's
    ``delta`` (trl/trainer/grpo_trainer.py, ``_compute_loss``: ``coef_1 = torch.clamp(coef_1,
    max=self.args.delta)`` before the min; INTELLECT-2, arXiv 2505.07291) are the same rule, in
    value and gradient, wherever c >= 1 + the upper clip (TRL asks delta > 1 + epsilon): the
    clamp changes nothing where the delta is positive, since clip(r) <= 1 + epsilon_high < c there
    (tests/modes/test_mechanisms.py compares both formulations). Refused below 1 + the upper clip."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    return trust_region(ratio, per_token(deltas), config.epsilon, config.epsilon, mask, config, mask, old_log_probs,
                        config.clip_ratio_c)


@declare(options={"epsilon_low": 0.2, "epsilon_high": 0.28, "clip_ratio_c": 0.0}, sliced=True, token_deltas=True)  # DAPO's
def clip_higher(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """DAPO: asymmetric trust region [1 - epsilon_low, 1 + epsilon_high] per token (0.2 / 0.28).

    DAPO (Yu et al. 2025): unlikely tokens with a positive delta can grow further before
    clipping. ``clip_ratio_c`` adds the dual clip (see clipped)."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    return trust_region(ratio, per_token(deltas), config.epsilon_low, config.epsilon_high, mask, config, mask,
                        old_log_probs, config.clip_ratio_c)


@declare(options={"epsilon": 0.01}, sliced=True, token_terms=False)  # the seed document's
def gspo(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """GSPO: one ratio per sequence, exp(mean log-ratio), clipped to [1 - epsilon, 1 + epsilon].

    GSPO (Zheng et al. 2025) uses 3e-4 / 4e-4 on long responses; a 3-token mean moves far
    more, so the seed document's ``epsilon`` is the default here. The mean log-ratio runs over
    a response's real tokens only, and the sequence's term counts on each of them (as TRL's
    ``importance_sampling_level="sequence"``); the clip fractions count sequences."""
    ratio = torch.exp(response_mean(log_probs - old_log_probs, mask))  # [seed batch response 1]
    return trust_region(ratio, deltas[..., None], config.epsilon, config.epsilon, mask, config, None)


def response_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mean over each response's real tokens: [seed batch response pos] -> [seed batch response 1]."""
    if mask is None:
        return values.mean(-1, keepdim=True)
    return (values * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)


def response_lengths(like: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | int:
    """Real tokens per response [seed batch response 1] (the pos axis's size when every token is real)."""
    return like.shape[-1] if mask is None else mask.sum(-1, keepdim=True)


@declare(options={"epsilon": 0.01}, sliced=True, token_deltas=True)  # as gspo
def gspo_token(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """GSPO-token: GSPO's sequence ratio on every token, sg[s] x pi / sg[pi], clipped per token.

    GSPO (Zheng et al. 2025, arXiv 2507.18071, §4.3): s_t = sg[s] pi_t / sg[pi_t] has the value of
    the sequence ratio s = exp(mean log-ratio) and the gradient of a token's, so per-token deltas
    could weigh each token; with one delta a response (as here) its value and gradient are gspo's
    (tests/modes/test_mechanisms.py). As verl's ``gspo`` loss (verl/trainer/ppo/core_algos.py,
    ``compute_policy_loss_gspo``), with its clamp of the log-ratio at 10; the clip fractions count
    tokens, as verl's ``pg_clipfrac`` does."""
    mean_log_ratio = response_mean(log_probs - old_log_probs, mask)  # [seed batch response 1]
    log_ratio = (log_probs - log_probs.detach() + mean_log_ratio.detach()).clamp(max=10.0)  # [seed batch response pos]
    return trust_region(torch.exp(log_ratio), per_token(deltas), config.epsilon, config.epsilon, mask, config, mask)


@declare(options={"epsilon": 0.01}, sliced=True, reads_loss_agg=False, token_terms=False)  # as gspo
def luspo(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """LUSPO: GSPO's clipped sequence term x the response's length, mean over responses.

    LUSPO (arXiv 2602.05261), TRL ``loss_type="luspo"`` (trl/trainer/grpo_trainer.py,
    ``_compute_loss``: ``(per_token_loss * mask.sum(1, keepdim=True)).mean()`` with
    ``importance_sampling_level="sequence"``): each response's term weighs its length, undoing
    the 1/length that GSPO's mean log-ratio puts on a long response's tokens. It aggregates its
    own terms, so ``loss_agg`` does not apply. The trust region is gspo's ``epsilon`` (TRL reads
    epsilon and epsilon_high, 0.2 each by default); the clip fractions count sequences."""
    ratio = torch.exp(response_mean(log_probs - old_log_probs, mask))  # [seed batch response 1]
    surrogate, below, above = trust_region_surrogate(ratio, deltas[..., None], config.epsilon, config.epsilon)
    loss = -(surrogate * response_lengths(log_probs, mask)).mean(TOKEN_DIMS)  # [seed]
    return LossTerms(loss, token_mean(below.float(), None), token_mean(above.float(), None))


@declare(options={"sapo_temperature_pos": 1.0, "sapo_temperature_neg": 1.05}, sliced=True, token_deltas=True)  # TRL's and verl's
def sapo(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """SAPO: a soft trust region, -mean(4/tau sigmoid(tau (r - 1)) x delta), tau by the delta's sign.

    SAPO (Gao et al. 2025, arXiv 2511.20347); TRL ``loss_type="sapo"`` (trl/trainer/grpo_trainer.py,
    ``_compute_loss``: ``torch.sigmoid(temperatures * (coef_1 - 1)) * 4 / temperatures``,
    ``sapo_temperature_pos`` where the delta is positive, else ``sapo_temperature_neg``) and verl
    ``loss_mode="sapo"`` (verl/trainer/ppo/core_algos.py, ``compute_policy_loss_sapo``, ``tau_pos``
    / ``tau_neg``): the same gate; verl clamps the log-ratio to [-20, 20] first (followed here: TRL,
    no clamp). The gate's slope is 1 at r = 1 (the unclipped gradient on-policy) and fades as r
    leaves 1, never to exactly 0, so nothing is clipped (clip fractions 0). Both peers aggregate
    it as seq_mean_token_mean, this project's default ``loss_agg``."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    delta = per_token(deltas)
    tau = torch.where(delta > 0, config.sapo_temperature_pos, config.sapo_temperature_neg).to(ratio.dtype)
    return unclipped_terms(torch.sigmoid(tau * (ratio - 1)) * 4 / tau * delta, mask, config)


VESPO_MIN_LOG_WEIGHT = math.log(1e-8)  # TRL's lower clamp of log w


@declare(options={"vespo_k_pos": 2.0, "vespo_lambda_pos": 3.0, "vespo_k_neg": 3.0, "vespo_lambda_neg": 2.0},
         sliced=True)  # TRL's
def vespo(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """VESPO: -mean(sg(phi(w)) x delta x log pi), phi(w) = e^lambda w^k e^(-lambda w), w the sequence ratio.

    VESPO (arXiv 2602.10693); TRL ``loss_type="vespo"`` (trl/trainer/grpo_trainer.py,
    ``get_gamma_weights`` and ``_compute_loss``): w = exp(sum of a response's token log-ratios,
    each clamped to [-20, 20]; the sum clamped to [log 1e-8, 20]), k and lambda by the delta's
    sign (>= 0: ``vespo_k_pos``, ``vespo_lambda_pos``), phi detached (a weight on REINFORCE's
    gradient, 1 at w = 1: on-policy it is naive's). phi falls towards 0 both for w << 1 (as w^k)
    and w >> 1 (as e^(-lambda w)): a soft, asymmetric trust region on the whole sequence. TRL
    aggregates it as token_mean (its dapo normaliser); here ``loss_agg`` says. Clips nothing."""
    delta = deltas[..., None]  # [seed batch response 1]
    with torch.no_grad():
        log_ratio = (log_probs - old_log_probs).clamp(-20.0, 20.0)
        log_ratio = log_ratio if mask is None else log_ratio * mask
        log_w = log_ratio.sum(-1, keepdim=True).clamp(VESPO_MIN_LOG_WEIGHT, 20.0)  # [seed batch response 1]
        nonnegative = delta >= 0
        k = torch.where(nonnegative, config.vespo_k_pos, config.vespo_k_neg).to(log_w.dtype)
        lam = torch.where(nonnegative, config.vespo_lambda_pos, config.vespo_lambda_neg).to(log_w.dtype).clamp(min=1e-4)
        phi = torch.exp(lam + k * log_w - lam * torch.exp(log_w)).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    return unclipped_terms(phi * delta * log_probs, mask, config)


@declare(options={"epsilon_low": 0.4, "epsilon_high": 0.4}, sliced=True, reads_loss_agg=False,
         token_terms=False)  # GMPO's e^(+-0.4)
def geo_mean(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """GMPO: the geometric mean of the token ratios, each clipped in log space to [-epsilon_low, epsilon_high].

    GMPO (Zhao et al. 2025, arXiv 2507.20673); verl ``loss_mode="geo_mean"``
    (verl/trainer/ppo/core_algos.py, ``compute_policy_loss_geo_mean``): per token the log-ratio
    l is clipped pessimistically, sgn(A) min(sgn(A) l, sgn(A) clamp(l, -epsilon_low,
    epsilon_high)); a response's ratio is exp(mean of those over its real tokens), its loss
    -A x that ratio, and the loss the mean over responses (verl: ``torch.mean(pg_losses)``; it
    aggregates its own terms, so ``loss_agg`` does not apply). epsilon_low / epsilon_high bound
    the log-ratio here, not the ratio: the paper's range (e^-0.4, e^0.4) is the default. The clip
    fractions count the real tokens whose clip acts: l > epsilon_high with a positive delta, l <
    -epsilon_low with a negative one (verl's pg_clipfrac counts every clamped token by the
    delta's sign, also where the min keeps the unclamped l)."""
    log_ratio = log_probs - old_log_probs  # [seed batch response pos]
    delta = deltas[..., None]
    lower, upper = per_slice(-config.epsilon_low, log_ratio), per_slice(config.epsilon_high, log_ratio)
    sign = torch.sign(delta)
    clamped = log_ratio.clamp(min=lower).clamp(max=upper)
    pessimistic = sign * torch.minimum(sign * log_ratio, sign * clamped)
    ratio = torch.exp(response_mean(pessimistic, mask))  # [seed batch response 1]
    loss = -(ratio[..., 0] * deltas).mean((1, 2))  # [seed]
    clip_low = token_mean(((log_ratio < lower) & (delta < 0)).float(), mask)
    clip_high = token_mean(((log_ratio > upper) & (delta > 0)).float(), mask)
    return LossTerms(loss, clip_low, clip_high)


def covariance(log_probs: torch.Tensor, deltas: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Each real token's term of the covariance between delta and log pi over the seed's real
    tokens (Cui et al. 2025, arXiv 2505.22617, eq. 11): (A - mean A)(log pi - mean log pi), the
    means over the seed's real tokens, log pi detached. [seed batch response pos]"""
    log_probs = log_probs.detach()
    advantages = deltas[..., None].expand(log_probs.shape)
    centred_a = advantages - token_mean(advantages, mask)[:, None, None, None]
    return centred_a * (log_probs - token_mean(log_probs, mask)[:, None, None, None])


def highest(scores: torch.Tensor, candidates: torch.Tensor, share: float, real: torch.Tensor | None) -> torch.Tensor:
    """The max(1, int(share x the seed's real tokens)) candidates with the highest scores, per
    seed (fewer where fewer are candidates); ties by position. scores, candidates (bool) and real
    [seed batch response pos] (real None: every token) -> bool [seed batch response pos]"""
    count = scores[0].numel() if real is None else real.flatten(1).sum(-1)  # [seed] or a number
    count = torch.clamp(torch.as_tensor(count, device=scores.device).mul(share).floor(), min=1)  # [seed] or []
    flat = torch.where(candidates, scores, -torch.inf).flatten(1)  # [seed tokens]
    order = torch.sort(flat, dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return (candidates.flatten(1) & (rank < count.reshape(-1, 1))).view(candidates.shape)


@declare(options={"epsilon_low": 0.2, "epsilon_high": 0.2, "clip_cov_ratio": 2e-4, "clip_cov_lb": 1.0,
                  "clip_cov_ub": 5.0}, sliced=True)  # verl's
def clip_cov(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """Clip-Cov: PPO's clipped loss, with the gradient cut from a few tokens of high delta x log pi covariance.

    Cui et al. 2025, "The Entropy Mechanism of RL for Reasoning LMs" (arXiv 2505.22617); verl
    ``loss_mode="clip_cov"`` (verl/trainer/ppo/core_algos.py, ``compute_policy_loss_clip_cov``):
    among the real tokens that PPO's clip leaves alone, those whose covariance term (see
    covariance) lies in (``clip_cov_lb``, ``clip_cov_ub``) are candidates; max(1, int(
    ``clip_cov_ratio`` x real tokens)) of them lose their term (value and gradient), which holds
    back the entropy collapse such tokens drive. verl picks them at random (``torch.randperm`` on
    the global generator); here the highest-covariance candidates, so a seed's run depends on its
    own numbers only (stacked seeds equal separate runs). verl's batch is a micro-batch; here a
    seed's rollout. ``extra_clip_frac`` records the share of tokens cut."""
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    surrogate, below, above = trust_region_surrogate(ratio, deltas[..., None], config.epsilon_low, config.epsilon_high)
    real = torch.ones_like(below) if mask is None else mask > 0
    cov = covariance(log_probs, deltas, mask)
    candidates = (cov > config.clip_cov_lb) & (cov < config.clip_cov_ub) & real & ~(below | above)
    cut = highest(cov, candidates, config.clip_cov_ratio, mask)
    loss = -aggregate(torch.where(cut, 0.0, surrogate), mask, config)
    return LossTerms(loss, token_mean(below.float(), mask), token_mean(above.float(), mask), None,
                     token_mean(cut.float(), mask))


@declare(options={"kl_cov_ratio": 2e-4, "ppo_kl_coef": 0.1}, sliced=True)  # verl's actor.yaml
def kl_cov(log_probs, old_log_probs, deltas, config, mask=None) -> LossTerms:
    """KL-Cov: the unclipped loss, plus ppo_kl_coef x |log r| on the tokens of highest delta x log pi covariance.

    Cui et al. 2025 (arXiv 2505.22617); verl ``loss_mode="kl_cov"``
    (verl/trainer/ppo/core_algos.py, ``compute_policy_loss_kl_cov``): the max(1, int(
    ``kl_cov_ratio`` x real tokens)) real tokens with the highest covariance term (see
    covariance; ``torch.topk`` in verl, over a micro-batch; here over a seed's rollout) get
    the penalty ``ppo_kl_coef`` x |log pi - log pi_old| (verl's actor.yaml default 0.1; the
    code's fallback is 1), pulling them back to the rollout policy. No clip; ``extra_clip_frac``
    records the share of tokens penalised."""
    log_ratio = log_probs - old_log_probs  # [seed batch response pos]
    real = torch.ones_like(log_ratio, dtype=torch.bool) if mask is None else mask > 0
    chosen = highest(covariance(log_probs, deltas, mask), real, config.kl_cov_ratio, mask)
    terms = -torch.exp(log_ratio) * deltas[..., None] + torch.where(chosen, config.ppo_kl_coef * log_ratio.abs(), 0.0)
    zero = torch.zeros_like(log_probs[:, 0, 0, 0])
    return LossTerms(aggregate(terms, mask, config), zero, zero, None, token_mean(chosen.float(), mask))


@declare(options={"epsilon_low": 1.0, "epsilon_high": 4.0}, sliced=True, token_deltas=True)  # no lower bound, ratio cap 5 (see cispo)
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
    delta = per_token(deltas)
    terms = unclipped_terms(weight * delta * log_probs, mask, config)
    clip_low = token_mean((ratio < lower).float(), mask)
    clip_high = token_mean((ratio > upper).float(), mask)
    positive = delta > 0
    low_prob = low_prob_clip_high((ratio > upper) & positive, positive, old_log_probs, mask)
    return LossTerms(terms.loss, clip_low, clip_high, low_prob)


def high_entropy_tokens(entropy: torch.Tensor, mask: torch.Tensor | None, quantile: float) -> torch.Tensor:
    """TRL's top_entropy_quantile (Wang et al. 2025, "Beyond the 80/20 Rule", arXiv 2506.01939):
    the real tokens whose entropy is at least the (1 - quantile) quantile of the seed's real
    tokens' entropies, linearly interpolated as ``torch.quantile`` does. As TRL's
    ``get_high_entropy_mask`` (trl/trainer/grpo_trainer.py), which takes the quantile over the
    whole batch's non-pad tokens; here over a seed's rollout, so stacked seeds stay apart; none
    where a seed has no real token. entropy [seed batch response pos] (no gradient needed), mask
    the same or None (every token real) -> bool [seed batch response pos]"""
    real = torch.ones_like(entropy, dtype=torch.bool) if mask is None else mask > 0
    values = torch.where(real, entropy, torch.inf).flatten(1).sort(-1).values  # [seed tokens], the real ones first
    count = real.flatten(1).sum(-1)  # [seed]
    position = (1 - quantile) * (count - 1).clamp(min=0).to(values.dtype)  # [seed]
    below = position.floor().long()
    above = torch.minimum(below + 1, (count - 1).clamp(min=0))
    low, high = values.gather(1, below[:, None]), values.gather(1, above[:, None])  # [seed 1]
    threshold = torch.where(count[:, None] > 0, low + (high - low) * (position[:, None] - below[:, None]), torch.inf)
    return real & (entropy >= threshold.view(-1, *[1] * (entropy.dim() - 1)))


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
    "gspo_token": gspo_token,
    "luspo": luspo,
    "sapo": sapo,
    "vespo": vespo,
    "geo_mean": geo_mean,
    "clip_cov": clip_cov,
    "kl_cov": kl_cov,
}, loss_contract, facts={
    "options": {},  # the TrainConfig fields the loss reads, with its defaults; any other is refused with it
    "reads_old_log_probs": True,  # False: the trainer skips their lookup and passes None
    "sliced": False,  # reads a group's per-slice numbers (see the module's docstring)
    "reads_loss_agg": True,  # False: the loss aggregates its own terms; loss_agg does not apply to it
    "token_deltas": False,  # True: takes token-level deltas [seed batch response pos] too (per_token), each its token's
    "token_terms": True,  # False: a term is a sequence's (its ratio mixes the tokens'); top_entropy_quantile does not apply
})


def loss_options(loss_mode: str) -> dict[str, float]:
    """The TrainConfig fields a loss reads, with its defaults (its ``options``, declared as
    ``@declare(options={"epsilon_high": 0.5})`` or ``my_loss.options = {...}``)."""
    return LOSSES.fact(loss_mode, "options")


def takes_slices(loss_mode: str) -> bool:
    """Whether a loss reads a group's per-slice numbers (see the module's docstring): every
    built-in does; a plugin says so with ``my_loss.sliced = True``."""
    return LOSSES.fact(loss_mode, "sliced")


def reads_old_log_probs(loss_mode: str, kl_estimator: str | None) -> bool:
    """Whether a step reads the rollout's log-probs: the loss's, or the KL estimator's (None: no
    KL term) ``reads_old_log_probs`` fact."""
    return LOSSES.fact(loss_mode, "reads_old_log_probs") or (
        kl_estimator is not None and KL_ESTIMATORS.fact(kl_estimator, "reads_old_log_probs"))


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


@declare(reads_old_log_probs=True)
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


def abs_kl(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """verl's abs: |log pi - log pi_ref|, biased, >= 0; its gradient is sign(k1) x grad log pi.

    verl (verl/trainer/ppo/core_algos.py, ``kl_penalty_forward``: ``(logprob -
    ref_logprob).abs()``). Per token: [seed batch response pos]."""
    return (log_probs - ref_log_probs).abs()


def k2_gradient(value: torch.Tensor, log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """`value` (detached) with the gradient of k2: verl's straight-through "+" estimators.

    verl (verl/trainer/ppo/core_algos.py, ``kl_penalty``): ``backward_score - backward_score.detach() +
    forward_score.detach()``, backward_score = k2: k1 and k3 estimate KL's value without bias
    but not its gradient (k1's expected gradient is 0, k3's that of KL(pi_ref || pi)); k2's
    gradient, E[(log pi - log pi_ref) grad log pi], is KL(pi || pi_ref)'s on-policy (Schulman
    2020; arXiv 2512.21852). At verl b178a3c ``kl_penalty`` hands the name with its "+" to
    ``kl_penalty_forward``, which knows no such name (NotImplementedError): the value here is
    the named estimator's, as the code's comment intends."""
    backward = k2(log_probs, ref_log_probs)
    return backward - backward.detach() + value.detach()


def k1_plus(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """verl's k1+: k1's value (unbiased), k2's gradient (unbiased for KL's on-policy)."""
    return k2_gradient(k1(log_probs, ref_log_probs), log_probs, ref_log_probs)


def k3_plus(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """verl's k3+ (low_var_kl+): k3's value (unbiased, >= 0), k2's gradient."""
    return k2_gradient(k3(log_probs, ref_log_probs), log_probs, ref_log_probs)


def abs_plus(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """verl's abs+: |k1|'s value, k2's gradient."""
    return k2_gradient(abs_kl(log_probs, ref_log_probs), log_probs, ref_log_probs)


def kl_contract(result, log_probs: torch.Tensor, ref_log_probs: torch.Tensor, *_) -> str | None:
    return tensor_contract(result, log_probs.shape, "a float per token [seed batch response pos]")


KL_ESTIMATORS: Registry = Registry("kl_estimators", {"k1": k1, "k2": k2, "k3": k3, "k3_corrected": k3_corrected,
                                                     "abs": abs_kl, "k1_plus": k1_plus, "k3_plus": k3_plus,
                                                     "abs_plus": abs_plus},
                                   kl_contract, facts={"reads_old_log_probs": False})  # True: called with them third


def estimate_kl(estimator: str, log_probs: torch.Tensor, ref_log_probs: torch.Tensor,
                old_log_probs: torch.Tensor | None) -> torch.Tensor:
    """The per-token KL estimate of `estimator` [seed batch response pos], given the rollout's
    log-probs `old_log_probs` where it reads them (its ``reads_old_log_probs`` fact)."""
    if KL_ESTIMATORS.fact(estimator, "reads_old_log_probs"):
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


def kl_coefficients(kl_penalty, num_slices: int, device: torch.device) -> torch.Tensor:
    """Each slice's KL coefficient as float64 [slice 1 1 1] (a float, or a group's per-slice
    tensor [slice 1 1 1]): what kl_in_reward reads (per_slice) and a controller updates."""
    return torch.as_tensor(kl_penalty, dtype=torch.float64, device=device).reshape(-1, 1, 1, 1).expand(
        num_slices, 1, 1, 1).clone()


def fixed_kl(coefficient: torch.Tensor, kl_tokens: torch.Tensor, mask: torch.Tensor | None, config) -> torch.Tensor:
    """verl's kl_ctrl fixed: kl_penalty throughout."""
    return coefficient


def adaptive_kl(coefficient: torch.Tensor, kl_tokens: torch.Tensor, mask: torch.Tensor | None, config) -> torch.Tensor:
    """verl's kl_ctrl adaptive (Ziegler et al. 2019): x (1 + clip(KL / kl_target - 1, +-0.2) x responses / kl_horizon) a rollout.

    verl (verl/trainer/ppo/core_algos.py, ``AdaptiveKLController.update``; called by
    verl/trainer/ppo/ray_trainer.py, ``apply_kl_penalty``, with the rollout's KL: the per-token
    estimate's mean over each response's real tokens, then over the batch, and n_steps = the
    batch's responses). Only for the KL in the reward, as in verl. Each seed's coefficient
    follows its own rollout's KL. coefficient [seed 1 1 1] float64, kl_tokens [seed batch
    response pos] -> [seed 1 1 1]"""
    per_response = kl_tokens.mean(-1) if mask is None else (kl_tokens * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    current = per_response.mean((1, 2)).to(torch.float64)  # [seed]
    error = (current / config.kl_target - 1).clamp(-0.2, 0.2)
    return coefficient * (1 + error * per_response[0].numel() / config.kl_horizon).view(-1, 1, 1, 1)


KL_CONTROLLERS: dict[str, Callable[..., torch.Tensor]] = {"fixed": fixed_kl, "adaptive": adaptive_kl}
