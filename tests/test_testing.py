"""grpo.testing, the checks plugin authors run: each one fails a mode that breaks its property
(the built-ins pass them in test_train, test_losses and test_rewards)."""

import pytest
import torch

from grpo import TrainConfig, register
from grpo.modes.catalogue import registries
from grpo.modes.losses import LOSSES, LossTerms
from grpo.modes.rewards import sort_distance
from grpo.testing import (
    assert_ratio_gradient_equals_naive,
    assert_sorted_response_rated_best,
    assert_stacked_seeds_equal_separate_runs,
)


@pytest.fixture
def in_process():
    """Register modes in this process for one test, then remove them."""
    added = []

    def add(group, name, fn):
        register(group, name)(fn)
        added.append((group, name))

    yield add
    for group, name in added:
        registries()[group].unregister(name)


def test_ratio_check_fails_a_loss_with_another_gradient(in_process):
    def doubled_naive(log_probs, old_log_probs, deltas, config):
        terms = LOSSES["naive"](log_probs, None, deltas, config)
        return LossTerms(2 * terms.loss, terms.clip_low, terms.clip_high)

    in_process("losses", "doubled_naive", doubled_naive)
    with pytest.raises(AssertionError, match="loss 'doubled_naive' at theta = theta_old is not the naive gradient"):
        assert_ratio_gradient_equals_naive("doubled_naive")


def test_sorted_check_fails_a_reward_that_prefers_another_response(in_process):
    """Positions equal to the prompt sorted in descending order: the sorted response scores 1
    of 3 on each seed prompt (its middle token), the descending one 3."""
    in_process("rewards", "reverse_sorted", lambda prompts, responses: sort_distance(prompts, responses.flip(-1)))
    with pytest.raises(AssertionError, match="reward 'reverse_sorted' rates a response above the sorted one for prompts"
                                             r" \[\[1, 0, 2\], \[3, 2, 4\], \[1, 2, 3\]\]"):
        assert_sorted_response_rated_best("reverse_sorted")


def test_stacked_check_fails_a_deltas_mode_that_pools_seeds(in_process):
    in_process("deltas", "seed_centered", lambda rewards: rewards - rewards.mean(0, keepdim=True))  # across seeds
    with pytest.raises(AssertionError):
        assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode="seed_centered", epochs=3, steps_per_epoch=2))
    assert torch.equal(registries()["deltas"]["seed_centered"](torch.ones(1, 2, 3)), torch.zeros(1, 2, 3))
