"""The checks every built-in mode passes, for plugin authors to run on their own modes.

Call them from your tests (pytest or any runner); each raises AssertionError saying what
differed, and takes the mode by its registered name, so it also checks the registration::

    from grpo import TrainConfig
    from grpo.testing import assert_stacked_seeds_equal_separate_runs

    def test_my_deltas_keeps_seeds_apart():
        assert_stacked_seeds_equal_separate_runs(TrainConfig(deltas_mode="my_deltas", epochs=4))

The project's own tests run the same functions on the built-ins.
"""

from collections.abc import Sequence
from itertools import product

import pandas as pd
import torch

from grpo.core.config import TrainConfig
from grpo.core.seed_model import StackedSeedModel, gather_log_probs, sample, token_index
from grpo.core.train import train
from grpo.core.uniforms import SeedUniforms
from grpo.modes.losses import LOSSES
from grpo.modes.rewards import REWARDS, best_reward
from grpo.tasks.prompts import Task, seed_task

STACKED_TOLERANCE = dict(rtol=1e-4, atol=1e-6)  # float32 sums in another order: stacked vs separate runs


def assert_stacked_seeds_equal_separate_runs(config: TrainConfig, seeds: Sequence[int] = (0, 1, 7)) -> None:
    """Training `seeds` stacked in one model gives the records of one run per seed: the mode
    reads nothing across the leading seed axis (a reward or deltas mode that pooled seeds, or a
    loss that averaged over them, would fail)."""
    stacked = train(config, list(seeds))
    separate = pd.concat([train(config, [seed]) for seed in seeds], ignore_index=True)
    pd.testing.assert_frame_equal(stacked, separate, **STACKED_TOLERANCE)


def rollout(seeds: int = 3, responses: int = 6):
    """A stacked policy, its sampled responses to the seed task and random deltas:
    (policy, prompts [batch pos], index [seed batch response pos], deltas [seed batch response])."""
    task = seed_task()
    generators = [torch.Generator().manual_seed(seed) for seed in range(seeds)]
    policy = StackedSeedModel.init(generators, task.vocab_size, task.length, dim=TrainConfig().dim)
    with torch.no_grad():
        drawn = sample(policy(task.prompts).log_softmax(-1), responses, SeedUniforms(generators))
    deltas = torch.randn(drawn.shape[:3], generator=torch.Generator().manual_seed(9))
    return policy, task.prompts, token_index(drawn, task.vocab_size), deltas


def loss_gradient(policy, prompts, index, deltas, loss_mode: str, old_log_probs=None, config=None) -> torch.Tensor:
    """The gradient of the summed per-seed loss over every parameter, flattened."""
    policy.zero_grad()
    log_probs = gather_log_probs(policy(prompts).log_softmax(-1), index)  # [seed batch response pos]
    LOSSES[loss_mode](log_probs, old_log_probs, deltas, config or TrainConfig(loss_mode=loss_mode)).loss.sum().backward()
    return torch.cat([parameter.grad.flatten() for parameter in policy.parameters()])


def assert_ratio_gradient_equals_naive(loss_mode: str, config: TrainConfig | None = None) -> None:
    """At theta = theta_old the probability ratio r = exp(log pi - log pi_old) is 1 and
    grad r = grad log pi, so a ratio loss has the naive (REINFORCE) gradient there, whatever
    its clipping (the seed document's ``log_probs / old_log_probs`` fails this: it flips the
    sign). Holds for losses that average over positions as ``naive`` does."""
    policy, prompts, index, deltas = rollout()
    with torch.no_grad():
        old_log_probs = gather_log_probs(policy(prompts).log_softmax(-1), index)
    naive = loss_gradient(policy, prompts, index, deltas, "naive")
    ratio = loss_gradient(policy, prompts, index, deltas, loss_mode, old_log_probs, config)
    assert naive.abs().max() > 1e-3, "the naive gradient vanished: nothing to compare"
    torch.testing.assert_close(ratio, naive, rtol=1e-5, atol=1e-7,
                               msg=lambda detail: f"loss {loss_mode!r} at theta = theta_old is not the naive gradient: {detail}")


def every_response(task: Task) -> torch.Tensor:
    """Every response of the task's length and vocabulary, for each prompt: [1 batch response pos]."""
    responses = torch.tensor(list(product(range(task.vocab_size), repeat=task.length)))  # [response pos]
    return responses[None, None].expand(1, len(task.prompts), -1, -1)


def assert_sorted_response_rated_best(reward_fn: str, task: Task | None = None) -> None:
    """Brute force over every response to every prompt of `task` (the seed task by default):
    none has a higher reward than the sorted prompt, which ``reward_frac`` divides by. Ties
    are allowed (a coarse reward may rate another response as high)."""
    task = task or seed_task()
    rewards = REWARDS[reward_fn](task.prompts, every_response(task))[0]  # [batch response]
    best = best_reward(reward_fn, task.prompts)  # [batch]
    beaten = rewards.max(-1).values > best
    assert not beaten.any(), (f"reward {reward_fn!r} rates a response above the sorted one for prompts"
                              f" {task.prompts[beaten].tolist()}")
