"""SeedUniforms hands out each seed's draws as per-rollout calls of torch.rand would."""

import pytest
import torch

from grpo.core.uniforms import ROLLOUTS_AHEAD, SeedUniforms

SHAPE = (3, 10, 3)  # batch response pos, the seed task's rollout


def test_blocks_equal_one_rand_call_per_rollout():
    """Past a refill too: the numbers of the seed's generator, in order, whatever the stack."""
    rollouts = ROLLOUTS_AHEAD + 3
    uniforms = SeedUniforms([torch.Generator().manual_seed(seed) for seed in (4, 5)])
    blocks = torch.stack([uniforms.next(*SHAPE) for _ in range(rollouts)], 1)  # [seed rollout *SHAPE]
    for i, seed in enumerate((4, 5)):
        g = torch.Generator().manual_seed(seed)
        one_by_one = torch.stack([torch.rand(*SHAPE, generator=g) for _ in range(rollouts)])
        assert torch.equal(blocks[i], one_by_one)


def test_the_generators_draws_continue_after_what_they_drew_before():
    g = torch.Generator().manual_seed(1)
    first = torch.rand(7, generator=g)
    uniforms = SeedUniforms([g])
    block = uniforms.next(*SHAPE)[0]
    again = torch.Generator().manual_seed(1)
    assert torch.equal(torch.rand(7, generator=again), first)
    assert torch.equal(block, torch.rand(*SHAPE, generator=again))


def test_a_second_shape_is_refused():
    uniforms = SeedUniforms([torch.Generator().manual_seed(0)])
    uniforms.next(*SHAPE)
    with pytest.raises(ValueError, match=r"\(3, 10, 4\)"):
        uniforms.next(3, 10, 4)
