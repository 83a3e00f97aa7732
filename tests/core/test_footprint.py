"""The memory estimate that refuses impossible runs before any work."""

import torch

from grpo.core.config import TrainConfig
from grpo.core.footprint import FLOAT, available_bytes, estimated_bytes, weight_count
from grpo.core.seed_model import StackedSeedModel


def test_the_seed_policys_weights_are_counted_exactly():
    config = TrainConfig(dim=7)
    task = config.make_task()
    policy = StackedSeedModel.init([torch.Generator().manual_seed(0)], task.vocab_size, task.length, config.dim)
    assert weight_count(config, task, task.length) == sum(p.numel() for p in policy.parameters())


def test_the_estimate_grows_linearly_in_seeds_and_bounds_the_weights():
    config = TrainConfig()
    task = config.make_task()
    one = estimated_bytes(config, task, 1)
    assert estimated_bytes(config, task, 1000) == 1000 * one
    assert one >= 4 * FLOAT * weight_count(config, task, task.length)  # weights, gradients, Adam's two moments
    assert estimated_bytes(TrainConfig(dim=100_000), task, 1) > 100 * 2**30  # 2 x 3 x 1e10 weights


def test_available_memory_is_known_here():
    available = available_bytes(torch.device("cpu"))
    assert available is not None and 2**28 < available < 2**45
