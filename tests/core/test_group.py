"""Groups: configurations that differ only in numbers, trained as slices of one stacked model,
give each configuration the records of training it alone, bit for bit."""

from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from grpo import TrainConfig, register, train
from grpo.core.footprint import estimated_bytes, group_bytes
from grpo.core.group import ALIGN_SLICES, group_key
from grpo.core.train import train_group
from grpo.modes.losses import LOSSES, LossTerms, clip_bounds, trust_region

SHORT = dict(epochs=5, steps_per_epoch=3, deltas_mode="normalized_rewards")
SEEDS = [0, 1, 7]
TRANSFORMER = dict(epochs=3, steps_per_epoch=2, policy="transformer", task="variable", reward_fn="sort_distance",
                   task_heldout=8)


def assert_group_equals_alone(configs, seeds=SEEDS):
    for config, grouped in zip(configs, train_group(configs, seeds), strict=True):
        pd.testing.assert_frame_equal(grouped, train(config, seeds), check_exact=True)


@pytest.mark.parametrize("configs", [
    [TrainConfig(**SHORT, loss_mode="clipped", lr=lr, epsilon=epsilon, kl_penalty=kl, ref_period=2)
     for lr, epsilon, kl in [(1e-3, 0.01, 0.1), (3e-3, 0.2, 0.01), (1e-3, 0.05, 0.1), (1e-2, 0.01, 0.05)]],
    [TrainConfig(**SHORT, loss_mode="cispo", epsilon_low=low, epsilon_high=high, task="random")
     for low, high in [(1.0, 4.0), (0.2, 0.28), (0.2, 4.0)]],
    [TrainConfig(**SHORT, loss_mode="gspo", epsilon=epsilon, lr=lr) for epsilon, lr in [(0.01, 1e-3), (0.3, 3e-3)]],
    [TrainConfig(**SHORT, lr=lr) for lr in (1e-3, 3e-3)],  # naive: only Adam's rate differs
    [TrainConfig(**TRANSFORMER, loss_mode="clip_higher", epsilon_high=high, lr=lr, kl_penalty=0.1)
     for high, lr in [(0.28, 1e-3), (0.5, 3e-3)]],
    [TrainConfig(**SHORT, kl_penalty=kl, kl_placement="reward", kl_estimator="k1", ref_period=2, lr=lr)
     for kl, lr in [(0.1, 1e-3), (0.5, 3e-3), (0.1, 3e-3)]],
], ids=["clipped-lr-epsilon-kl", "cispo-both-bounds-random-task", "gspo", "naive-lr", "transformer-clip-higher-kl",
        "kl-in-reward"])
def test_a_group_equals_its_configurations_trained_alone(configs):
    assert_group_equals_alone(configs)


def test_a_seed_count_that_needs_padding_and_one_that_does_not():
    """Each configuration's block of slices is padded to a multiple of ALIGN_SLICES: 17 seeds take
    32 slices; 16 take 16."""
    configs = [TrainConfig(epochs=2, steps_per_epoch=2, loss_mode="clipped", epsilon=eps) for eps in (0.01, 0.1)]
    assert_group_equals_alone(configs, seeds=list(range(17)))
    assert_group_equals_alone(configs, seeds=list(range(ALIGN_SLICES)))


def test_a_diverging_configuration_leaves_the_others_untouched():
    configs = [TrainConfig(**SHORT, loss_mode="clipped", kl_penalty=0.1, lr=lr) for lr in (1e-3, 1e6, 3e-3)]
    grouped = train_group(configs, SEEDS)
    assert grouped[1].groupby("seed").diverged.any().all()  # every seed of the absurd rate
    assert not grouped[0].diverged.any() and not grouped[2].diverged.any()
    for config, records in zip(configs, grouped, strict=True):
        pd.testing.assert_frame_equal(records, train(config, SEEDS), check_exact=True)


def test_only_numbers_may_differ_within_a_group():
    base = TrainConfig(**SHORT, loss_mode="clipped", kl_penalty=0.1)
    for other in (TrainConfig(**SHORT, loss_mode="clipped", kl_penalty=0.0),  # no reference model: another program
                  TrainConfig(**SHORT, loss_mode="clipped", kl_penalty=0.1, ref_period=5),
                  TrainConfig(**SHORT, loss_mode="gspo", kl_penalty=0.1)):
        assert group_key(other) != group_key(base)
        with pytest.raises(ValueError, match="cannot train as one group"):
            train_group([base, other], SEEDS)
    assert group_key(TrainConfig(**SHORT, loss_mode="clipped", kl_penalty=0.01, lr=0.1, epsilon=0.3)) == group_key(base)


def scaled_clip(log_probs, old_log_probs, deltas, config, mask=None):
    """A plugin loss: the clipped loss with its bounds at half epsilon, from ``config.epsilon``."""
    ratio = torch.exp(log_probs - old_log_probs)
    return trust_region(ratio, deltas[..., None], config.epsilon / 2, config.epsilon / 2, mask, config, mask)


def float_clip(log_probs, old_log_probs, deltas, config, mask=None):
    """A plugin loss that needs ``config.epsilon`` to be a float (it formats it)."""
    epsilon = float(f"{config.epsilon:.6f}")
    ratio = torch.exp(log_probs - old_log_probs)
    return trust_region(ratio, deltas[..., None], epsilon, epsilon, mask, config, mask)


@pytest.fixture
def plugin_losses():
    scaled_clip.options = float_clip.options = {"epsilon": 0.01}
    scaled_clip.sliced = True  # reads config.epsilon so that a per-slice tensor works (through trust_region)
    register("losses")(scaled_clip)
    register("losses")(float_clip)
    yield
    LOSSES.unregister("scaled_clip")
    LOSSES.unregister("float_clip")


def test_a_plugin_loss_that_takes_slices_is_grouped_and_one_that_does_not_trains_alone(plugin_losses):
    sliced = [TrainConfig(**SHORT, loss_mode="scaled_clip", epsilon=eps, lr=lr) for eps, lr in [(0.02, 1e-3), (0.4, 3e-3)]]
    assert group_key(sliced[0]) == group_key(sliced[1])
    assert_group_equals_alone(sliced)
    floats = [TrainConfig(**SHORT, loss_mode="float_clip", epsilon=eps) for eps in (0.02, 0.4)]
    assert group_key(floats[0]) != group_key(floats[1])  # each trains in a program of its own, reading floats
    with pytest.raises(ValueError, match="cannot train as one group"):
        train_group(floats, SEEDS)
    assert not train(floats[0], SEEDS).diverged.any()


def test_per_slice_bounds_are_the_floats_bounds_bit_for_bit():
    """A float meets a float32 tensor rounded once, after Python's double arithmetic; a per-slice
    float64 tensor is rounded once too (grpo.modes.losses.per_slice): the same comparisons and
    clamps, on the bounds themselves and on their neighbours."""
    epsilons = [0.01, 0.2, 0.28, 1e-3, 3e-4, 1 / 3, 0.7]
    per_slice = torch.tensor(epsilons, dtype=torch.float64).view(-1, 1, 1, 1)
    lower, upper = clip_bounds(per_slice, per_slice, torch.zeros(len(epsilons), 1, 1, 1))
    for k, epsilon in enumerate(epsilons):
        at = torch.tensor([1 - epsilon, 1 + epsilon])
        ratio = torch.cat([at, at.nextafter(torch.tensor(0.0)), at.nextafter(torch.tensor(2.0)), torch.rand(100) + 0.5])
        assert torch.equal(ratio < 1 - epsilon, ratio < lower[k, 0, 0])
        assert torch.equal(ratio > 1 + epsilon, ratio > upper[k, 0, 0])
        assert torch.equal(ratio.clamp(1 - epsilon, 1 + epsilon), ratio.clamp(lower[k, 0, 0], upper[k, 0, 0]))


def test_the_footprint_of_a_group_counts_every_slice_padding_included():
    config = TrainConfig()
    task = config.make_task()
    assert group_bytes([config], task, 100) == estimated_bytes(config, task, 100)
    configs = [TrainConfig(lr=lr) for lr in (3e-4, 1e-3, 3e-3, 1e-2)]
    assert group_bytes(configs, task, 100) == estimated_bytes(config, task, 4 * 112) == 4 * 112 * estimated_bytes(config, task, 1)


def test_loss_terms_stay_per_slice_with_per_slice_numbers():
    """The clip fractions of a group's slices are each slice's own: epsilon 0.5 clips nothing that
    epsilon 0.01 leaves, slice by slice."""
    generator = torch.Generator().manual_seed(0)
    log_probs = 0.1 * torch.randn(2, 3, 4, 3, generator=generator)
    log_probs = torch.cat([log_probs, log_probs])  # [slice batch response pos]: the same tokens at two epsilons
    deltas = torch.randn(4, 3, 4, generator=generator)
    deltas = torch.cat([deltas[:2], deltas[:2]])
    epsilon = torch.tensor([0.01, 0.01, 0.5, 0.5], dtype=torch.float64).view(-1, 1, 1, 1)
    config = TrainConfig(loss_mode="clipped")
    grouped = LOSSES["clipped"](log_probs, torch.zeros_like(log_probs), deltas, SimpleNamespace(**{
        **config.as_dict(), "epsilon": epsilon}))
    for part, eps in ((slice(0, 2), 0.01), (slice(2, 4), 0.5)):
        alone: LossTerms = LOSSES["clipped"](log_probs[part], torch.zeros_like(log_probs[part]), deltas[part],
                                             TrainConfig(loss_mode="clipped", epsilon=eps))
        for ours, theirs in zip((grouped.loss, grouped.clip_low, grouped.clip_high), (alone.loss, alone.clip_low, alone.clip_high)):
            assert torch.equal(ours[part], theirs)
    assert (grouped.clip_low[:2] + grouped.clip_high[:2] > 0).all() and (grouped.clip_low[2:] + grouped.clip_high[2:] == 0).all()
