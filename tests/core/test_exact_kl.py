"""The exact KL of the seed policy against the enumeration of every response."""

import itertools

import torch

from grpo import TrainConfig
from grpo.core.exact_kl import exact_kl, policy_kl
from grpo.core.policies import SeedPolicy


def two_policies(dim=10):
    config = TrainConfig(dim=dim)
    task = config.make_task()
    make = lambda seeds: SeedPolicy.init(config, task, [torch.Generator().manual_seed(s) for s in seeds])  # noqa: E731
    return task, make([0, 1]), make([5, 6])


def test_exact_kl_equals_the_sum_over_every_response():
    """All 5^3 responses to each prompt, each with its probability (the product of its
    positions'): sum_y pi(y) log(pi(y) / pi_ref(y))."""
    task, policy, reference = two_policies()
    with torch.no_grad():
        log_probs, ref_log_probs = policy.log_probs(task.prompts)[0], reference.log_probs(task.prompts)[0]  # [seed batch pos vocab]
    seeds, batch, length, vocab = log_probs.shape
    responses = torch.tensor(list(itertools.product(range(vocab), repeat=length)))  # [response pos]: 125
    positions = torch.arange(length)
    log_pi = log_probs[:, :, positions, responses].sum(-1)  # [seed batch response]: log pi(y)
    log_ref = ref_log_probs[:, :, positions, responses].sum(-1)
    assert torch.allclose(log_pi.exp().sum(-1), torch.ones(seeds, batch))  # every response, once
    enumerated = (log_pi.exp() * (log_pi - log_ref)).sum(-1)  # [seed batch]
    got = exact_kl(log_probs, ref_log_probs)
    torch.testing.assert_close(got, enumerated, rtol=1e-5, atol=1e-6)
    assert (got > 0.1).all()  # two different policies: a KL well away from 0
    torch.testing.assert_close(policy_kl(policy, reference, task.prompts), enumerated.mean(1), rtol=1e-5, atol=1e-6)
    assert (exact_kl(log_probs, log_probs) == 0).all()


def test_policy_kl_carries_the_policys_gradient_only():
    task, policy, reference = two_policies()
    policy_kl(policy, reference, task.prompts).sum().backward()
    assert policy.weights.grad.abs().sum() > 0 and reference.weights.grad is None
