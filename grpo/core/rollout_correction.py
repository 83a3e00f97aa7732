"""A sampler that differs from the learner, and the corrections of its rollouts.

In TRL and verl the rollout is drawn by an inference engine (vLLM, SGLang) whose copy of the
policy computes in lower precision than the learner: the tokens come from pi_sampler, the
gradient is taken for pi_learner, and the two differ even at the same weights (Yao et al. 2025,
"Your efficient RL framework secretly brings you off-policy RL training"; ScaleRL, Khatri et al.
2025, keeps the LM head in FP32 for that reason). Here ``rollout_dtype`` makes the same
mismatch: the rollout is sampled by a copy of the policy whose weights are rounded to bfloat16,
float16 or float8 (computing in float32, as the learner), with the same uniforms as an exact
sampler. float8 stands for the quantised rollouts (FP8 / INT8) of FlashRL, for which Yao et al.
introduced truncated importance sampling.

The corrections follow TRL (trl/trainer/grpo_trainer.py, ``_generate_and_score_completions``:
``vllm_importance_sampling_mode``, ``vllm_importance_sampling_clip_max`` / ``_clip_min``;
``get_off_policy_mask``: ``off_policy_mask_threshold``) and verl
(verl/trainer/ppo/rollout_corr_helper.py: ``compute_rollout_correction_weights``, ``rollout_is``;
``compute_rollout_rejection_mask``, ``rollout_rs``). Each is a weight on a token's or a response's
policy-gradient term, detached; every loss it applies to is positively homogeneous in the delta
(its term is delta x a function of the ratio and the delta's sign), so a weight w >= 0 on the
term is the delta times w: the trainer folds the weights into the deltas once per rollout
(``weighted_deltas``; the off-policy mask, which reads the current policy, on every step). As in
TRL, a masked token or response keeps counting in the aggregation's denominators (verl's
``rollout_rs`` drops it from the response mask instead, which rescales the loss of a batch).

Where a correction is on, the learner recomputes its log-probs of the rollout in float32 (TRL's
``old_per_token_logps``, verl's ``old_log_prob``: the decoupled form) and the ratio of the loss
reads them; otherwise the loss reads the drawn log-probs, as the project always did (verl's
bypass mode, where the ratio carries the mismatch).
"""

import math
from collections.abc import Callable

import torch

from grpo.modes.aggregation import token_mean

SAFETY_BOUND = 20.0  # verl's clamp of a log-ratio before exp (rollout_corr_helper.py, SAFETY_BOUND)


def rounded(dtype: torch.dtype) -> Callable:
    def copy(policy):
        sampler = policy.frozen_copy()
        with torch.no_grad():
            for weight in sampler.parameters():
                weight.copy_(weight.to(dtype))  # rounded to `dtype`, stored back in float32
        return sampler
    return copy


def float32(policy):
    """the learner itself samples: no mismatch (default)."""
    return policy


def bfloat16(policy):
    """a copy with weights rounded to bfloat16 (8 significant bits), as a bf16 inference engine beside an fp32 learner."""
    return rounded(torch.bfloat16)(policy)


def float16(policy):
    """a copy with weights rounded to float16 (11 significant bits): a smaller mismatch than bfloat16's."""
    return rounded(torch.float16)(policy)


def float8(policy):
    """a copy with weights rounded to float8 e4m3 (4 significant bits, no scale): FlashRL's quantised rollouts."""
    return rounded(torch.float8_e4m3fn)(policy)


ROLLOUT_DTYPES: dict[str, Callable] = {"float32": float32, "bfloat16": bfloat16, "float16": float16, "float8": float8}


def safe_exp(log_ratio: torch.Tensor) -> torch.Tensor:
    return torch.exp(log_ratio.clamp(-SAFETY_BOUND, SAFETY_BOUND))


def sequence_log_ratio(log_ratio: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A response's log-ratio: the sum over its real tokens. [seed batch response pos] -> [seed batch response]"""
    return (log_ratio if mask is None else log_ratio * mask).sum(-1)


def token_truncate(log_ratio, mask, low: float, high: float):
    """TRL's token_truncate, verl's rollout_is token: each token's ratio pi_learner / pi_sampler, clamped to [low, high]."""
    ratio = safe_exp(log_ratio)
    return ratio.clamp(min=low, max=high), (ratio < low) | (ratio > high)


def token_mask(log_ratio, mask, low: float, high: float):
    """TRL's token_mask: each token's ratio, 0 where it lies outside [low, high]."""
    ratio = safe_exp(log_ratio)
    outside = (ratio < low) | (ratio > high)
    return torch.where(outside, 0.0, ratio), outside


def sequence_truncate(log_ratio, mask, low: float, high: float):
    """TRL's sequence_truncate, verl's rollout_is sequence: the response's ratio (product over its tokens), clamped."""
    return token_truncate(sequence_log_ratio(log_ratio, mask), None, low, high)


def sequence_mask(log_ratio, mask, low: float, high: float):
    """TRL's sequence_mask (its default): the response's ratio, 0 where it lies outside [low, high]."""
    return token_mask(sequence_log_ratio(log_ratio, mask), None, low, high)


def no_correction(log_ratio, mask, low: float, high: float):
    """no importance weights (default)."""
    raise AssertionError("the trainer computes no weights without a correction")


ROLLOUT_CORRECTIONS: dict[str, Callable] = {"none": no_correction, "token_truncate": token_truncate,
                                            "token_mask": token_mask, "sequence_truncate": sequence_truncate,
                                            "sequence_mask": sequence_mask}
TOKEN_CORRECTIONS = ("token_truncate", "token_mask")  # one weight a token: only losses that take token deltas


def k1(log_ratio: torch.Tensor) -> torch.Tensor:
    return -log_ratio  # log pi_sampler / pi_learner


def k2(log_ratio: torch.Tensor) -> torch.Tensor:
    return 0.5 * log_ratio.square()


def k3(log_ratio: torch.Tensor) -> torch.Tensor:
    return torch.expm1(log_ratio) - log_ratio  # verl's exp(x) - 1 - x, without its cancellation near x = 0


def rejection(statistic: Callable, reduction: str) -> Callable:
    """verl's rollout_rs option ``<reduction>_<statistic>`` (rollout_corr_helper.py,
    ``compute_rollout_rejection_mask``): keep [seed batch response pos] (float), a response's
    tokens all kept or all rejected where the option is a sequence's."""
    def keep(log_ratio: torch.Tensor, mask: torch.Tensor | None, lower: float, upper: float) -> torch.Tensor:
        values = statistic(log_ratio.clamp(-SAFETY_BOUND, SAFETY_BOUND))  # [seed batch response pos]
        real = torch.ones_like(values) if mask is None else mask
        if reduction == "token":
            per = values
        elif reduction == "seq_sum":
            per = (values * real).sum(-1, keepdim=True)
        elif reduction == "seq_mean":
            per = (values * real).sum(-1, keepdim=True) / real.sum(-1, keepdim=True).clamp(min=1)
        else:  # seq_max over the real tokens
            per = torch.where(real > 0, values, -torch.inf).amax(-1, keepdim=True)
        if statistic is k1:  # verl: the ratio pi_sampler / pi_learner within [lower, upper], in log space
            kept = (per >= math.log(lower)) & (per <= math.log(upper))
        else:
            kept = per <= upper
        return kept.expand(values.shape).float()
    keep.__doc__ = (f"verl's rollout_rs {reduction}_{statistic.__name__}: reject a "
                    f"{'token' if reduction == 'token' else 'response'} whose "
                    f"{'' if reduction == 'token' else reduction[4:] + ' of the '}{statistic.__name__}"
                    f"{' (log pi_sampler / pi_learner)' if statistic is k1 else ''}"
                    f" {'leaves [log lower, log upper]' if statistic is k1 else 'exceeds upper'}")
    return keep


def no_rejection(log_ratio, mask, lower: float, upper: float):
    """no rejection (default)."""
    raise AssertionError("the trainer rejects nothing without rollout_rs")


ROLLOUT_REJECTIONS: dict[str, Callable] = {"none": no_rejection, **{
    f"{reduction}_{statistic.__name__}": rejection(statistic, reduction)
    for reduction in ("token", "seq_sum", "seq_mean", "seq_max") for statistic in (k1, k2, k3)
    if not (reduction == "seq_max" and statistic is k1)}}  # verl has no seq_max_k1
NOT_WEIGHTED_BY_DELTA = ("vespo", "clip_cov", "kl_cov")  # a weight on their term is not a weight on the delta


def corrected(config) -> bool:
    """Whether the rollout's weights need the learner's log-probs (a correction or a rejection)."""
    return config.rollout_correction != "none" or config.rollout_rs != "none"


def token_level(config) -> bool:
    """Whether a correction weighs tokens one by one (then the deltas become one a token)."""
    return config.rollout_correction in TOKEN_CORRECTIONS or config.rollout_rs.startswith("token_")


def rollout_weights(config, learner: torch.Tensor, sampler: torch.Tensor, mask: torch.Tensor | None
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weights of a rollout's terms from the learner's and the sampler's log-probs
    [seed batch response pos]: [seed batch response pos] where a correction is token-level, else
    [seed batch response] (zeros where rejected), and their records {name: [seed]}: the
    weights' min, mean and max as applied (TRL's ``sampling/importance_sampling_ratio``; NaN
    without rollout_correction) over the real tokens or the responses, the share of them whose
    ratio lay outside the bounds (``is_corrected_frac``), the share of real tokens rejected
    (``rs_masked_frac``, verl's ``rollout_rs_masked_fraction``)."""
    log_ratio = learner - sampler  # [seed batch response pos] log pi_learner / pi_sampler
    nan = torch.full(log_ratio.shape[:1], torch.nan, device=log_ratio.device)
    records = {name: nan for name in ("is_weight_min", "is_weight_mean", "is_weight_max", "is_corrected_frac",
                                      "rs_masked_frac")}
    weights = torch.ones(log_ratio.shape if token_level(config) else log_ratio.shape[:-1], device=log_ratio.device)
    if config.rollout_correction != "none":
        is_weights, outside = ROLLOUT_CORRECTIONS[config.rollout_correction](
            log_ratio, mask, config.rollout_is_threshold_lower, config.rollout_is_threshold)
        counted = mask if is_weights.dim() == 4 else None  # tokens: the real ones; responses: each
        real = torch.ones_like(is_weights, dtype=torch.bool) if counted is None else counted > 0
        records.update(is_weight_min=torch.where(real, is_weights, torch.inf).flatten(1).amin(1),
                       is_weight_max=torch.where(real, is_weights, -torch.inf).flatten(1).amax(1),
                       is_weight_mean=mean_over(is_weights, counted), is_corrected_frac=mean_over(outside.float(), counted))
        weights = weights * (is_weights if weights.dim() == is_weights.dim() else is_weights[..., None])
    if config.rollout_rs != "none":
        keep = ROLLOUT_REJECTIONS[config.rollout_rs](log_ratio, mask, config.rollout_rs_threshold_lower,
                                                     config.rollout_rs_threshold)  # [seed batch response pos]
        records["rs_masked_frac"] = token_mean(1 - keep, mask)
        weights = weights * (keep if weights.dim() == 4 else keep[..., 0])
    return weights, records


def mean_over(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mean over a seed's real tokens (values [seed batch response pos], mask or None) or its
    responses (values [seed batch response], mask None). -> [seed]"""
    return values.flatten(1).mean(1) if mask is None else token_mean(values, mask)


def sampler_kl(learner: torch.Tensor, sampler: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The sampler-learner KL of a rollout, KL(pi_sampler || pi_learner) per token by k3 on the
    sampler's own draws, r - 1 - log r with r = pi_learner / pi_sampler (never negative), averaged
    over the real tokens (verl's ``rollout_corr/k3_kl``, rollout_corr_helper.py,
    ``compute_offpolicy_metrics``). [seed batch response pos] -> [seed]"""
    return token_mean(k3(learner - sampler), mask)


def weighted_deltas(deltas: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Deltas [seed batch response] or token-level [seed batch response pos] times the weights
    (rollout_weights'), one a token where either is."""
    if deltas.dim() < weights.dim():
        deltas = deltas[..., None]
    elif weights.dim() < deltas.dim():
        weights = weights[..., None]
    return deltas * weights


def off_policy_mask(deltas: torch.Tensor, log_probs: torch.Tensor, sampler: torch.Tensor, mask: torch.Tensor | None,
                    threshold: float) -> torch.Tensor:
    """TRL's off_policy_mask_threshold (trl/trainer/grpo_trainer.py, ``get_off_policy_mask``;
    DeepSeek-V3.2, arXiv 2512.02556, eq. 9): a response is kept where its delta is >= 0 or the
    mean over its real tokens of log pi_sampler - log pi (the current policy, detached) is at
    most `threshold`; dropped (0) otherwise. deltas [seed batch response] (or a response's
    weighted on its tokens [seed batch response pos], each of one sign), log_probs and sampler
    [seed batch response pos] -> keep [seed batch response] float"""
    kl = (sampler - log_probs.detach())  # [seed batch response pos]
    mean_kl = kl.mean(-1) if mask is None else (kl * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    response_deltas = deltas if deltas.dim() == 3 else deltas.sum(-1)  # token weights are >= 0: the sign stays
    return ((response_deltas >= 0) | (mean_kl <= threshold)).float()
