"""Loss aggregation modes on hand-computed ragged batches."""

import pytest
import torch

from grpo.aggregation import LOSS_AGGREGATIONS

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
