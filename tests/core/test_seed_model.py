"""The stacked policy: its forward against the per-seed formula, sampling, log-prob lookup."""

import math

import pytest
import torch
from einops import repeat

from grpo.core.sampling import Sampling
from grpo.core.seed_model import (
    GREEDY_SEEDS,
    SAMPLING_SEEDS,
    StackedSeedModel,
    entropy,
    gather_log_probs,
    greedy_correct,
    sample,
    token_index,
)
from grpo.core.uniforms import SeedUniforms
from grpo.tasks.prompts import seed_task


def policy_for(seeds, dim=4):
    task = seed_task()
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return StackedSeedModel.init(generators, task.vocab_size, task.length, dim), task.prompts, generators


def test_forward_matches_the_seeds_formula_per_seed():
    policy, prompts, _ = policy_for([0, 1])
    logits = policy(prompts)  # [seed batch pos vocab]
    for s in range(2):
        E, enc, dec = (policy.document_views(policy.weights)[name][s] for name in ("embedding", "encode", "decode"))
        for b, prompt in enumerate(prompts):
            h = sum(E[x] @ enc[p] for p, x in enumerate(prompt))
            for j in range(dec.shape[0]):
                torch.testing.assert_close(logits[s, b, j], (h @ dec[j]) @ E.T)


def test_init_is_per_seed_and_scaled():
    stacked, _, _ = policy_for([3, 8], dim=50)
    alone, _, _ = policy_for([8], dim=50)
    stacked, alone = stacked.document_views(stacked.weights), alone.document_views(alone.weights)
    assert torch.equal(stacked["embedding"][1], alone["embedding"][0])
    assert torch.equal(stacked["decode"][1], alone["decode"][0])
    assert abs(stacked["encode"].std().item() - 1 / math.sqrt(50)) < 0.01
    assert abs(stacked["embedding"].std().item() - 1) < 0.15


def test_gather_equals_repeat_and_gather_with_gradients():
    policy, prompts, generators = policy_for([0, 1, 2])
    log_probs = policy(prompts).log_softmax(-1)
    responses = sample(log_probs.detach(), 7, SeedUniforms(generators))  # [seed batch response pos]
    ours = gather_log_probs(log_probs, token_index(responses, 5))
    expanded = repeat(log_probs, "s b p v -> s b r p v", r=7)  # the seed document's way
    theirs = expanded.gather(-1, responses[..., None])[..., 0]
    torch.testing.assert_close(ours, theirs)
    grad_ours = torch.autograd.grad(ours.sum(), policy.weights, retain_graph=True)[0]
    grad_theirs = torch.autograd.grad(theirs.sum(), policy.weights)[0]
    torch.testing.assert_close(grad_ours, grad_theirs)


def test_sampling_follows_the_policy():
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4])).view(1, 1, 1, 4)
    drawn = sample(logits.log_softmax(-1), 20000, SeedUniforms([torch.Generator().manual_seed(0)]))
    frequencies = torch.bincount(drawn.flatten(), minlength=4) / drawn.numel()
    torch.testing.assert_close(frequencies, torch.tensor([0.1, 0.2, 0.3, 0.4]), atol=0.01, rtol=0)


def test_sampling_of_a_seed_ignores_its_neighbours():
    logits = torch.randn(3, 2, 3, 5)
    generators = [torch.Generator().manual_seed(s) for s in (4, 5, 6)]
    stacked = sample(logits, 8, SeedUniforms(generators))
    alone = sample(logits[1:2], 8, SeedUniforms([torch.Generator().manual_seed(5)]))
    assert torch.equal(stacked[1:2], alone)


def test_entropy_by_hand():
    uniform = torch.full((1, 2, 3, 4), math.log(0.25))
    torch.testing.assert_close(entropy(uniform), torch.tensor([math.log(4)]))


def test_greedy_correct_of_a_hand_built_policy():
    """dim = vocab = 5, E = 10 I, enc[0] = I (h = 10 e_{x_0}), dec[j] sends e_{x_0} to a token:
    first tokens 1 -> (0, 1, 2) and 3 -> (2, 3, 4). Of the seed prompts [1,0,2], [3,2,4], [1,2,3]
    the first two come out sorted, the third (also starting with 1) does not."""
    embedding = 10 * torch.eye(5)
    encode = torch.zeros(3, 5, 5)
    encode[0] = torch.eye(5)
    decode = torch.zeros(3, 5, 5)
    for j in range(3):
        decode[j, 1, [0, 1, 2][j]] = 1
        decode[j, 3, [2, 3, 4][j]] = 1
    policy = StackedSeedModel(embedding[None], encode[None], decode[None])
    assert greedy_correct(policy, seed_task().prompts).tolist() == [[True, True, False]]


def test_greedy_correct_is_the_greedy_response_compared_with_the_sorted_prompt():
    """The hand-built policy above (ties among the other tokens) and all-equal logits (the
    argmax takes token 0: only the prompt 0 0 0 comes out sorted), on all 125 arrays."""
    prompts = torch.cat([seed_task().prompts, seed_task().heldout])  # all 125 arrays
    policy, _, _ = policy_for([0, 1, 2], dim=3)
    encode, decode = torch.zeros(1, 3, 5, 5), torch.zeros(1, 3, 5, 5)
    encode[0, 0] = torch.eye(5)
    for j in range(3):
        decode[0, j, 1, [0, 1, 2][j]] = 1
    hand_built = StackedSeedModel(10 * torch.eye(5)[None], encode, decode)
    # first token 1: the response 0 1 2; any other: every logit 0, the response 0 0 0
    assert prompts[greedy_correct(hand_built, prompts)[0]].tolist() == [[1, 0, 2], [0, 0, 0], [1, 2, 0]]
    with torch.no_grad():
        policy.weights.zero_()
    is_zeros = (prompts == 0).all(-1)
    assert torch.equal(greedy_correct(policy, prompts), is_zeros.expand(3, -1))


def test_hand_written_backward_equals_autograd():
    """policy.log_probs (its backward written out) against autograd through the plain forward,
    for a random upstream gradient; its entropy against entropy() of the same log-probs."""
    policy, prompts, _ = policy_for([0, 1, 2], dim=6)
    upstream = torch.randn(3, 3, 3, 5, generator=torch.Generator().manual_seed(9))
    log_probs, mean_entropy = policy.log_probs(prompts)
    reference = policy(prompts).log_softmax(-1)  # [seed batch pos vocab]
    torch.testing.assert_close(log_probs, reference)
    torch.testing.assert_close(mean_entropy, entropy(reference.detach()))
    ours = torch.autograd.grad((log_probs * upstream).sum(), policy.weights)[0]
    theirs = torch.autograd.grad((reference * upstream).sum(), policy.weights)[0]
    torch.testing.assert_close(ours, theirs)
    assert ours.abs().min() > 0  # every weight of the flat buffer gets a gradient


@pytest.mark.parametrize("seeds", [2, GREEDY_SEEDS + 3])  # one pass; two passes, the second of 3 seeds
def test_greedy_is_argmax_with_its_tie_rule(seeds):
    policy, prompts, _ = policy_for(range(seeds), dim=3)
    heldout = seed_task().heldout
    with torch.no_grad():
        assert torch.equal(policy.greedy(heldout), policy(heldout).argmax(-1))
    with torch.no_grad():  # every logit equal: argmax takes the first token
        policy.weights.zero_()
    assert (policy.greedy(prompts) == 0).all()


@pytest.mark.parametrize("seeds", [3, SAMPLING_SEEDS + 5])  # one pass; two passes, the second of 5 seeds
def test_the_draw_is_sample_of_the_learners_log_probs_bit_for_bit(seeds):
    """What a rollout draws (in passes of seeds, vocab-major, no gradient) are ``sample``'s
    responses from log_probs's numbers, and the log-probs it keeps are those numbers exactly, at
    temperature 1 and at another."""
    policy, prompts, generators = policy_for(list(range(seeds)))
    for temperature in (1.0, 0.7):
        learner = policy.log_probs(prompts, temperature)[0].detach()  # [seed batch pos vocab]
        twins = [torch.Generator() for _ in generators]
        for twin, g in zip(twins, generators, strict=True):
            twin.set_state(g.get_state())
        drawn, log_probs = policy.draw_responses(prompts, 4, SeedUniforms(generators), Sampling(temperature), True)
        expected = sample(learner, 4, SeedUniforms(twins))
        assert torch.equal(log_probs, learner) and torch.equal(drawn, expected)
