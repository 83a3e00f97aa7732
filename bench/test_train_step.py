"""The headline: time per seed-step of one inner step (and of one epoch) for S stacked seeds
in one model, against the baseline's one model per seed, trained one after another."""

import pytest
import torch

from bench import baseline
from grpo import TrainConfig, train
from grpo.model import StackedPolicy, gather_log_probs, sample, token_index
from grpo.tasks import seed_task
from grpo.train import Rollout, update_step

SEEDS = [1, 5, 20, 100]
CONFIG = TrainConfig(loss_mode="clipped", deltas_mode="centered_rewards")  # a step that uses every stage


def rollout(num_seeds, device):
    """Both implementations' models from the same draws, and one shared rollout."""
    task = seed_task().to(device)
    generators = [torch.Generator(device).manual_seed(s) for s in range(num_seeds)]
    policy = StackedPolicy.init(generators, task.vocab_size, task.length, CONFIG.dim)
    models = [baseline.SeedModel(torch.Generator(device).manual_seed(s), task.vocab_size, task.length, CONFIG.dim)
              for s in range(num_seeds)]
    with torch.no_grad():
        log_probs = policy(task.prompts).log_softmax(-1)
        responses = sample(log_probs, CONFIG.responses, generators)  # [seed batch response pos]
        index = token_index(responses, task.vocab_size)
        old = gather_log_probs(log_probs, index)
        rewards = torch.stack([baseline.compute_rewards(task.prompts.cpu(), r.cpu()) for r in responses]).float()
        deltas = (rewards - rewards.mean(-1, keepdim=True)).to(device)  # [seed batch response]
    return task.prompts, policy, models, responses, index, old, deltas


@pytest.mark.parametrize("impl", ["ours", "baseline"])
@pytest.mark.parametrize("seeds", SEEDS)
def test_inner_step(benchmark, device, synchronize, seeds, impl):
    prompts, policy, models, responses, index, old, deltas = rollout(seeds, device)
    if impl == "ours":
        optimizer = torch.optim.Adam(policy.parameters(), lr=CONFIG.lr)

        def timed():
            update_step(policy, optimizer, CONFIG, Rollout(prompts, index, deltas, old, None))
            synchronize()
    else:
        optimizers = [torch.optim.Adam(m.parameters(), lr=CONFIG.lr) for m in models]

        def timed():
            for s, (model, optimizer) in enumerate(zip(models, optimizers)):
                baseline.inner_step(model, optimizer, prompts, responses[s], deltas[s], old[s], CONFIG.loss_mode)
            synchronize()

    benchmark.pedantic(timed, rounds=200 if impl == "ours" else max(5, 400 // seeds), iterations=1, warmup_rounds=5)
    benchmark.extra_info.update(suite="train_step", impl=impl, seeds=seeds, agrees=one_step_agrees(seeds, device))
    assert benchmark.extra_info["agrees"]


def one_step_agrees(seeds, device) -> bool:
    """From the same weights and rollout, both implementations compute the same loss gradients
    (compared before Adam, whose first step sign() would amplify rounding in tiny gradients)."""
    prompts, policy, models, responses, index, old, deltas = rollout(seeds, device)
    update_step(policy, torch.optim.Adam(policy.parameters(), lr=0.0), CONFIG, Rollout(prompts, index, deltas, old, None))
    for s, model in enumerate(models):
        baseline.inner_step(model, torch.optim.Adam(model.parameters(), lr=0.0), prompts, responses[s], deltas[s],
                            old[s], CONFIG.loss_mode)
    return all(torch.allclose(getattr(policy, name).grad[s], getattr(model, name).grad, rtol=1e-4, atol=1e-6)
               for s, model in enumerate(models) for name in ("embedding", "encode", "decode"))


@pytest.mark.parametrize("seeds", SEEDS)
def test_epoch(benchmark, device, synchronize, seeds):
    """One whole epoch (sampling, rewards, deltas, 10 inner steps) of grpo.train."""
    config = TrainConfig(epochs=1, loss_mode="clipped", deltas_mode="centered_rewards")
    benchmark.pedantic(lambda: train(config, range(seeds), device), rounds=max(3, 40 // seeds), iterations=1,
                       warmup_rounds=1)
    benchmark.extra_info.update(suite="epoch", impl="ours", seeds=seeds)
