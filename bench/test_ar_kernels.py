"""The transformer policy's kernels, on one thread as a sweep's trials run: chosen-token
log-probs and entropy from real per-position logits (grpo.core.logprob vs log_softmax + gather), time
and peak memory in logits copies; and one inner step of the AR policy per seed-step, S seeds
stacked vs one model per seed."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.ar_kernels import KERNELS, LARGE, SIZES, make_inputs
from grpo.core.optim import Adam
from grpo.core.policies import POLICIES
from grpo.core.train import Rollout, update_step
from grpo.core.uniforms import SeedUniforms
from grpo.experiment.grids import load_grid
from grpo.modes.deltas import DELTAS

ROOT = Path(__file__).resolve().parent.parent


def peak_bytes(kernel, size, device) -> int:
    done = subprocess.run([sys.executable, "-m", "bench.memory_probe", kernel, size, device, "bench.ar_kernels"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("size", list(SIZES))
def test_ar_logprob_kernel(benchmark, device, synchronize, one_thread, size, kernel):
    logits, tokens = make_inputs(SIZES[size], device)

    def fresh_gradient():
        logits.grad = None

    def forward_backward():
        outputs = KERNELS[kernel](logits, tokens)
        synchronize()
        return outputs

    log_probs, entropy = benchmark.pedantic(forward_backward, setup=fresh_gradient, rounds=3 if size in LARGE else 10,
                                            warmup_rounds=1)
    grad = logits.grad
    logits.grad = None
    expected_log_probs, expected_entropy = KERNELS["log_softmax_gather"](logits, tokens)
    agrees = (torch.allclose(log_probs, expected_log_probs, atol=1e-4) and torch.allclose(entropy, expected_entropy, atol=1e-4)
              and torch.allclose(grad, logits.grad, atol=1e-6))
    sequences, positions, vocab = SIZES[size]
    logits_bytes = sequences * positions * vocab * logits.element_size()
    peak = peak_bytes(kernel, size, device)
    benchmark.extra_info.update(suite="ar_logprob", size=size, impl=kernel, logits_bytes=logits_bytes, peak_bytes=peak,
                                peak_logits_copies=peak / logits_bytes, agrees=agrees)
    assert agrees


AR_SEEDS = [1, 8, 32]
AR_CONFIG = load_grid("sequence").configs()[0]  # the `sequence` preset's task and policy (token_mean, clipped)


def ar_rollouts(seeds: list[int]):
    """A policy of `seeds` stacked, and its rollout (one sampled epoch of the preset's task)."""
    task = AR_CONFIG.make_task()
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    kind = POLICIES["transformer"]
    policy = kind.init(AR_CONFIG, task, generators)
    with torch.no_grad():
        sample = kind.sample(policy, AR_CONFIG, task, SeedUniforms(generators), with_log_probs=True)
        deltas = DELTAS[AR_CONFIG.deltas_mode](kind.rewards(AR_CONFIG, task, sample.responses))
    return policy, Rollout(task.prompts, sample, deltas, sample.log_probs, None)


@pytest.mark.parametrize("impl", ["stacked", "one model per seed"])
@pytest.mark.parametrize("seeds", AR_SEEDS)
def test_ar_inner_step(benchmark, device, synchronize, one_thread, seeds, impl):
    """One inner step of the transformer policy (teacher-forced log-probs, loss, backward, Adam)
    for S seeds: stacked in one model, or S single-seed models stepped one after another (the
    same seeds, so the same work: stacked == separate)."""
    if device != "cpu":
        pytest.skip("the AR step is measured on the CPU")
    parts = [ar_rollouts(list(range(seeds)))] if impl == "stacked" else [ar_rollouts([seed]) for seed in range(seeds)]
    optimizers = [Adam(policy.parameters(), lr=AR_CONFIG.lr) for policy, _ in parts]

    def step():
        metrics = [torch.stack(list(update_step(policy, optimizer, AR_CONFIG, rollout).values()))  # [STEP_METRICS seed]
                   for (policy, rollout), optimizer in zip(parts, optimizers)]
        synchronize()
        return torch.cat(metrics, -1)  # [STEP_METRICS seed]

    first = step()  # also the warm-up; the first step's metrics of both implementations must agree
    benchmark.pedantic(step, rounds=max(3, 64 // seeds), iterations=1)
    reference = torch.cat([torch.stack(list(update_step(policy, Adam(policy.parameters(), lr=AR_CONFIG.lr), AR_CONFIG,
                                                        rollout).values()))
                           for policy, rollout in (ar_rollouts([seed]) for seed in range(seeds))], -1)
    agrees = bool(torch.allclose(first, reference, rtol=1e-4, atol=1e-6, equal_nan=True))  # NaN: a metric with no token to count
    benchmark.extra_info.update(suite="ar_step", impl=impl, seeds=seeds, agrees=agrees)
    assert agrees
