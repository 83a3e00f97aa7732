"""The GRPO training loop of the seed document, for S seeds stacked in one model, and for a
group of configurations that differ only in numbers stacked as one model (grpo.core.group).

In shape comments, ``seed`` is the leading axis of the stacked model: one slice per seed, or
per (configuration, seed) in a group.

Per epoch: sample responses, reward them, turn rewards into deltas, freeze the old (and
reference) log-probs, then take the inner optimizer steps. Metrics stay on the device as
tensors during training and become one pandas DataFrame at the end (``train``, ``train_group``),
or its columns as numpy arrays (``train_group_columns``): `grpo train` without ``--out`` never
imports pandas, which with the pyarrow it imports costs a process about 0.5 s (bench/test_process.py).
"""

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from grpo.core.config import TrainConfig
from grpo.core.dynamic_sampling import refill
from grpo.core.group import block_size, check_group, loss_config
from grpo.core.optim import Adam
from grpo.core.policies import POLICIES, Sample, length_metrics
from grpo.core.schema import EPOCH_METRICS, EVAL_METRICS, NULLABLE_STEP_METRICS, STEP_METRICS
from grpo.core.uniforms import SeedUniforms
from grpo.modes.deltas import DELTAS, equal_reward_groups
from grpo.modes.losses import (
    KL_REDUCTIONS,
    KL_WITH_OLD_LOG_PROBS,
    LOSSES,
    WITHOUT_OLD_LOG_PROBS,
    estimate_kl,
    kl_in_loss,
    kl_in_reward,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rollout:
    """What the inner steps of one epoch train on: frozen when the responses were sampled."""

    prompts: torch.Tensor  # [batch pos]; [seed batch pos] where dynamic sampling regrouped the transformer's
    sample: Sample  # the responses, with what the policy reads their log-probs by (a flat index or a mask)
    deltas: torch.Tensor  # [seed batch response]
    old_log_probs: torch.Tensor | None  # [seed batch response pos] at sampling; None if the loss reads none
    ref_log_probs: torch.Tensor | None  # [seed batch response pos] under the reference; None without KL


@contextlib.contextmanager
def one_intra_op_thread():
    """One intra-op thread inside (a ``with`` block, or a function it decorates), then the
    caller's own count back: the one owner of this pin (training, the benchmarks, the tests).
    This trainer's kernels are tiny: splitting each across threads costs more than it gains.
    Measured on a shared 2-core machine (10 epochs, clipped, load average 3): 2 threads against 1
    took 5.6 s against 0.07 s at 20 seeds, 8.5 s against 0.95 s at 1000, 31 s against 10.5 s at 10,000."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(
    config: TrainConfig,
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int], None] | None = None,
) -> "pd.DataFrame":
    """Train `config` once per seed, all seeds stacked in one model.

    Returns the records: one row per seed and inner step with the columns of
    grpo.core.schema.COLUMNS (config_id, seed, epoch, step, metrics, diverged); the eval metrics
    are set on each epoch's last step, null elsewhere.
    A seed whose metrics turn NaN or infinite (say, from an absurd learning rate) is
    `diverged` from that step on; the seeds stacked with it are unaffected.
    `on_epoch(epoch)` is called after each epoch (progress display).
    """
    return train_group([config], seeds, device, on_epoch)[0]


def train_group(
    configs: Sequence[TrainConfig],
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int], None] | None = None,
) -> list["pd.DataFrame"]:
    """Train each of `configs` once per seed, all (configuration, seed) pairs stacked in one
    model as slices, configuration-major: a group that differs only in the numbers of
    grpo.core.group.SLICE_FIELDS (ValueError otherwise). Returns each configuration's records,
    equal to ``train(config, seeds)``'s (tests/core/test_group.py)."""
    import pandas as pd  # here, not at the top: see the module's docstring

    return [pd.DataFrame(columns) for columns in train_group_columns(configs, seeds, device, on_epoch)]


@one_intra_op_thread()
def train_group_columns(
    configs: Sequence[TrainConfig],
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int], None] | None = None,
) -> list[dict[str, np.ndarray]]:
    """``train_group``'s records, each configuration's as its columns (name -> numpy array)."""
    check_group(configs)
    device = torch.device(device)
    block = block_size(len(configs), len(seeds))  # slices a configuration: its seeds, then padding
    config = loss_config(configs, block, device)  # the shared fields; per-slice tensors where numbers differ
    task = configs[0].make_task().to(device)
    prompts = task.prompts  # [batch pos]
    evaluated = torch.cat([prompts, task.heldout])  # [batch+heldout pos]: one greedy pass an epoch
    padded = [*seeds, *[seeds[0]] * (block - len(seeds))]
    slice_seeds = [seed for _ in configs for seed in padded]
    generators = [torch.Generator(device).manual_seed(int(seed)) for seed in slice_seeds]  # one a slice
    kind = POLICIES[config.policy]
    policy = kind.init(config, task, generators)
    uniforms = SeedUniforms(generators)  # the samples' draws, after the initial weights'
    if len(configs) == 1:
        optimizer = Adam(policy.parameters(), lr=configs[0].lr)  # one fused kernel over the weights
    else:  # one kernel per learning rate, on each configuration's weights laid out as alone; the padding stays put
        optimizer = Adam(policy.parameters(), lr=[c.lr for c in configs], split=lambda tensors: [
            [policy.seed_slices(tensor, k * block, k * block + len(seeds)) for tensor in tensors] for k in range(len(configs))])
    deltas_fn = DELTAS.checked(config.deltas_mode)
    best = kind.best_reward(config, task)[:, None]  # [batch 1]
    with_kl = configs[0].kl_penalty > 0  # the same for the whole group
    reads_old = config.loss_mode not in WITHOUT_OLD_LOG_PROBS or (  # the rollout keeps its log-probs only if read
        with_kl and config.kl_estimator in KL_WITH_OLD_LOG_PROBS)

    num_seeds, steps = len(generators), config.steps_per_epoch
    step_metrics = torch.zeros(config.epochs, steps, len(STEP_METRICS), num_seeds, device=device)
    epoch_metrics = torch.zeros(config.epochs, len(EPOCH_METRICS), num_seeds, device=device)
    eval_metrics = torch.zeros(config.epochs, len(EVAL_METRICS), num_seeds, device=device)

    for epoch in range(config.epochs):
        # Reference model: a frozen copy, refreshed every ref_period epochs (KL on only)
        if with_kl and epoch % config.ref_period == 0:
            reference = policy.frozen_copy()

        # Rollout: responses sampled from the current policy
        with torch.no_grad():
            sample = kind.sample(policy, config, task, uniforms, reads_old)  # responses [seed batch response pos]

            # Rewards and deltas, once per rollout
            rewards = kind.rewards(config, task, sample.responses)  # [seed batch response]
            success = kind.success(task, sample.responses)  # [seed batch response]
            rollout_metrics = [  # of the policy's own sample: dynamic sampling's first round
                torch.stack([rewards.mean((1, 2)), (rewards / best).mean((1, 2)), success.float().mean((1, 2))]),
                length_metrics(sample, success, task.vocab_size),
                equal_reward_groups(rewards).float().mean(1)[None],
            ]
            rollout_prompts, rounds = prompts, torch.ones(num_seeds, device=device)  # [batch pos], [seed]
            if config.dynamic_sampling:  # DAPO: the equal-reward groups replaced from more rounds
                sample, rewards, rollout_prompts, rounds = refill(kind, policy, config, task, sample, rewards, slice_seeds,
                                                                  epoch, reads_old)
            epoch_metrics[epoch] = torch.cat([*rollout_metrics, rounds[None]])
            ref_log_probs = kind.log_probs(reference, rollout_prompts, sample)[0] if with_kl else None  # [seed batch response pos]
            if ref_log_probs is not None and config.kl_placement == "reward":  # the rollout policy's KL, in the rewards the deltas read
                rollout_log_probs = kind.log_probs(policy, rollout_prompts, sample)[0] if sample.log_probs is None else sample.log_probs
                kl_tokens = estimate_kl(config.kl_estimator, rollout_log_probs, ref_log_probs, rollout_log_probs)
                deltas = deltas_fn(kl_in_reward(rewards, kl_tokens, sample.mask, config.kl_penalty))  # [seed batch response]
            else:
                deltas = deltas_fn(rewards)  # [seed batch response]

            # Frozen log-probs: old (policy at rollout) and reference
            rollout = Rollout(
                rollout_prompts, sample, deltas,
                old_log_probs=sample.log_probs,
                ref_log_probs=ref_log_probs,
            )

        # Update: inner optimizer steps on this rollout
        for step in range(steps):
            step_metrics[epoch, step] = update_step(policy, optimizer, config, rollout)

        # Evaluation: greedy responses of the updated policy, to the training then the held-out prompts
        with torch.no_grad():
            correct = kind.greedy_correct(policy, config, task, evaluated).float()  # [seed batch+heldout]
            eval_metrics[epoch] = torch.stack([correct[:, :len(prompts)].mean(1), correct[:, len(prompts):].mean(1)])
        if on_epoch is not None:
            on_epoch(epoch)

    step_metrics, epoch_metrics, eval_metrics = (m.cpu().numpy() for m in (step_metrics, epoch_metrics, eval_metrics))
    per_config = [slice(k * block, k * block + len(seeds)) for k in range(len(configs))]  # the padding dropped
    return [_columns(c, seeds, step_metrics[..., part], epoch_metrics[..., part], eval_metrics[..., part])
            for c, part in zip(configs, per_config, strict=True)]


def update_step(policy: torch.nn.Module, optimizer: Adam, config, rollout: Rollout) -> torch.Tensor:
    """One inner optimizer step on a rollout: forward, log-probs, loss (+ KL), backward, Adam.
    Every term counts only the responses' real tokens (``rollout.sample.mask``). `config`: a
    TrainConfig, or a group's (grpo.core.group.loss_config).
    Returns the step's metrics [STEP_METRICS seed]."""
    mask = rollout.sample.mask  # [seed batch response pos], None: every token real
    log_probs, entropy = POLICIES[config.policy].log_probs(policy, rollout.prompts, rollout.sample)  # [... pos], [seed]
    masked = {} if mask is None else {"mask": mask}  # a loss written for equal lengths only never sees a mask
    terms = LOSSES.checked(config.loss_mode)(log_probs, rollout.old_log_probs, rollout.deltas, config, **masked)
    if rollout.ref_log_probs is None:
        kl, loss = torch.zeros_like(terms.loss), terms.loss  # [seed]: no penalty term in the graph
    else:
        kl_tokens = estimate_kl(config.kl_estimator, log_probs, rollout.ref_log_probs, rollout.old_log_probs)  # [seed batch response pos]
        kl = KL_REDUCTIONS["sum"](kl_tokens, mask, config)  # [seed] the KL of a whole response, whatever the reduction
        if config.kl_placement == "reward":  # in the rollout's rewards already: recorded here, no loss term
            loss = terms.loss
        else:
            penalty = kl if config.kl_reduction == "sum" else KL_REDUCTIONS[config.kl_reduction](kl_tokens, mask, config)
            loss = kl_in_loss(terms.loss, penalty, config.kl_penalty)  # [seed]
    optimizer.zero_grad()
    loss.sum().backward()  # seeds are independent: each gets its own gradient
    optimizer.step()
    with torch.no_grad():
        clip_frac = terms.clip_low + terms.clip_high
        low_prob = torch.full_like(loss, torch.nan) if terms.clip_high_low_prob is None else terms.clip_high_low_prob
        return torch.stack([loss, kl, clip_frac, terms.clip_low, terms.clip_high, low_prob, entropy])


def _columns(config: TrainConfig, seeds: Sequence[int], step_metrics, epoch_metrics, eval_metrics) -> dict[str, np.ndarray]:
    """Metric arrays -> the records' columns, one row per (seed, epoch, step), seed-major.
    step_metrics [epoch step metric seed], epoch_metrics / eval_metrics [epoch metric seed].
    Metrics stay float32, the precision they were computed in: at 1000 seeds a configuration
    has a million rows."""
    epochs, steps, _, num_seeds = step_metrics.shape
    rows = num_seeds * epochs * steps

    def per_row(values):  # [epoch step seed] -> [seed * epoch * step]
        return np.ascontiguousarray(values.transpose(2, 0, 1)).reshape(rows)

    def per_epoch(values):  # [epoch seed] -> broadcast over steps
        return per_row(np.broadcast_to(values[:, None, :], (epochs, steps, num_seeds)))

    last_step = np.zeros((epochs, steps, num_seeds), dtype=bool)
    last_step[:, -1] = True
    columns = {"config_id": np.full(rows, config.config_id)}
    columns["seed"] = np.repeat(np.asarray(seeds, dtype=np.int64), epochs * steps)
    columns["epoch"] = np.tile(np.repeat(np.arange(epochs), steps), num_seeds)
    columns["step"] = np.tile(np.arange(epochs * steps), num_seeds)
    for i, name in enumerate(STEP_METRICS):
        columns[name] = per_row(step_metrics[:, :, i])
    for i, name in enumerate(EPOCH_METRICS):
        columns[name] = per_epoch(epoch_metrics[:, i])
    for i, name in enumerate(EVAL_METRICS):
        columns[name] = np.where(per_row(last_step), per_epoch(eval_metrics[:, i]), np.float32(np.nan))
    checked = [i for i, name in enumerate(STEP_METRICS) if name not in NULLABLE_STEP_METRICS]
    broken = ~np.isfinite(step_metrics[:, :, checked]).all(2)  # [epoch step seed]
    columns["diverged"] = np.logical_or.accumulate(per_row(broken).reshape(num_seeds, -1), axis=1).reshape(rows)
    return columns
