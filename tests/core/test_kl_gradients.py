"""Each KL penalty's gradient against theory, exactly (every response weighted by its
probability under the sampling policy), and the Monte-Carlo study against the same."""

import itertools

import pytest
import torch

from grpo import TrainConfig
from grpo.core.exact_kl import exact_kl
from grpo.core.kl_gradients import (
    ESTIMATORS,
    STUDY_COLUMNS,
    flat_gradient,
    kl_gradient_study,
    perturbed,
    replicated,
    response_values,
)
from grpo.core.seed_model import StackedSeedModel, gather_log_probs, token_index

TASK = TrainConfig().make_task()


def models(spread=0.1, drift=0.05):
    reference = StackedSeedModel.init([torch.Generator().manual_seed(3)], TASK.vocab_size, TASK.length, 10)
    policy = perturbed(reference, spread, 4)
    return policy, perturbed(policy, drift, 5), reference


def expected_gradients(policy, old, reference):
    """E over y ~ pi_old of each estimator's gradient, exactly: every one of the 5^3 responses
    to each prompt weighted by its probability. -> name -> [weights_per_seed]"""
    vocab, length = TASK.vocab_size, TASK.length
    every = torch.tensor(list(itertools.product(range(vocab), repeat=length)))  # [response pos]: 125
    responses = every.expand(1, len(TASK.prompts), *every.shape)  # [seed=1 batch response pos]
    index = token_index(responses, vocab)
    with torch.no_grad():
        old_log_probs = gather_log_probs(old.log_probs(TASK.prompts)[0], index)
        ref_log_probs = gather_log_probs(reference.log_probs(TASK.prompts)[0], index)
        weight = old_log_probs.sum(-1).exp()  # [seed batch response] pi_old(y)
    gradients = {}
    for name in ESTIMATORS:
        if name == "k1_in_reward_rloo":  # its baseline couples the group's responses: not a sum of single-response terms
            continue
        model = replicated(policy, 1)
        log_probs = gather_log_probs(model.log_probs(TASK.prompts)[0], index)
        value = response_values(log_probs, old_log_probs, ref_log_probs)[name]  # [seed batch response]
        (weight * value).sum(-1).mean().backward()
        gradients[name] = flat_gradient(model)[0]
    return gradients


def exact_gradient_of(kl_of):
    """The gradient of kl_of(log pi, log pi_ref) averaged over the prompts, in pi's weights."""
    policy, _, reference = models()
    model = replicated(policy, 1)
    with torch.no_grad():
        ref = reference.log_probs(TASK.prompts)[0]
    kl_of(model.log_probs(TASK.prompts)[0], ref).mean().backward()
    return flat_gradient(model)[0]


def close(a, b):
    return torch.allclose(a, b, rtol=1e-3, atol=1e-4 * b.norm().item())


def test_on_policy_k2_k3_corrected_and_k1_in_reward_are_unbiased_k1_is_zero_k3_is_the_reverse_kl():
    policy, _, reference = models()
    expected = expected_gradients(policy, policy, reference)
    forward = exact_gradient_of(exact_kl)  # grad KL(pi || pi_ref)
    reverse = exact_gradient_of(lambda log_pi, log_ref: exact_kl(log_ref, log_pi))  # grad KL(pi_ref || pi)
    assert forward.norm() > 0.1 and not close(forward, reverse)
    for name in ("k2", "k3_corrected", "k1_in_reward"):
        assert close(expected[name], forward), name
    assert expected["k1"].norm() < 1e-4 * forward.norm()  # E_pi[grad log pi] = 0
    assert close(expected["k3"], reverse)


def test_off_policy_only_k3_corrected_stays_unbiased():
    policy, old, reference = models()
    expected = expected_gradients(policy, old, reference)
    forward = exact_gradient_of(exact_kl)
    assert close(expected["k3_corrected"], forward)
    for name in ("k1", "k2", "k3", "k1_in_reward"):
        assert not close(expected[name], forward), name


def test_the_monte_carlo_study_finds_what_theory_says():
    """Biases within Monte-Carlo noise where the expectation is exact (above), far outside it
    where it is not; k2 and k3_corrected have the same gradient sample by sample on-policy."""
    study = kl_gradient_study(batches=400)
    assert tuple(study.columns) == STUDY_COLUMNS and len(study) == 2 * len(ESTIMATORS)
    row = study.set_index(["setting", "estimator"])
    unbiased = [("on-policy", name) for name in ("k2", "k3_corrected", "k1_in_reward", "k1_in_reward_rloo")]
    for key in [*unbiased, ("off-policy", "k3_corrected")]:
        assert row.bias_norm[key] < 4 * row.bias_se[key], key
        assert row.cosine[key] > 0.99, key
    for key in [("on-policy", "k3"), ("off-policy", "k2"), ("off-policy", "k3"), ("off-policy", "k1_in_reward")]:
        assert row.bias_norm[key] > 8 * row.bias_se[key], key
    assert row.relative_bias["on-policy", "k1"] == pytest.approx(1, abs=0.05)  # a mean gradient of about 0
    assert row.variance["on-policy", "k2"] == pytest.approx(row.variance["on-policy", "k3_corrected"], rel=1e-4)
    assert (row.sampling_kl["on-policy"] == 0).all() and (row.sampling_kl["off-policy"] > 0.005).all()
