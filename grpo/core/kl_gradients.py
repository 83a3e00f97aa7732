"""How well each KL penalty's gradient estimates the gradient of the exact KL, on the seed policy.

A KL penalty reaches the weights through the gradient of a Monte-Carlo estimate over the
sampled responses. On the seed document's policy the KL of whole responses is exact
(grpo.core.exact_kl), so each estimator's gradient can be set against the exact gradient
grad_theta KL(pi_theta || pi_ref) of the quantity recorded as ``kl`` (a response's KL summed over
positions, averaged over the prompts). Each penalty as the trainer's ``kl_reduction sum`` makes
it, per response (responses y drawn from the rollout policy pi_old):

- ``k1``, ``k2``, ``k3``, ``k3_corrected`` in the loss: the per-token estimate
  (grpo.modes.losses.KL_ESTIMATORS) summed over the positions;
- ``k1_in_reward`` (kl_placement reward, verl's use_kl_in_reward with its default k1): the
  response's KL K = sum_t (log pi_old - log pi_ref), fixed at the rollout, subtracted from the
  reward, so its policy-gradient term is sum_t r_t K with r_t = pi / pi_old the unclipped loss's
  ratio (here summed over positions like the KL, not averaged); ``k1_in_reward_rloo`` with
  RLOO's leave-one-out baseline over the response's group, as a centred deltas mode would do.

What theory says (pi_old = pi, on-policy; checked exactly in tests/core/test_kl_gradients.py by
weighting every response with its probability): k2, k3_corrected and both k1_in_reward forms are
unbiased for grad KL(pi || pi_ref) (k2 and k3_corrected have the same per-token gradient there,
log(pi / pi_ref) grad log pi; k1_in_reward is the score-function estimator); k1's expected
gradient is 0 (E_pi[grad log pi] = 0); k3's is grad KL(pi_ref || pi), the reverse KL
(arXiv 2512.21852). Off-policy (pi moved from pi_old, a rollout's later inner steps) only
k3_corrected stays unbiased: the importance ratio corrects the sampling distribution.

``kl_gradient_study`` samples many independent batches at once as the slices of one stacked
model (each its own generator) and returns, per setting and estimator, the bias of the mean
gradient against the exact one, the variance of a batch's gradient, and their cosine.
"""

import math

import pandas as pd
import torch

from grpo.core.config import TrainConfig
from grpo.core.exact_kl import policy_kl
from grpo.core.seed_model import StackedSeedModel, gather_log_probs, sample, token_index
from grpo.core.uniforms import SeedUniforms
from grpo.modes.losses import estimate_kl

IN_LOSS = ("k1", "k2", "k3", "k3_corrected")
ESTIMATORS = (*IN_LOSS, "k1_in_reward", "k1_in_reward_rloo")
STUDY_COLUMNS = ("setting", "estimator", "exact_kl", "sampling_kl", "exact_grad_norm", "bias_norm", "bias_se", "relative_bias",
                 "variance", "relative_std", "cosine")


def response_values(log_probs: torch.Tensor, old_log_probs: torch.Tensor,
                    ref_log_probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each estimator's value per response, whose gradient in the policy's weights is its
    contribution to the penalty's gradient. log_probs (with the gradient), old_log_probs
    (the rollout policy's), ref_log_probs [seed batch response pos] -> name -> [seed batch response]."""
    values = {name: estimate_kl(name, log_probs, ref_log_probs, old_log_probs).sum(-1) for name in IN_LOSS}
    ratio = torch.exp(log_probs - old_log_probs)  # [seed batch response pos]
    response_kl = (old_log_probs - ref_log_probs).sum(-1, keepdim=True).detach()  # [seed batch response 1], fixed at the rollout
    group = response_kl.shape[2]
    left_out = (response_kl.sum(2, keepdim=True) - response_kl) / max(group - 1, 1)  # the mean of the group's others
    values["k1_in_reward"] = (ratio * response_kl).sum(-1)
    values["k1_in_reward_rloo"] = (ratio * (response_kl - left_out)).sum(-1)
    return values


def replicated(model: StackedSeedModel, copies: int) -> StackedSeedModel:
    """A stacked model of `copies` slices, each the weights of `model`'s single slice."""
    views = model.document_views(model.weights.detach())
    return StackedSeedModel(*(views[name].expand(copies, *views[name].shape[1:]).contiguous()
                              for name in ("embedding", "encode", "decode")))


def flat_gradient(model: StackedSeedModel) -> torch.Tensor:
    """The gradient of each slice's weights as one row: [slice weights_per_seed]."""
    return torch.cat([view.reshape(model.num_seeds, -1) for view in model.arranged(model.weights.grad)], 1)


def estimator_gradients(policy: StackedSeedModel, old: StackedSeedModel, reference: StackedSeedModel,
                        prompts: torch.Tensor, responses: int, batches: int, seed: int) -> dict[str, torch.Tensor]:
    """Each estimator's gradient on `batches` independent rollouts of `responses` responses to
    each prompt, drawn from `old` (single-slice models; batch k from generator seed + k):
    name -> [batch weights_per_seed], the gradient of the penalty's mean over the rollout."""
    vocab = policy.shape[1]
    stacked, stacked_old, stacked_ref = (replicated(m, batches) for m in (policy, old, reference))
    uniforms = SeedUniforms([torch.Generator(prompts.device).manual_seed(seed + k) for k in range(batches)])
    with torch.no_grad():
        old_all = stacked_old.log_probs(prompts)[0]  # [batch prompt pos vocab]
        drawn = sample(old_all, responses, uniforms)  # [batch prompt response pos]
        index = token_index(drawn, vocab)
        old_log_probs = gather_log_probs(old_all, index)
        ref_log_probs = gather_log_probs(stacked_ref.log_probs(prompts)[0], index)
    gradients = {}
    for name in ESTIMATORS:
        stacked.weights.grad = None
        log_probs = gather_log_probs(stacked.log_probs(prompts)[0], index)  # [batch prompt response pos]
        penalty = response_values(log_probs, old_log_probs, ref_log_probs)[name].mean((1, 2))  # [batch]
        penalty.sum().backward()  # each batch's own gradient, in its own slice
        gradients[name] = flat_gradient(stacked)
    return gradients


def exact_gradient(policy: StackedSeedModel, reference: StackedSeedModel, prompts: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(KL(pi || pi_ref) averaged over the prompts, its gradient [weights_per_seed]) of single-slice models."""
    policy = replicated(policy, 1)
    kl = policy_kl(policy, reference, prompts)
    kl.sum().backward()
    return kl.item(), flat_gradient(policy)[0]


def perturbed(model: StackedSeedModel, scale: float, seed: int) -> StackedSeedModel:
    """A single-slice model whose weights are `model`'s plus scale x N(0, 1) noise (generator `seed`)."""
    weights = model.weights.detach()
    noise = torch.randn(weights.shape, generator=torch.Generator(weights.device).manual_seed(seed), device=weights.device)
    views = model.document_views(weights + scale * noise)
    return StackedSeedModel(views["embedding"], views["encode"], views["decode"])


def kl_gradient_study(seed: int = 0, spread: float = 0.05, drift: float = 0.005, responses: int = 10,
                      batches: int = 2000) -> pd.DataFrame:
    """Bias and variance of each KL penalty's gradient against the exact KL gradient, on the
    seed task with the seed document's policy.

    The pair: the reference is the seed document's initial policy from generator `seed`; the
    policy is it with every weight moved by `spread` x N(0, 1) (a policy trained away from its
    reference; the defaults give KL(pi || pi_ref) 0.48 nats a response at seed 0). Two settings:
    ``on-policy`` samples from the policy itself (a rollout's first inner step); ``off-policy``
    from the policy with every weight moved by a further `drift` x N(0, 1) (a rollout's later
    steps, after the policy moved from pi_old; the defaults give KL(pi || pi_old) 0.014 nats a
    response, 0.0048 a token, so by KL ~ E[log-ratio^2] / 2 per-token log-ratios of about 0.1:
    inside a 0.2 clip range). Each batch: the seed task's 3 prompts x `responses` responses;
    `batches` of them.

    Returns one row per setting and estimator (STUDY_COLUMNS): the exact KL(pi || pi_ref), the
    exact KL(pi || pi_old) of the sampling policy, and the norm of the exact gradient;
    bias_norm = |mean over batches of the batch gradient - exact gradient| and its Monte-Carlo
    noise bias_se = sqrt(variance / batches) (a bias_norm within about 2 bias_se of 0 is no bias
    detected); relative_bias = bias_norm / |exact gradient|; variance = the
    expected squared distance of one batch's gradient from the mean (trace of the covariance);
    relative_std = sqrt(variance) / |exact gradient|; cosine of the mean gradient with the exact one."""
    config = TrainConfig()
    task = config.make_task()
    reference = StackedSeedModel.init([torch.Generator().manual_seed(seed)], task.vocab_size, task.length, config.dim)
    policy = perturbed(reference, spread, seed + 1)
    settings = {"on-policy": policy, "off-policy": perturbed(policy, drift, seed + 2)}
    kl, exact = exact_gradient(policy, reference, task.prompts)
    rows = []
    for setting, old in settings.items():
        with torch.no_grad():
            sampling_kl = policy_kl(policy, old, task.prompts).item()  # how far pi moved from pi_old
        for name, gradients in estimator_gradients(policy, old, reference, task.prompts, responses, batches, seed).items():
            mean = gradients.mean(0)
            variance = (gradients - mean).square().sum(1).mean().item()
            bias = (mean - exact).norm().item()
            rows.append({"setting": setting, "estimator": name, "exact_kl": kl, "sampling_kl": sampling_kl,
                         "exact_grad_norm": exact.norm().item(),
                         "bias_norm": bias, "bias_se": math.sqrt(variance / batches), "relative_bias": bias / exact.norm().item(),
                         "variance": variance, "relative_std": math.sqrt(variance) / exact.norm().item(),
                         "cosine": torch.nn.functional.cosine_similarity(mean, exact, dim=0).item()})
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS))
