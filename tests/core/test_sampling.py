"""The rollout's sampling options (grpo.core.sampling: temperature, top_k, top_p) against a
brute-force reading of the rules they follow, on both policies.

Peer sources, as fetched: TRL f2cd577 (trl/trainer/grpo_trainer.py: generation takes
``temperature``, ``top_p``, ``top_k``, lines 1099-1117; every forward pass divides the logits by the
temperature before its log-softmax, ``logits.div_(self.temperature)``, line 1519) and the rules of
transformers' ``TopKLogitsWarper`` (tokens below the k-th largest logit dropped, ties kept) and
``TopPLogitsWarper`` (in ascending order of probability, the tokens whose cumulative probability
is at most 1 - top_p dropped, the most likely always kept), applied after the temperature.
"""

import pandas as pd
import pytest
import torch

from grpo.core.config import TrainConfig
from grpo.core.policies import Sample, SeedPolicy, TransformerPolicy
from grpo.core.sampling import CDF_MARGIN, PLAIN, Sampling, checked_inverse_cdf, draw, tempered, truncated
from grpo.core.seed_model import StackedSeedModel, token_index
from grpo.core.train import train
from grpo.core.transformer import StackedTransformer
from grpo.core.uniforms import SeedUniforms, inverse_cdf
from grpo.tasks.prompts import seed_task
from grpo.testing import assert_stacked_seeds_equal_separate_runs

STREAM = dict(policy="transformer", task="stream", task_min_length=2, task_length=4, task_vocab=5, task_prompts=6,
              task_heldout=16, max_response_length=6, dim=8, heads=2, responses=4, epochs=3, steps_per_epoch=2,
              warm_start_steps=10, warm_start_lr=1e-2, warm_start_noise=0.2, lr=3e-3)


def kept_by_rule(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Which tokens transformers' warpers keep, one distribution at a time in plain Python:
    top-k keeps every token whose logit is at least the k-th largest; top-p then walks the
    survivors from the least likely up, dropping each while the probability mass of it and all
    less likely survivors is at most 1 - top_p, and never the most likely. [row vocab] -> bool"""
    kept = torch.zeros_like(logits, dtype=torch.bool)
    for row, values in enumerate(logits.tolist()):
        alive = [v >= sorted(values, reverse=True)[top_k - 1] if top_k else True for v in values]
        probs = torch.tensor([v if a else -float("inf") for v, a in zip(values, alive, strict=True)]).softmax(-1).tolist()
        order = sorted(range(len(values)), key=lambda i: probs[i])  # ascending
        mass = 0.0
        for rank, i in enumerate(order):
            mass += probs[i]
            if alive[i] and mass <= 1 - top_p and rank < len(order) - 1:
                alive[i] = False
        kept[row] = torch.tensor(alive)
    return kept


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (3, 1.0), (1, 1.0), (0, 0.5), (0, 0.9), (4, 0.8), (2, 0.05)])
def test_truncation_keeps_what_transformers_warpers_keep(top_k, top_p):
    logits = torch.randn(200, 7, generator=torch.Generator().manual_seed(top_k)) * 2
    kept = truncated(tempered(logits, 0.7), Sampling(0.7, top_k, top_p)) > -torch.inf
    assert torch.equal(kept, kept_by_rule(logits / 0.7, top_k, top_p))


def test_draws_follow_the_truncated_tempered_distribution():
    """Uniforms on a fine grid: each token is drawn as often as its probability under
    softmax(truncated(logits / T)), to within one grid step, and never a dropped token."""
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0], [0.0, 0.0, 3.0, -2.0, 1.0]])
    sampling = Sampling(temperature=1.5, top_k=4, top_p=0.9)
    steps = 20000
    uniform = (torch.arange(steps) + 0.5) / steps  # [grid]
    tokens = draw(tempered(logits, 1.5)[:, None].expand(-1, steps, -1), uniform.expand(2, -1), sampling)  # [row grid]
    expected = truncated(tempered(logits, 1.5), sampling).softmax(-1)  # [row vocab]
    frequencies = torch.stack([torch.bincount(row, minlength=5) for row in tokens]).float() / steps
    assert torch.allclose(frequencies, expected, atol=1.5 / steps)
    assert (expected[torch.arange(2)[:, None], tokens] > 0).all()


def test_a_uniform_above_the_cdfs_last_value_draws_the_last_kept_token():
    logits = torch.tensor([[0.0, 5.0, -9.0, 4.0, -9.0]])  # top-2 keeps tokens 1 and 3
    assert draw(logits, torch.tensor([1.0]), Sampling(top_k=2)).item() == 3


@pytest.mark.parametrize("vocab", [2, 5, 6, 33])
def test_the_checked_draw_gives_inverse_cdfs_tokens_exactly(vocab):
    """On 200,000 distributions (flat, peaked, with -inf and NaN logits), at random uniforms and
    at uniforms on and one float step either side of each step of inverse_cdf's own CDF, where
    the outer-axis CDF's rounding differs: every token inverse_cdf's, whatever the logits' memory
    layout; the uniforms that fall within the margin are a small share."""
    g = torch.Generator().manual_seed(vocab)
    logits = torch.randn(200_000, vocab, generator=g) * torch.tensor([0.1, 1.0, 5.0, 30.0]).repeat(50_000)[:, None]
    logits[::997, 0] = -torch.inf
    logits[::1999] = torch.nan
    logits = logits.log_softmax(-1)  # as the seed policy draws: from log-probs
    step = torch.randint(vocab, (200_000,), generator=g)
    on_step = logits.softmax(-1).cumsum(-1).gather(-1, step[:, None])[:, 0]  # inverse_cdf's CDF at a step
    for uniform in (torch.rand(200_000, generator=g), on_step, on_step.nextafter(torch.tensor(0.0)),
                    on_step.nextafter(torch.tensor(1.0))):
        expected = inverse_cdf(logits, uniform)
        assert torch.equal(checked_inverse_cdf(logits, uniform), expected)
        vocab_major = logits.T.contiguous().T  # the same numbers, the vocab an outer axis in memory
        assert torch.equal(checked_inverse_cdf(vocab_major, uniform), expected)
    uniform = torch.rand(200_000, generator=g)
    gap = logits.softmax(-1).cumsum(-1) - uniform[:, None]
    assert (gap.abs() < CDF_MARGIN).any(-1).float().mean() < 3 * vocab * CDF_MARGIN  # the share drawn twice: 2 margins a step


def test_the_defaults_draw_the_policys_own_distribution():
    assert Sampling.of(TrainConfig()) == PLAIN and not PLAIN.truncates
    logits = torch.randn(3, 5)
    assert tempered(logits, 1.0) is logits and truncated(logits, PLAIN) is logits


def test_the_seed_policy_reads_its_log_probs_at_the_temperature():
    """Value and gradient of the hand-written backward at T = 0.6 against autograd on
    log_softmax(logits / T) (TRL's logits.div_ then selective_log_softmax)."""
    task = seed_task()
    generators = [torch.Generator().manual_seed(seed) for seed in (0, 1)]
    policy = StackedSeedModel.init(generators, task.vocab_size, task.length, dim=6)
    sample = SeedPolicy.sample(policy, TrainConfig(temperature=0.6, top_k=3), task, SeedUniforms(generators), True)
    assert sample.temperature == 0.6
    weights = torch.randn(sample.responses.shape, generator=torch.Generator().manual_seed(5))
    log_probs, _ = SeedPolicy.log_probs(policy, task.prompts, sample)
    (log_probs * weights).sum().backward()
    ours = policy.weights.grad.clone()
    policy.zero_grad()
    reference = (policy(task.prompts) / 0.6).log_softmax(-1).flatten().take(sample.index)
    (reference * weights).sum().backward()
    torch.testing.assert_close(log_probs, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours, policy.weights.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(sample.log_probs, reference.detach(), rtol=1e-5, atol=1e-6)  # the rollout's: the learner's
    with torch.no_grad():  # top_k 3: every drawn token among the 3 most likely of its position
        top3 = policy(task.prompts).topk(3, -1).indices  # [seed batch pos 3]
        assert (sample.responses[..., None] == top3[:, :, None]).any(-1).all()


def test_the_seed_policys_token_entropy_carries_the_gradient_of_its_positions_entropy():
    task = seed_task()
    generators = [torch.Generator().manual_seed(3)]
    policy = StackedSeedModel.init(generators, task.vocab_size, task.length, dim=6)
    responses = torch.randint(task.vocab_size, (1, len(task.prompts), 4, task.length), generator=torch.Generator().manual_seed(2))
    sample = Sample(responses, token_index(responses, task.vocab_size), None, None, 0.8)
    _, entropy = SeedPolicy.log_probs(policy, task.prompts, sample, token_entropy=True)  # [seed batch response pos]
    entropy.sum().backward()
    ours = policy.weights.grad.clone()
    policy.zero_grad()
    log_softmax = (policy(task.prompts) / 0.8).log_softmax(-1)  # [seed batch pos vocab]
    reference = -(log_softmax.exp() * log_softmax).sum(-1)[:, :, None].expand(entropy.shape)
    reference.sum().backward()
    torch.testing.assert_close(entropy, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours, policy.weights.grad, rtol=1e-4, atol=1e-6)


def test_the_transformer_draws_and_reads_its_log_probs_at_the_temperature():
    """generate at T: the drawn log-prob of each real token equals the teacher-forced pass at T
    (two code paths), differs from T = 1's; top_k 1 draws the greedy response."""
    generators = [torch.Generator().manual_seed(seed) for seed in (0, 1)]
    policy = StackedTransformer.init(generators, vocab=5, positions=12, dim=8, layers=1, heads=2)
    prompts = torch.tensor([[0, 3, 1, 2], [4, 4, 0, 1]])
    sampling = Sampling(temperature=1.7)
    responses, drawn = policy.generate(prompts, 3, 6, SeedUniforms(generators), sampling)
    sample = Sample(responses, None, (drawn != 0).float(), drawn, 1.7)
    forced, entropy = TransformerPolicy.log_probs(policy, prompts, sample)
    real = drawn != 0
    torch.testing.assert_close(forced[real], drawn[real], rtol=1e-5, atol=1e-5)
    plain, _ = policy.log_probs(prompts, responses)
    assert not torch.allclose(plain[real], drawn[real], atol=1e-3)
    with_grad, token_entropy = policy.log_probs(prompts, responses, 1.7, entropy_grad=True)  # the differentiable path
    torch.testing.assert_close(with_grad, forced, rtol=1e-5, atol=1e-6)
    assert token_entropy.requires_grad
    greedy, _ = policy.generate(prompts, 3, 6, None)
    top1, _ = policy.generate(prompts, 3, 6, SeedUniforms(generators), Sampling(temperature=1.7, top_k=1))
    assert torch.equal(top1, greedy)


@pytest.mark.parametrize("options", [dict(temperature=0.7, top_k=3, top_p=0.9), dict(temperature=1.4)])
def test_sampling_options_keep_stacked_seeds_apart(options):
    assert_stacked_seeds_equal_separate_runs(TrainConfig(loss_mode="clipped", deltas_mode="normalized_rewards", epochs=3,
                                                         **options))
    assert_stacked_seeds_equal_separate_runs(TrainConfig(**STREAM, loss_mode="clipped", epsilon=0.2, **options))


def test_the_held_out_evaluation_samples_at_temperature_one_and_runs_repeat():
    """The base's held-out success is the same whatever the sampling options (one protocol for every
    configuration); the rollouts are not; the same configuration and seeds give the same records."""
    plain = train(TrainConfig(**STREAM), [0, 1])
    hot = train(TrainConfig(**STREAM, temperature=2.0, top_p=0.8), [0, 1])
    assert plain["start_heldout_sorted_frac"].equals(hot["start_heldout_sorted_frac"])
    assert not plain["response_length"].equals(hot["response_length"])
    pd.testing.assert_frame_equal(hot, train(TrainConfig(**STREAM, temperature=2.0, top_p=0.8), [0, 1]))


@pytest.mark.parametrize("argv, message", [
    (["--temperature", "0"], "--temperature 0.0: must be positive"),
    (["--top-p", "1.5"], "--top-p 1.5: must lie in (0, 1]"),
    (["--top-k", "-1"], "--top-k -1: must be at least 0"),
])
def test_grpo_train_refuses_a_bad_sampling_option_in_one_line(argv, message, train_refusal):
    assert message in train_refusal(argv)
