"""Loss aggregation (``loss_agg``): how per-token loss terms of responses of different lengths
become one number per seed.

Every mode maps ``values [seed batch response pos]`` and ``mask [seed batch response pos]``
(1.0 on a response's real tokens, 0.0 after its EOS; ``None`` when every token is real, as on
the seed document's policy) to ``[seed]``. With every token real all three modes are the plain
mean: they differ only when lengths differ.

- ``token_mean`` (DAPO, Yu et al. 2025): sum over every real token of the seed's batch / their
  number, so each token weighs the same and a long response weighs more than a short one.
  TRL ``loss_type="dapo"``; verl ``loss_agg_mode="token-mean"``.
- ``seq_mean_token_mean`` (GRPO, Shao et al. 2024): the mean over a response's real tokens,
  then the mean over responses, so each response weighs the same and its tokens weigh
  1/length. TRL ``loss_type="grpo"``; verl ``loss_agg_mode="seq-mean-token-mean"``. Dr. GRPO
  (Liu et al. 2025) shows the 1/length factor favours long wrong answers.
- ``seq_mean_token_sum_norm`` (Dr. GRPO, Liu et al. 2025): a response's token sum divided by
  a constant, the maximum response length (the pos axis), then the mean over responses.
  TRL ``loss_type="dr_grpo"`` (divides by ``max_completion_length``): equal. verl
  ``loss_agg_mode="seq-mean-token-sum-norm"`` sums every response's tokens and divides by
  ``loss_scale_factor`` (default: the maximum length) with no mean over responses, so with its
  default verl's value is N x this one, N the number of responses in the batch (all prompts'
  groups; verl issue #3741); with ``loss_scale_factor = N x max length`` it is equal.

Sources: TRL ``GRPOTrainer._compute_loss`` (``trl/trainer/grpo_trainer.py``) and verl
``agg_loss`` (``verl/trainer/ppo/core_algos.py``).
"""

from collections.abc import Callable

import torch

TOKEN_DIMS = (1, 2, 3)  # batch, response, pos


def token_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """DAPO: sum over every real token of the batch / their number; long responses weigh more."""
    if mask is None:
        return values.mean(TOKEN_DIMS)
    return (values * mask).sum(TOKEN_DIMS) / mask.sum(TOKEN_DIMS).clamp(min=1)


def seq_mean_token_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """GRPO: mean over a response's real tokens, then over responses; a token weighs 1/length."""
    if mask is None:
        return values.mean(TOKEN_DIMS)
    per_response = (values * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # [seed batch response]
    return per_response.mean((1, 2))


def seq_mean_token_sum_norm(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Dr. GRPO: a response's token sum / the maximum response length, then the mean over responses."""
    if mask is None:
        return values.mean(TOKEN_DIMS)
    per_response = (values * mask).sum(-1) / values.shape[-1]  # [seed batch response]
    return per_response.mean((1, 2))


LOSS_AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]] = {
    "token_mean": token_mean,
    "seq_mean_token_mean": seq_mean_token_mean,
    "seq_mean_token_sum_norm": seq_mean_token_sum_norm,
}

