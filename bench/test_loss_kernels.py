"""Each loss mode and the KL penalty, forward and backward: grpo's per-seed losses vs the
seed's einops form, over the log-prob shapes of the size table."""

import pytest
import torch

from bench.baseline import compute_kl_penalty, compute_loss
from bench.kernels import LARGE, SIZES
from grpo.core.config import TrainConfig
from grpo.modes.losses import KL_ESTIMATORS, KL_REDUCTIONS, LOSSES

MODES = ["naive", "unclipped", "clipped", "kl"]  # the seed's modes: the ones the baseline has
CONFIG = TrainConfig(epsilon=0.01)  # built once: building a TrainConfig (its checks) takes longer than a seed-size loss


def inputs(size, device):
    batch, group, pos, _ = SIZES[size]
    generator = torch.Generator(device).manual_seed(0)
    log_probs = (-torch.rand(batch, group, pos, generator=generator, device=device) * 3).requires_grad_()
    old = log_probs.detach() - 0.05 * torch.randn(batch, group, pos, generator=generator, device=device)
    deltas = torch.randn(batch, group, generator=generator, device=device)
    return log_probs, old, deltas


def ours(mode, log_probs, old, deltas):
    if mode == "kl":
        return KL_REDUCTIONS["sum"](KL_ESTIMATORS["k3"](log_probs[None], old[None]))[0]
    return LOSSES[mode](log_probs[None], old[None], deltas[None], CONFIG).loss[0]


def baseline(mode, log_probs, old, deltas):
    if mode == "kl":
        return compute_kl_penalty(log_probs, old)
    return compute_loss(log_probs, deltas, mode, old, epsilon=0.01)


@pytest.mark.parametrize("impl", ["ours", "baseline"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", list(SIZES))
def test_loss_kernel(benchmark, device, synchronize, size, mode, impl):
    log_probs, old, deltas = inputs(size, device)
    loss_fn = ours if impl == "ours" else baseline

    def timed():
        log_probs.grad = None
        loss = loss_fn(mode, log_probs, old, deltas)
        loss.backward()
        synchronize()
        return loss.detach()

    value = benchmark.pedantic(timed, rounds=10 if size in LARGE else 50, iterations=1, warmup_rounds=1)
    other = (baseline if impl == "ours" else ours)(mode, log_probs, old, deltas).detach()
    benchmark.extra_info.update(suite="loss", size=size, impl=impl, mode=mode,
                                agrees=bool(torch.allclose(value, other, rtol=1e-5, atol=1e-7)))
    assert benchmark.extra_info["agrees"]
