"""One inner step (forward, loss, backward, Adam) per seed-step for S stacked seeds in one
model, against the baseline's one model per seed, trained one after another; with each
seed-step's FLOPs and bytes (bench/floor.py) for the report's distance to the machine's floor.

The levers, each measured by undoing it alone (same numbers, other code): ``autograd`` takes
the log-probs through autograd on the plain forward instead of the hand-written backward;
``torch.optim.Adam`` builds torch's fused Adam over the same flat buffer."""

import pytest
import torch

from bench import baseline
from bench.floor import seed_step_bytes, seed_step_flops
from grpo import TrainConfig
from grpo.core.optim import Adam
from grpo.core.policies import Sample
from grpo.core.sampling import tempered
from grpo.core.seed_model import StackedSeedModel, entropy, gather_log_probs, sample, token_index
from grpo.core.train import Rollout, update_step
from grpo.core.uniforms import SeedUniforms
from grpo.tasks.prompts import seed_task

SEEDS = [1, 5, 20, 100, 1000, 10000]
CONFIG = TrainConfig(loss_mode="clipped", deltas_mode="centered_rewards")  # a step that uses every stage
LEVERS = ["without hand-written backward", "with torch.optim.Adam"]
LEVER_SEEDS = [20, 1000]
BASELINE_MODELS = 100  # the baseline trains models one after another: its time per seed-step does not depend on S


def rollout(num_seeds, device):
    """Both implementations' models from the same draws, and one shared rollout."""
    task = seed_task().to(device)
    generators = [torch.Generator(device).manual_seed(s) for s in range(num_seeds)]
    policy = StackedSeedModel.init(generators, task.vocab_size, task.length, CONFIG.dim)
    models = [baseline.SeedModel(torch.Generator(device).manual_seed(s), task.vocab_size, task.length, CONFIG.dim)
              for s in range(min(num_seeds, BASELINE_MODELS))]
    with torch.no_grad():
        log_probs = policy.log_probs(task.prompts)[0]
        responses = sample(log_probs, CONFIG.responses, SeedUniforms(generators))  # [seed batch response pos]
        index = token_index(responses, task.vocab_size)
        old = gather_log_probs(log_probs, index)
        rewards = torch.stack([baseline.compute_rewards(task.prompts.cpu(), r.cpu()) for r in responses[:len(models)]]).float()
        centered = (rewards - rewards.mean(-1, keepdim=True)).to(device)  # [model batch response]
        deltas = centered.repeat(-(-num_seeds // len(models)), 1, 1)[:num_seeds]  # [seed batch response]
    return task, policy, models, responses, index, old, deltas


@pytest.mark.parametrize("impl", ["ours", "baseline", *LEVERS])
@pytest.mark.parametrize("seeds", SEEDS)
def test_inner_step(benchmark, device, synchronize, one_thread, seeds, impl):
    if impl in LEVERS and seeds not in LEVER_SEEDS:
        pytest.skip(f"levers are measured at S = {LEVER_SEEDS}")
    task, policy, models, responses, index, old, deltas = rollout(seeds, device)
    if impl != "baseline":
        optimizer = stacked_variant(policy, impl, CONFIG.lr)

        def timed():
            update_step(policy, optimizer, CONFIG, Rollout(task.prompts, Sample(responses, index, None, old), deltas, old, None))
            synchronize()
    else:
        optimizers = [torch.optim.Adam(m.parameters(), lr=CONFIG.lr) for m in models]

        def timed():
            for s, (model, optimizer) in enumerate(zip(models, optimizers)):
                baseline.inner_step(model, optimizer, task.prompts, responses[s], deltas[s], old[s], CONFIG.loss_mode)
            synchronize()

    rounds = max(5, 400 // len(models)) if impl == "baseline" else max(20, 2000 // seeds)
    benchmark.pedantic(timed, rounds=rounds, iterations=1, warmup_rounds=3)
    batch, length = task.prompts.shape
    benchmark.extra_info.update(
        suite="train_step", impl=impl, seeds=seeds, seed_steps=len(models) if impl == "baseline" else seeds,
        flops=seed_step_flops(batch, length, task.vocab_size, CONFIG.dim),
        bytes=seed_step_bytes(length, task.vocab_size, CONFIG.dim),
        agrees=one_step_agrees(min(seeds, 20), device, "ours" if impl == "baseline" else impl))
    assert benchmark.extra_info["agrees"]


def stacked_variant(policy: StackedSeedModel, impl: str, lr: float):
    """grpo's step as it is ("ours") or with one lever undone -> its optimizer."""
    if impl == "without hand-written backward":  # log-probs through autograd on the plain forward
        def autograd_log_probs(prompts, temperature=1.0):
            log_probs = tempered(policy(prompts), temperature).log_softmax(-1)  # [seed batch pos vocab]
            return log_probs, entropy(log_probs.detach())

        policy.log_probs = autograd_log_probs
    if impl == "with torch.optim.Adam":
        return torch.optim.Adam(policy.parameters(), lr=lr, fused=True)
    return Adam(policy.parameters(), lr=lr)


def one_step_agrees(seeds, device, impl) -> bool:
    """From the same weights and rollout, grpo's step (or a variant) and the baseline compute
    the same loss gradients (compared before Adam, whose first step sign() would amplify
    rounding in tiny gradients)."""
    task, policy, models, responses, index, old, deltas = rollout(seeds, device)
    rollout_ = Rollout(task.prompts, Sample(responses, index, None, old), deltas, old, None)
    update_step(policy, stacked_variant(policy, impl, 0.0), CONFIG, rollout_)
    grads = policy.document_views(policy.weights.grad)
    for s, model in enumerate(models):
        baseline.inner_step(model, torch.optim.Adam(model.parameters(), lr=0.0), task.prompts, responses[s], deltas[s],
                            old[s], CONFIG.loss_mode)
    return all(torch.allclose(grads[name][s], getattr(model, name).grad, rtol=1e-4, atol=1e-6)
               for s, model in enumerate(models) for name in grads)
