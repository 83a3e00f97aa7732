"""The memory estimate that refuses impossible runs before any work."""

import subprocess
import sys

import pytest
import torch

from grpo.core.config import TrainConfig
from grpo.core.footprint import available_bytes, estimated_bytes, weight_count
from grpo.core.seed_model import StackedSeedModel
from grpo.core.transformer import StackedTransformer


@pytest.mark.parametrize("config", [TrainConfig(dim=7), TrainConfig(policy="transformer", task="random", dim=16, layers=2,
                                                                    max_response_length=8)], ids=["seed", "transformer"])
def test_the_weights_are_counted_exactly(config):
    task = config.make_task()
    generators = [torch.Generator().manual_seed(0)]
    if config.policy == "seed":
        policy = StackedSeedModel.init(generators, task.vocab_size, task.length, config.dim)
        positions = task.length
    else:
        positions = config.max_response_length
        policy = StackedTransformer.init(generators, task.vocab_size, task.length + positions, config.dim, config.layers,
                                         config.heads)
    assert weight_count(config, task, positions) == sum(p.numel() for p in policy.parameters())


PEAK = """
import resource, sys
import torch
from grpo import TrainConfig, train
from grpo.core.footprint import estimated_bytes
config = TrainConfig(**eval(sys.argv[1]))
train(config, [0])  # every kernel and allocator pool warm: what follows is the seeds' own memory
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
train(config, list(range(int(sys.argv[2]))))
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(grown, estimated_bytes(config, config.make_task(), int(sys.argv[2])))
"""


@pytest.mark.parametrize("fields, seeds", [
    ({"epochs": 1, "steps_per_epoch": 1, "dim": 64}, 1000),
    ({"epochs": 1, "steps_per_epoch": 1, "policy": "transformer", "task": "random", "max_response_length": 12, "responses": 16}, 40),
    ({"epochs": 1, "steps_per_epoch": 1, "policy": "transformer", "task": "random", "max_response_length": 12, "responses": 16,
      "reward_fn": "exact_match", "deltas_mode": "centered_rewards", "dynamic_sampling": 8}, 40),  # every round sampled
], ids=["seed", "transformer", "transformer-dynamic-sampling"])
def test_the_estimate_bounds_the_memory_a_run_really_takes(fields, seeds):
    """In a fresh process: the growth of the peak resident memory when training `seeds` stacked
    seeds (past a warm-up run) is at most the estimate, and not far below it (the estimate is an
    upper bound, not a guess of any size)."""
    done = subprocess.run([sys.executable, "-c", PEAK, repr(fields), str(seeds)], capture_output=True, text=True, check=True)
    grown, estimate = map(int, done.stdout.split())
    assert 0 < grown <= estimate < 5 * grown, (grown, estimate)


def test_an_impossible_size_is_over_any_machine():
    config = TrainConfig(dim=100_000)
    assert estimated_bytes(config, config.make_task(), 1) > 100 * 2**30  # 2 x 3 x 1e10 weights, and Adam's moments


def test_available_memory_is_known_here():
    available = available_bytes(torch.device("cpu"))
    assert available is not None and 2**28 < available < 2**45
