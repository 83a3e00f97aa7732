"""The example plugin's own tests: run `pytest` here after `pip install -e .` (grpo installed)."""

import pytest
import torch

from grpo import TrainConfig
from grpo.errors import UsageError
from grpo.modes.deltas import DELTAS
from grpo.testing import assert_stacked_seeds_equal_separate_runs


def group(*values):
    return torch.tensor([[list(values)]])  # [seed=1 batch=1 response]


def test_grpo_finds_the_mode_through_its_entry_point():
    assert "centered_ranks" in DELTAS
    assert DELTAS.origin("centered_ranks") == "grpo-rank-deltas==0.1.0"


def test_ranks_by_hand():
    assert DELTAS["centered_ranks"](group(1.0, 6.0, 2.0)).flatten().tolist() == [-0.5, 0.5, 0.0]
    # ties share the mean rank: ranks 0.5, 0.5, 2 of 0..2
    assert DELTAS["centered_ranks"](group(1.0, 1.0, 3.0)).flatten().tolist() == [-0.25, -0.25, 0.5]
    assert DELTAS["centered_ranks"](group(4.0, 4.0, 4.0)).flatten().tolist() == [0.0, 0.0, 0.0]
    assert DELTAS["centered_ranks"](group(7.0)).flatten().tolist() == [0.0]


def test_grpo_refuses_a_one_response_group():
    with pytest.raises(UsageError, match="needs at least 2 responses"):
        TrainConfig(deltas_mode="centered_ranks", responses=1)


def test_only_the_order_of_rewards_matters():
    rewards = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    deltas = DELTAS["centered_ranks"](rewards)
    assert torch.equal(deltas, DELTAS["centered_ranks"](torch.exp(3 * rewards) + 5))
    assert deltas.sum(-1).abs().max() < 1e-6


def test_stacked_seeds_equal_separate_runs():
    assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode="centered_ranks", loss_mode="clipped", epochs=3,
                                                         steps_per_epoch=2))
