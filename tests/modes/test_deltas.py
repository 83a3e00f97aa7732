"""Deltas modes on hand-computed groups."""

import math

import pytest
import torch

from grpo.modes.deltas import DELTAS, deltas_function, equal_reward_groups


def group(*values):
    return torch.tensor([[list(values)]])  # [seed=1 batch=1 response]


def test_rewards_are_passed_through():
    assert DELTAS["rewards"](group(1.0, 2.0, 6.0)).flatten().tolist() == [1, 2, 6]


def test_centered_by_hand():
    assert DELTAS["centered_rewards"](group(1.0, 2.0, 6.0)).flatten().tolist() == [-2, -1, 3]


def test_normalized_by_hand():
    # mean 3, Bessel std sqrt(((-2)^2 + (-1)^2 + 3^2) / 2) = sqrt(7)
    got = DELTAS["normalized_rewards"](group(1.0, 2.0, 6.0)).flatten().tolist()
    std = math.sqrt(7)
    assert got == pytest.approx([-2 / (std + 1e-5), -1 / (std + 1e-5), 3 / (std + 1e-5)], rel=1e-6)


def test_rloo_by_hand():
    # each minus the mean of the other two: 1 - 4, 2 - 3.5, 6 - 1.5
    assert DELTAS["rloo"](group(1.0, 2.0, 6.0)).flatten().tolist() == [-3, -1.5, 4.5]


def test_batch_normalized_divides_by_one_std_for_the_whole_batch():
    rewards = torch.tensor([[[1.0, 3.0], [10.0, 30.0]]])  # centred: [-1, 1], [-10, 10]
    std = torch.tensor([-1.0, 1.0, -10.0, 10.0]).std().item()
    expected = [-1 / (std + 1e-5), 1 / (std + 1e-5), -10 / (std + 1e-5), 10 / (std + 1e-5)]
    assert DELTAS["batch_normalized"](rewards).flatten().tolist() == pytest.approx(expected)


def test_max_rewards_by_hand():
    assert DELTAS["max_rewards"](group(1.0, 6.0, 2.0, 6.0)).flatten().tolist() == [0, 6, 0, 6]


def rollout(rewards: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """What a mode declaring ``reads_rollout`` reads (grpo.core.train.deltas_inputs): a greedy
    response's reward per prompt (here the group's best), and 4 tokens a response."""
    tokens = (*rewards.shape, 4)
    return {"greedy_rewards": rewards.amax(-1), "old_log_probs": torch.full(tokens, math.log(0.5)),
            "sum_pi_squared": torch.full(tokens, 0.3), "rollout_is_weights": None}


@pytest.mark.parametrize("mode", list(DELTAS))
def test_equal_rewards_give_finite_deltas(mode):
    rewards = torch.full((2, 3, 5), 4.0)
    deltas = deltas_function(mode)(rewards, None, **rollout(rewards))
    assert torch.isfinite(deltas).all()
    expected = {"rewards": 4.0, "max_rewards": 4.0}.get(mode, 0.0)  # every baseline removes it
    assert torch.equal(deltas, torch.full(deltas.shape, expected)) and deltas.shape[:3] == rewards.shape


BATCH_WIDE = ("batch_normalized", "group_mean_batch_std", "reinforce_plus_plus", "reinforce_plus_plus_baseline",
              "gpg")  # read the whole batch by design


@pytest.mark.parametrize("mode", [mode for mode in DELTAS if mode not in BATCH_WIDE])
def test_groups_are_independent(mode):
    """Each prompt's group is normalised on its own: changing one group leaves the others."""
    rewards = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 5.0, 5.0]]])
    changed = rewards.clone()
    changed[0, 1] = torch.tensor([9.0, 1.0, 2.0])
    fn = deltas_function(mode)
    assert torch.equal(fn(rewards, None, **rollout(rewards))[0, 0], fn(changed, None, **rollout(changed))[0, 0])


def test_equal_reward_groups_by_hand():
    rewards = torch.tensor([[[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]])  # [seed=2 batch=2 response=3]
    assert equal_reward_groups(rewards).tolist() == [[True, False], [True, True]]
    for mode in ("centered_rewards", "normalized_rewards", "rloo", "batch_normalized"):  # their deltas are 0 exactly
        deltas = DELTAS[mode](rewards)
        assert (deltas[equal_reward_groups(rewards)] == 0).all() and (deltas[0, 1] != 0).all()
