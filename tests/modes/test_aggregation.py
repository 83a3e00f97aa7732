"""Loss aggregation modes on hand-computed ragged batches; every loss and the KL honour the mask."""

import pytest
import torch

from grpo import TrainConfig
from grpo.modes.aggregation import LOSS_AGGREGATIONS
from grpo.modes.losses import KL_REDUCTIONS, LOSSES

# one seed, one prompt, two responses over 3 positions: A has 3 real tokens, B has 1
VALUES = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]]]])  # [seed batch response pos]
MASK = torch.tensor([[[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]])
EXPECTED = {
    "token_mean": (1 + 2 + 3 + 4) / 4,  # every real token weighs the same
    "seq_mean_token_mean": ((1 + 2 + 3) / 3 + 4 / 1) / 2,  # every response weighs the same
    "seq_mean_token_sum_norm": ((1 + 2 + 3) / 3 + 4 / 3) / 2,  # token sums / the max length 3
}


@pytest.mark.parametrize("mode", list(LOSS_AGGREGATIONS))
def test_each_mode_on_a_ragged_batch(mode):
    torch.testing.assert_close(LOSS_AGGREGATIONS[mode](VALUES, MASK), torch.tensor([EXPECTED[mode]]))


@pytest.mark.parametrize("mode", list(LOSS_AGGREGATIONS))
def test_seeds_stay_separate_and_masked_values_never_count(mode):
    """Seed 1 holds seed 0's batch with other numbers after the mask: the same result, and
    stacking it beside another seed changes nothing."""
    other = VALUES.clone()
    other[..., 1, 1:] = -7.0
    stacked = LOSS_AGGREGATIONS[mode](torch.cat([VALUES, other, 2 * VALUES]), torch.cat([MASK, MASK, MASK]))
    torch.testing.assert_close(stacked, torch.tensor([EXPECTED[mode], EXPECTED[mode], 2 * EXPECTED[mode]]))


def test_with_equal_lengths_all_modes_are_the_plain_mean():
    """The seed document's policy: every response has every position."""
    values = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    for mode, aggregate in LOSS_AGGREGATIONS.items():
        torch.testing.assert_close(aggregate(values, torch.ones_like(values)), values.mean((1, 2, 3)), msg=mode)
        assert torch.equal(aggregate(values, None), values.mean((1, 2, 3))), mode


def test_gradients_weigh_tokens_as_each_mode_says():
    values = VALUES.clone().requires_grad_()
    weights = {}
    for mode, aggregate in LOSS_AGGREGATIONS.items():
        (grad,) = torch.autograd.grad(aggregate(values, MASK).sum(), values)
        weights[mode] = grad[0, 0]
    torch.testing.assert_close(weights["token_mean"], torch.tensor([[0.25, 0.25, 0.25], [0.25, 0, 0]]))
    torch.testing.assert_close(weights["seq_mean_token_mean"], torch.tensor([[1 / 6, 1 / 6, 1 / 6], [0.5, 0, 0]]))
    torch.testing.assert_close(weights["seq_mean_token_sum_norm"], torch.tensor([[1 / 6, 1 / 6, 1 / 6], [1 / 6, 0, 0]]))


# Every loss and the KL honour the mask
def ragged_inputs(seed=0):
    generator = torch.Generator().manual_seed(seed)
    log_probs = -torch.rand(2, 3, 4, 5, generator=generator) * 2
    old = log_probs + 0.3 * torch.randn(log_probs.shape, generator=generator)
    deltas = torch.randn(2, 3, 4, generator=generator)
    lengths = torch.randint(1, 6, (2, 3, 4), generator=generator)
    mask = (torch.arange(5) < lengths[..., None]).float()
    return log_probs, old, deltas, mask


def config_for(loss_agg, loss_mode="naive"):
    return TrainConfig(policy="transformer", loss_agg=loss_agg, loss_mode=loss_mode)


@pytest.mark.parametrize("loss_mode, loss_agg", [  # a loss that aggregates its own terms: under the default only
    (loss_mode, loss_agg) for loss_mode in LOSSES for loss_agg in LOSS_AGGREGATIONS
    if LOSSES.fact(loss_mode, "reads_loss_agg") or loss_agg == TrainConfig.loss_agg])
def test_nothing_after_eos_changes_a_loss_or_its_gradient(loss_mode, loss_agg):
    log_probs, old, deltas, mask = ragged_inputs()
    noise = torch.randn(log_probs.shape, generator=torch.Generator().manual_seed(5))
    config = config_for(loss_agg, loss_mode)
    results = []
    for shift in (0.0, 1.0):
        lp = (log_probs + shift * noise * (1 - mask)).requires_grad_()  # other numbers after EOS only
        terms = LOSSES[loss_mode](lp, old + shift * noise * (1 - mask), deltas, config, mask=mask)
        (grad,) = torch.autograd.grad(terms.loss.sum(), lp)
        results.append((terms.loss, terms.clip_low, terms.clip_high, grad * mask))
        assert (grad * (1 - mask) == 0).all()
    for before, after in zip(*results):
        torch.testing.assert_close(before, after)


@pytest.mark.parametrize("loss_mode", list(LOSSES))
def test_with_equal_lengths_every_aggregation_gives_the_seed_policys_loss(loss_mode):
    """On the seed document's policy (no mask) every loss_agg is the plain mean; an all-ones mask
    gives the same loss under each mode."""
    log_probs, old, deltas, _ = ragged_inputs(1)
    ones = torch.ones_like(log_probs)
    unmasked = LOSSES[loss_mode](log_probs, old, deltas, TrainConfig(loss_mode=loss_mode))
    for loss_agg in LOSS_AGGREGATIONS if LOSSES.fact(loss_mode, "reads_loss_agg") else [TrainConfig.loss_agg]:
        masked = LOSSES[loss_mode](log_probs, old, deltas, config_for(loss_agg, loss_mode), mask=ones)
        torch.testing.assert_close(masked.loss, unmasked.loss, msg=loss_agg)
        torch.testing.assert_close(masked.clip_low + masked.clip_high, unmasked.clip_low + unmasked.clip_high)


def test_gspo_sequence_ratio_averages_over_real_tokens_only():
    log_probs = torch.tensor([[[[-1.0, -1.0, -1.0]]]])
    old = torch.tensor([[[[-1.2, -1.4, 5.0]]]])  # log-ratios 0.2, 0.4, then junk after EOS
    mask = torch.tensor([[[[1.0, 1.0, 0.0]]]])
    config = TrainConfig(policy="transformer", loss_mode="gspo", epsilon=0.5, loss_agg="seq_mean_token_mean")
    terms = LOSSES["gspo"](log_probs, old, torch.tensor([[[1.0]]]), config, mask=mask)
    torch.testing.assert_close(terms.loss, -torch.exp(torch.tensor([0.3])))  # exp(mean(0.2, 0.4)), inside the clip


def test_kl_reductions_count_real_tokens():
    kl_tokens = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 50.0, 60.0]]]])  # [seed batch response pos]
    mask = torch.tensor([[[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]])
    assert KL_REDUCTIONS["sum"](kl_tokens, mask, None).tolist() == [(6 + 4) / 2]  # per response, then the mean
    for loss_agg, aggregate in LOSS_AGGREGATIONS.items():  # "mean" follows the loss's aggregation (TRL, verl)
        torch.testing.assert_close(KL_REDUCTIONS["mean"](kl_tokens, mask, config_for(loss_agg)), aggregate(kl_tokens, mask))
