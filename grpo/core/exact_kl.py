"""The exact KL between two seed-document policies.

The seed document's policy draws each response position independently given the prompt
(grpo.core.seed_model), so a response's probability is the product of its positions' and
KL(pi || pi_ref) of whole responses to a prompt is the sum over positions of the per-position
KLs: sum_p sum_v pi_p(v) (log pi_p(v) - log pi_ref,p(v)). On the seed task (vocab 5, 3
positions) that is 15 terms a prompt instead of 125 responses (tests/core/test_exact_kl.py
checks it against the enumeration of every response). It is differentiable in the policy's
weights: its gradient is the exact gradient that the KL estimators estimate
(grpo.core.kl_gradients).
"""

import torch

from grpo.core.seed_model import StackedSeedModel


def exact_kl(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(pi || pi_ref) of whole responses, per prompt, from the per-position distributions.
    log_probs, ref_log_probs [seed batch pos vocab] (StackedSeedModel.log_probs) -> [seed batch]"""
    return (log_probs.exp() * (log_probs - ref_log_probs)).sum((-2, -1))


def policy_kl(policy: StackedSeedModel, reference: StackedSeedModel, prompts: torch.Tensor) -> torch.Tensor:
    """The expectation of the ``kl`` record (a response's KL, averaged over the prompts):
    the exact KL of whole responses averaged over `prompts` [batch pos] -> [seed], with the
    policy's gradient."""
    return exact_kl(policy.log_probs(prompts)[0], reference.log_probs(prompts)[0].detach()).mean(1)
