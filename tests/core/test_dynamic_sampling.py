"""DAPO's dynamic sampling: which groups a batch keeps, on hand-made cases and on real rollouts."""

import pandas as pd
import pytest
import torch

from grpo import TrainConfig, train
from grpo.core.dynamic_sampling import chosen_groups, refill
from grpo.core.group import check_group
from grpo.core.policies import POLICIES
from grpo.core.train import train_group
from grpo.core.uniforms import SeedUniforms
from grpo.errors import FieldError
from grpo.testing import assert_stacked_seeds_equal_separate_runs


def test_chosen_groups_by_hand():
    """Batch of 3, two rounds (round-major: groups 0-2 then 3-5). Seed 0: two informative groups
    in round 1, the third from round 2. Seed 1: one informative group in two rounds, the cap: the
    batch is that group then round 1's first equal-reward groups. Seed 2: full after round 1."""
    informative = torch.tensor([[True, False, True, False, True, True],
                                [False, False, False, False, False, True],
                                [True, True, True, False, True, False]])
    choice, rounds = chosen_groups(informative, 3)
    assert choice.tolist() == [[0, 2, 4], [5, 0, 1], [0, 1, 2]]
    assert rounds.tolist() == [2.0, 2.0, 1.0]


FIELDS = {"seed": dict(reward_fn="sort_distance", task="random", task_length=3, task_vocab=3, task_prompts=6,
                       task_heldout=4, responses=4),
          "transformer": dict(policy="transformer", reward_fn="sort_distance", task="random", task_length=3, task_vocab=3,
                              task_prompts=6, task_heldout=4, responses=2, max_response_length=5)}


@pytest.mark.parametrize("policy", ["seed", "transformer"])
def test_refill_keeps_only_groups_with_unequal_rewards_and_fills_the_batch(policy):
    """A real first round with equal-reward groups: after refilling, every group of every seed
    has unequal rewards (no seed ran out of rounds here), its rewards are those of its responses
    to the prompt it is read with, and the log-probs kept are the policy's for those responses."""
    config = TrainConfig(**FIELDS[policy], dynamic_sampling=20, deltas_mode="centered_rewards", loss_mode="clipped")
    kind, task = POLICIES[policy], config.make_task()
    generators = [torch.Generator().manual_seed(seed) for seed in (0, 1, 2)]
    model = kind.init(config, task, generators)
    with torch.no_grad():
        first = kind.sample(model, config, task, SeedUniforms(generators), True)
        rewards = kind.rewards(config, task, first.responses)
        equal = (rewards == rewards[..., :1]).all(-1)  # [seed batch]
        assert equal.any() and not equal.all()  # the case needs both
        sample, kept, prompts, rounds = refill(kind, model, config, task, first, rewards, [0, 1, 2], 0, True)
        assert not (kept == kept[..., :1]).all(-1).any()  # only unequal-reward groups
        assert kept.shape == rewards.shape and (rounds > 1).all() and (rounds <= 21).all()
        if policy == "seed":  # each group's prompt: where its index points
            prompt_of = (sample.index[..., 0] // (task.length * task.vocab_size)) % len(task.prompts)  # [seed batch response]
            by_prompt = task.prompts[prompt_of[..., 0]]  # [seed batch pos]
        else:
            by_prompt = prompts
        reward_fn = kind.REWARDS[config.reward_fn]
        vocab = () if policy == "seed" else (task.vocab_size,)
        rescored = torch.cat([reward_fn(by_prompt[s], sample.responses[s:s + 1], *vocab) for s in range(3)])
        torch.testing.assert_close(kept, rescored, rtol=0, atol=0)
        real = torch.ones_like(sample.log_probs, dtype=torch.bool) if sample.mask is None else sample.mask.bool()  # drawn: 0 after EOS
        torch.testing.assert_close(sample.log_probs[real], kind.log_probs(model, prompts, sample)[0][real], rtol=1e-5, atol=1e-5)
        first_kept = (~equal).sum(1)  # the first round's informative groups lead each batch, in prompt order
        for s in range(3):
            torch.testing.assert_close(kept[s, :first_kept[s]], rewards[s][~equal[s]], rtol=0, atol=0)


@pytest.mark.parametrize("policy", ["seed", "transformer"])
def test_stacked_seeds_equal_separate_runs_with_dynamic_sampling(policy):
    extra = dict(kl_penalty=0.1, kl_placement="reward", kl_estimator="k1") if policy == "transformer" else dict(kl_penalty=0.1)
    config = TrainConfig(**FIELDS[policy], epochs=5, steps_per_epoch=2, dynamic_sampling=3, deltas_mode="centered_rewards",
                         loss_mode="clipped", **extra)
    assert_stacked_seeds_equal_separate_runs(config, seeds=[0, 1, 7])


def test_a_group_with_dynamic_sampling_equals_its_configurations_alone():
    configs = [TrainConfig(**FIELDS["seed"], epochs=4, steps_per_epoch=2, dynamic_sampling=2, deltas_mode="centered_rewards",
                           loss_mode="clipped", epsilon=epsilon, lr=lr) for epsilon, lr in [(0.01, 1e-3), (0.2, 3e-3)]]
    check_group(configs)
    for config, grouped in zip(configs, train_group(configs, [0, 3]), strict=True):
        pd.testing.assert_frame_equal(grouped, train(config, [0, 3]), check_exact=True)


def test_sampling_rounds_are_recorded_and_off_by_default():
    on = TrainConfig(**FIELDS["seed"], epochs=3, steps_per_epoch=2, dynamic_sampling=2, deltas_mode="centered_rewards")
    records = train(on, [0, 1])
    assert records.sampling_rounds.between(1, 3).all() and (records.sampling_rounds > 1).any()
    off = train(TrainConfig(**{**on.as_dict(), "dynamic_sampling": 0}), [0, 1])
    assert (off.sampling_rounds == 1).all()
    assert TrainConfig().config_id == "62392e162bd0"  # the default keeps the keys from before the option
    with pytest.raises(FieldError, match="dynamic_sampling -1: must be at least 0"):
        TrainConfig(dynamic_sampling=-1)
