"""The GRPO training loop of the seed document, for S seeds stacked in one model, and for a
group of configurations that differ only in numbers stacked as one model (grpo.core.group).

In shape comments, ``seed`` is the leading axis of the stacked model: one slice per seed, or
per (configuration, seed) in a group.

Per epoch, one function a step (``train_group_columns`` calls them in order): sample responses
and reward them, freeze the old (and reference) log-probs, turn rewards into deltas, take the
inner optimizer steps, evaluate. Metrics stay on the device as tensors during training
(``Metrics``) and become one pandas DataFrame at the end (``train``, ``train_group``), or its
columns as numpy arrays (``train_group_columns``): `grpo train` without ``--out`` never imports
pandas, which with the pyarrow it imports costs a process about 0.5 s (bench/test_process.py).
"""

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from grpo.core.config import TrainConfig
from grpo.core.dynamic_sampling import refill
from grpo.core.group import block_size, check_group, loss_config
from grpo.core.optim import Adam
from grpo.core.policies import POLICIES, Policy, Sample, length_metrics, overlong_punishment
from grpo.core.rollout_correction import ROLLOUT_DTYPES, corrected, off_policy_mask, rollout_weights, sampler_kl, weighted_deltas
from grpo.core.sampling import PLAIN
from grpo.core.schema import (
    CORRECTION_METRICS,
    COUNT_METRICS,
    EPOCH_METRICS,
    EVAL_METRICS,
    NULLABLE_STEP_METRICS,
    START_METRICS,
    STEP_METRICS,
)
from grpo.core.trl_metrics import grad_norms, rollout_tokens, trl_rollout_metrics
from grpo.core.uniforms import SeedUniforms
from grpo.core.warm_start import BaseSource, load_bases, train_bases
from grpo.modes.aggregation import token_mean
from grpo.modes.deltas import DELTAS, deltas_function, equal_reward_groups
from grpo.modes.losses import (
    KL_CONTROLLERS,
    KL_REDUCTIONS,
    LOSSES,
    aggregate,
    estimate_kl,
    high_entropy_tokens,
    kl_coefficients,
    kl_in_loss,
    kl_in_reward,
    reads_old_log_probs,
)
from grpo.tasks.prompts import Task, stream_generators
from grpo.tasks.sequences import ended

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rollout:
    """What the inner steps of one epoch train on: frozen when the responses were sampled."""

    prompts: torch.Tensor  # [batch pos]; [seed batch pos] where dynamic sampling regrouped the transformer's
    sample: Sample  # the responses, with what the policy reads their log-probs by (a flat index or a mask)
    deltas: torch.Tensor  # [seed batch response], or one a token [seed batch response pos] (token-level deltas or weights)
    old_log_probs: torch.Tensor | None  # [seed batch response pos] at sampling; None if the loss reads none
    ref_log_probs: torch.Tensor | None  # [seed batch response pos] under the reference; None without KL
    sampler_log_probs: torch.Tensor | None = None  # [seed batch response pos] as drawn; off_policy_mask_threshold only


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
    bases: BaseSource | None = None,
) -> "pd.DataFrame":
    """Train `config` once per seed, all seeds stacked in one model.

    Returns the records (``records_frame``): one row per seed and inner step with the columns of
    grpo.core.schema.COLUMNS (config_id, seed, epoch, step, metrics, diverged), then the
    configuration's fields, the columns `grpo train --out` writes; the eval metrics are set on each
    epoch's last step, null elsewhere.
    A seed whose metrics turn NaN or infinite (say, from an absurd learning rate) is
    `diverged` from that step on; the seeds stacked with it are unaffected.
    `on_epoch(epoch)` is called after each epoch (progress display). `bases`: where a warm
    start's base policies come from (a results folder's store, grpo.experiment.bases); None:
    trained here (grpo.core.warm_start.train_bases).
    """
    return train_group([config], seeds, device, on_epoch, bases)[0]


def train_group(
    configs: Sequence[TrainConfig],
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int], None] | None = None,
    bases: BaseSource | None = None,
) -> list["pd.DataFrame"]:
    """Train each of `configs` once per seed, all (configuration, seed) pairs stacked in one
    model as slices, configuration-major: a group that differs only in the numbers of
    grpo.core.group.SLICE_FIELDS (ValueError otherwise). Returns each configuration's records,
    equal to ``train(config, seeds)``'s (tests/core/test_group.py)."""
    return [records_frame(config, columns)
            for config, columns in zip(configs, train_group_columns(configs, seeds, device, on_epoch, bases), strict=True)]


def records_frame(config: TrainConfig, columns: dict[str, np.ndarray]) -> "pd.DataFrame":
    """One configuration's records as ``train`` returns them and `grpo train --out` writes them
    (grpo.experiment.results.write_records): `columns` (``train_group_columns``'s, grpo.core.schema.COLUMNS),
    then each of the configuration's fields (grpo.core.config.CONFIG_FIELDS) as a constant column
    of its type (str, int64, float64), in the order and types a records file reads back with
    (tests/cli/test_train_command.py)."""
    import pandas as pd  # here, not at the top: see the module's docstring

    return pd.DataFrame(columns).assign(**config.as_dict())


@one_intra_op_thread()
def train_group_columns(
    configs: Sequence[TrainConfig],
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int], None] | None = None,
    bases: BaseSource | None = None,
) -> list[dict[str, np.ndarray]]:
    """``train_group``'s records, each configuration's as its columns (name -> numpy array).
    Each epoch's steps in the algorithm's order: the reference model, the rollout (sampled and
    rewarded), its frozen log-probs, its deltas, the rollout the inner steps train on, the
    update, the evaluation."""
    check_group(configs)
    run = stacked_run(configs, seeds, torch.device(device), bases)
    metrics = Metrics.zeros(run.config, run.num_seeds, run.device)
    kl_coef = kl_coefficients(run.config.kl_penalty if run.with_kl else 0.0, run.num_seeds, run.device)  # [seed 1 1 1]
    with torch.no_grad():  # the policy before any RL step: the base of a warm start, else the init
        start_metrics = heldout_eval(run.kind, run.policy, run.config, run.task, run.evaluation, with_entropy=True)
    reference = None  # the frozen reference model (KL on only)
    for epoch in range(run.config.epochs):
        reference = epoch_reference(run, reference, epoch)
        with torch.no_grad():
            sampled = sample_rollout(run, epoch, metrics)
            ref_log_probs, old_log_probs, weights = frozen_log_probs(run, reference, sampled, epoch, metrics)
            deltas, kl_coef = rollout_deltas(run, sampled, ref_log_probs, old_log_probs, weights, kl_coef, epoch, metrics)
            rollout = training_rollout(run, sampled, deltas, old_log_probs, ref_log_probs, epoch, metrics)
        reference = update(run, rollout, reference, epoch, metrics.step)
        evaluate(run.kind, run.policy, run.config, run.task, run.evaluation, sampled.task, epoch, metrics.eval)
        if on_epoch is not None:
            on_epoch(epoch)
    per_config = [slice(k * run.block, k * run.block + len(seeds)) for k in range(len(configs))]  # the padding dropped
    return [_columns(c, seeds, *metrics.numpy(part), _numpy(start_metrics, part))
            for c, part in zip(configs, per_config, strict=True)]


@dataclass(frozen=True)
class StackedRun:
    """What every epoch of a group's loop reads (``stacked_run``): the stacked model, one slice
    per (configuration, seed), its optimizer and generators, and what its rollouts must keep."""

    config: Any  # the group's shared fields; per-slice tensors where numbers differ (grpo.core.group.loss_config)
    block: int  # slices a configuration takes: its seeds, then padding (grpo.core.group.block_size)
    task: Task
    kind: type[Policy]
    policy: Any  # the stacked model
    optimizer: Adam
    slice_seeds: list[int]  # each slice's seed [seed]
    uniforms: SeedUniforms  # the rollouts' draws, after the initial weights'
    drawing: list[torch.Generator] | None  # a stream's prompts, one generator a slice; None: a fixed prompt set
    evaluation: SeedUniforms  # the held-out samples' draws: apart from training's
    deltas_fn: Callable[..., torch.Tensor]  # the deltas mode, as the trainer calls it (grpo.modes.deltas.deltas_function)
    deltas_reads: tuple[str, ...]  # what the deltas mode reads of the rollout beyond its rewards
    with_kl: bool  # a reference model and its KL (the same for the whole group)
    reads_old: bool  # a step reads the rollout's log-probs: they are kept
    mismatch: bool  # a sampler apart from the learner (rollout_dtype)
    weighs: bool  # the rollout's terms corrected (grpo.core.rollout_correction.corrected): the learner's log-probs read
    draws: bool  # the sampler's log-probs of its responses kept as drawn
    device: torch.device

    @property
    def num_seeds(self) -> int:
        return len(self.slice_seeds)


def stacked_run(configs: Sequence[TrainConfig], seeds: Sequence[int], device: torch.device,
                bases: BaseSource | None) -> StackedRun:
    """A group's stacked model at its start (each slice from its seed's base policy where the
    configurations warm-start) with its optimizer, generators and what its rollouts must keep."""
    block = block_size(len(configs), len(seeds))  # slices a configuration: its seeds, then padding
    config = loss_config(configs, block, device)  # the shared fields; per-slice tensors where numbers differ
    task = configs[0].make_task().to(device)
    padded = [*seeds, *[seeds[0]] * (block - len(seeds))]
    slice_seeds = [seed for _ in configs for seed in padded]
    generators = [torch.Generator(device).manual_seed(int(seed)) for seed in slice_seeds]  # one a slice
    kind = POLICIES[config.policy]
    policy = kind.init(config, task, generators)
    if configs[0].warm_start_steps:  # each slice starts from its seed's base policy
        load_bases(policy, (bases or train_bases)(configs[0], sorted(set(slice_seeds))), slice_seeds)
    if len(configs) == 1:
        optimizer = Adam(policy.parameters(), lr=configs[0].lr)  # one fused kernel over the weights
    else:  # one kernel per learning rate, on each configuration's weights laid out as alone; the padding stays put
        optimizer = Adam(policy.parameters(), lr=[c.lr for c in configs], split=lambda tensors: [
            [policy.seed_slices(tensor, k * block, k * block + len(seeds)) for tensor in tensors] for k in range(len(configs))])
    with_kl = configs[0].kl_penalty > 0  # the same for the whole group
    reads_old = reads_old_log_probs(config.loss_mode, config.kl_estimator if with_kl else None)  # kept only if read
    mismatch, weighs = config.rollout_dtype != "float32", corrected(config)  # a sampler apart; learner log-probs read
    deltas_reads = DELTAS.fact(config.deltas_mode, "reads_rollout")
    return StackedRun(
        config, block, task, kind, policy, optimizer, slice_seeds,
        uniforms=SeedUniforms(generators),
        drawing=stream_generators(slice_seeds, "rollouts", device) if task.stream else None,
        evaluation=SeedUniforms(evaluation_generators(slice_seeds, device)),
        deltas_fn=deltas_function(config.deltas_mode), deltas_reads=deltas_reads, with_kl=with_kl, reads_old=reads_old,
        mismatch=mismatch, weighs=weighs,
        draws=reads_old or mismatch or weighs or bool(config.off_policy_mask_threshold) or "old_log_probs" in deltas_reads,
        device=device)


@dataclass
class Metrics:
    """The records' metrics as the loop fills them, on the device: each step's {STEP_METRICS name:
    [epoch step seed]}, each epoch's {EPOCH_METRICS name: [epoch seed]} (counts in float64: exact)
    and {EVAL_METRICS name: [epoch seed]} (NaN where not evaluated); the running totals of the
    responses sampled and of the prompt and response tokens [seed]."""

    step: dict[str, torch.Tensor]
    epoch: dict[str, torch.Tensor]
    eval: dict[str, torch.Tensor]
    samples: torch.Tensor
    tokens: torch.Tensor

    @classmethod
    def zeros(cls, config, num_seeds: int, device: torch.device) -> "Metrics":
        return cls(
            step={name: torch.zeros(config.epochs, config.steps_per_epoch, num_seeds, device=device) for name in STEP_METRICS},
            epoch={name: torch.zeros(config.epochs, num_seeds, device=device,
                                     dtype=torch.float64 if name in COUNT_METRICS else torch.float32) for name in EPOCH_METRICS},
            eval={name: torch.full((config.epochs, num_seeds), torch.nan, device=device) for name in EVAL_METRICS},
            samples=torch.zeros(num_seeds, dtype=torch.float64, device=device),
            tokens=torch.zeros(num_seeds, dtype=torch.float64, device=device))

    def record(self, epoch: int, values: dict[str, torch.Tensor]) -> None:
        """An epoch's values {EPOCH_METRICS name: [seed]}."""
        for name, value in values.items():
            self.epoch[name][epoch] = value

    def numpy(self, part: slice) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The step, epoch and eval metrics of the slices `part`, as numpy arrays."""
        return _numpy(self.step, part), _numpy(self.epoch, part), _numpy(self.eval, part)


def _numpy(metrics: dict[str, torch.Tensor], part: slice) -> dict[str, np.ndarray]:
    return {name: values[..., part].cpu().numpy() for name, values in metrics.items()}


def epoch_reference(run: StackedRun, reference: Any, epoch: int) -> Any:
    """The reference model at an epoch's start (KL on only; None without): a frozen copy of the
    policy at the first, updated every ref_period epochs (update_reference) unless
    ref_model_sync_steps updates it between steps (``update``)."""
    if run.with_kl and epoch == 0:
        return run.policy.frozen_copy()
    if run.with_kl and not run.config.ref_model_sync_steps and epoch % run.config.ref_period == 0:
        return update_reference(reference, run.policy, run.config.ref_model_mixup_alpha)
    return reference


@dataclass(frozen=True)
class Sampled:
    """An epoch's rollout as sampled and rewarded (``sample_rollout``)."""

    task: Task  # the task, or this rollout's draw of its stream (prompts [seed batch pos])
    prompts: torch.Tensor  # what the policy reads the sample by: [batch pos], or [seed batch pos] (a stream, regrouped)
    sample: Sample  # the responses [seed batch response pos]
    rewards: torch.Tensor  # [seed batch response]
    sampler: Any  # the policy, or its lower-precision copy (rollout_dtype)


def sample_rollout(run: StackedRun, epoch: int, metrics: Metrics) -> Sampled:
    """Rollout: responses sampled from the current policy (or its lower-precision copy), to the
    task's prompts or a fresh draw of its stream, and their rewards; with dynamic_sampling (DAPO)
    the equal-reward groups replaced from more rounds. Records the policy's own sample's metrics
    (``rollout_records``: dynamic sampling's first round) and the running totals."""
    config, kind = run.config, run.kind
    sampler = ROLLOUT_DTYPES[config.rollout_dtype](run.policy)  # the policy, or its lower-precision copy
    rollout_task = run.task if run.drawing is None else run.task.drawn(run.drawing)  # prompts [batch pos] or [seed batch pos]
    sample = kind.sample(sampler, config, rollout_task, run.uniforms, run.draws)  # responses [seed batch response pos]
    rewards = kind.rewards(config, rollout_task, sample.responses)  # [seed batch response]
    metrics.record(epoch, rollout_records(run, rollout_task, sample, rewards))
    prompts, rounds = rollout_task.prompts, torch.ones(run.num_seeds, device=run.device)  # [(seed) batch pos], [seed]
    if config.dynamic_sampling:  # DAPO: the equal-reward groups replaced from more rounds
        sample, rewards, prompts, rounds = refill(kind, sampler, config, rollout_task, sample, rewards,
                                                  run.slice_seeds, epoch, run.draws)
    metrics.samples += rounds * (rollout_task.batch * config.responses)
    metrics.tokens += rollout_tokens(sample, rollout_task.prompts, run.task.vocab_size)  # TRL's num_tokens: the policy's own sample
    metrics.record(epoch, {"sampling_rounds": rounds, "samples": metrics.samples, "num_tokens": metrics.tokens})
    return Sampled(rollout_task, prompts, sample, rewards, sampler)


def rollout_records(run: StackedRun, rollout_task: Task, sample: Sample, rewards: torch.Tensor) -> dict[str, torch.Tensor]:
    """The metrics of a rollout's responses `sample` and their `rewards` [seed batch response]:
    {EPOCH_METRICS name: [seed]}, overlong_punishment NaN where it is off."""
    config, kind, vocab = run.config, run.kind, run.task.vocab_size
    success = kind.success(rollout_task, sample.responses)  # [seed batch response]
    best = kind.best_reward(config, rollout_task)[..., None]  # [batch 1] or [seed batch 1]
    pass_rate = success.float().mean(2)  # [seed batch]
    return {
        "mean_reward": rewards.mean((1, 2)), "reward_frac": (rewards / best).mean((1, 2)),
        "sorted_frac": success.float().mean((1, 2)),
        **length_metrics(sample, success, vocab),
        "equal_reward_frac": equal_reward_groups(rewards).float().mean(1),
        "mixed_pass_frac": ((pass_rate > 0) & (pass_rate < 1)).float().mean(1),
        **trl_rollout_metrics(sample, rewards, vocab),
        "overlong_punishment": (overlong_punishment(config, sample.responses, vocab).mean((1, 2))
                                if config.overlong_cache_length else torch.full((run.num_seeds,), torch.nan, device=run.device)),
    }


def frozen_log_probs(run: StackedRun, reference: Any, sampled: Sampled, epoch: int,
                     metrics: Metrics) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Frozen log-probs of the rollout [seed batch response pos]: (the reference's, None without
    KL; the old ones, the policy's at rollout: the learner's own (float32) where corrected, else as
    drawn, None if not drawn; the corrections' weights, None without a correction). The sampler
    apart from the learner: records the corrections' metrics (``correction``)."""
    kind, sample = run.kind, sampled.sample
    ref_log_probs = kind.log_probs(reference, sampled.prompts, sample)[0] if run.with_kl else None
    learner_log_probs = kind.log_probs(run.policy, sampled.prompts, sample)[0] if run.mismatch or run.weighs else None
    weights, correction_metrics = correction(run.config, learner_log_probs, sample, run.num_seeds, run.device)
    metrics.record(epoch, correction_metrics)
    old_log_probs = learner_log_probs if run.weighs else sample.log_probs  # decoupled where corrected, else as drawn
    return ref_log_probs, old_log_probs, weights


def rollout_deltas(run: StackedRun, sampled: Sampled, ref_log_probs: torch.Tensor | None,
                   old_log_probs: torch.Tensor | None, weights: torch.Tensor | None, kl_coef: torch.Tensor,
                   epoch: int, metrics: Metrics) -> tuple[torch.Tensor, torch.Tensor]:
    """Deltas, once per rollout [seed batch response] (token-level: [... pos]): of the rewards,
    less the rollout policy's KL where it goes in the reward (kl_placement reward, its
    coefficient `kl_coef` [seed 1 1 1] recorded and then moved by kl_ctrl), the corrections'
    `weights` folded in. Returns (deltas, the next rollout's kl_coef)."""
    config, sample = run.config, sampled.sample
    metrics.record(epoch, {"kl_coef": kl_coef.view(-1).float()})
    inputs = deltas_inputs(run.kind, sampled.sampler, run.policy, config, run.deltas_reads, sampled.task, sampled.prompts,
                           sample, old_log_probs, weights)
    if ref_log_probs is not None and config.kl_placement == "reward":  # the rollout policy's KL, in the rewards the deltas read
        rollout_log_probs = (run.kind.log_probs(run.policy, sampled.prompts, sample)[0] if sample.log_probs is None
                             else sample.log_probs)
        kl_tokens = estimate_kl(config.kl_estimator, rollout_log_probs, ref_log_probs, rollout_log_probs)
        coefficient = config.kl_penalty if config.kl_ctrl == "fixed" else kl_coef  # fixed: as it always was
        deltas = run.deltas_fn(kl_in_reward(sampled.rewards, kl_tokens, sample.mask, coefficient), sample.mask,
                               **inputs)  # [seed batch response]
        kl_coef = KL_CONTROLLERS[config.kl_ctrl](kl_coef, kl_tokens, sample.mask, config)  # verl's kl_ctrl
    else:
        deltas = run.deltas_fn(sampled.rewards, sample.mask, **inputs)  # [seed batch response] (token-level: [... pos])
    if weights is not None:  # the corrections' weights on each term, folded into its delta
        deltas = weighted_deltas(deltas, weights)
    return deltas, kl_coef


def training_rollout(run: StackedRun, sampled: Sampled, deltas: torch.Tensor, old_log_probs: torch.Tensor | None,
                     ref_log_probs: torch.Tensor | None, epoch: int, metrics: Metrics) -> Rollout:
    """What the inner steps train on: the sample (with mask_truncated_completions, TRL's: the
    truncated responses out of the loss, after the deltas), its deltas and the frozen log-probs
    the steps read."""
    config, sample = run.config, sampled.sample
    masked_frac = torch.full((run.num_seeds,), torch.nan, device=run.device)
    if config.mask_truncated_completions:
        sample, masked_frac = without_truncated(sample, run.task.vocab_size)
    metrics.record(epoch, {"truncated_masked_frac": masked_frac})
    return Rollout(
        sampled.prompts, sample, deltas,
        old_log_probs=old_log_probs if run.reads_old else None,
        ref_log_probs=ref_log_probs,
        sampler_log_probs=sample.log_probs if config.off_policy_mask_threshold else None,
    )


def update(run: StackedRun, rollout: Rollout, reference: Any, epoch: int, step_metrics: dict[str, torch.Tensor]) -> Any:
    """Update: the inner optimizer steps on this rollout (``update_step``), each step's metrics
    recorded; TRL's soft reference update every ref_model_sync_steps of them. Returns the
    reference model."""
    config, steps = run.config, run.config.steps_per_epoch
    for step in range(steps):
        for name, value in update_step(run.policy, run.optimizer, config, rollout).items():
            step_metrics[name][epoch, step] = value
        if run.with_kl and config.ref_model_sync_steps and (epoch * steps + step + 1) % config.ref_model_sync_steps == 0:
            reference = update_reference(reference, run.policy, config.ref_model_mixup_alpha)
    return reference


def evaluate(kind: type[Policy], policy, config, task: Task, evaluation: SeedUniforms, rollout_task: Task, epoch: int,
             eval_metrics: dict[str, torch.Tensor]) -> None:
    """An epoch's evaluation of the updated policy into `eval_metrics` {EVAL_METRICS name: [epoch seed]}."""
    # Evaluation: greedy responses of the updated policy to the training prompts (a stream: this rollout's) and
    # the held-out ones, and one sampled response to each held-out prompt; every eval_every epochs and the last
    if (epoch + 1) % config.eval_every == 0 or epoch == config.epochs - 1:
        with torch.no_grad():
            train_correct, heldout_correct = greedy_eval(kind, policy, config, rollout_task)  # [seed batch], [seed heldout]
            eval_metrics["greedy_train_acc"][epoch] = train_correct.float().mean(1)
            eval_metrics["greedy_heldout_acc"][epoch] = heldout_correct.float().mean(1)
            sampled = heldout_eval(kind, policy, config, task, evaluation)
            eval_metrics["heldout_sorted_frac"][epoch] = sampled["heldout_sorted_frac"]


def correction(config, learner_log_probs: torch.Tensor | None, sample: Sample, num_seeds: int,
               device: torch.device) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """A rollout's correction weights (grpo.core.rollout_correction.rollout_weights; None without a
    correction) and its records {CORRECTION_METRICS name: [seed]}: NaN where the run has no sampler
    apart from the learner and no correction."""
    records = {name: torch.full((num_seeds,), torch.nan, device=device) for name in CORRECTION_METRICS}
    if learner_log_probs is None:
        return None, records
    assert sample.log_probs is not None  # drawn wherever the learner's are read
    records["sampler_kl"] = sampler_kl(learner_log_probs, sample.log_probs, sample.mask)
    if not corrected(config):
        return None, records
    weights, metrics = rollout_weights(config, learner_log_probs, sample.log_probs, sample.mask)
    return weights, {**records, **metrics}


def deltas_inputs(kind: type[Policy], sampler, policy, config, reads: tuple[str, ...], rollout_task: Task,
                  prompts: torch.Tensor, sample: Sample, old_log_probs: torch.Tensor | None,
                  weights: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
    """What a deltas mode reads of the rollout beyond its rewards (its ``reads_rollout``): the
    reward of the sampler's greedy response to each prompt (remax: one greedy generation, 1 /
    responses of the rollout's sampling), the rollout's log-probs, the learner's sum of squared
    probabilities and the correction's weights a token (optimal_token_baseline)."""
    inputs: dict[str, torch.Tensor | None] = {}
    if "greedy_rewards" in reads:
        inputs["greedy_rewards"] = kind.rewards(config, rollout_task, kind.greedy(sampler, config, prompts))[..., 0]
    if "old_log_probs" in reads:
        inputs["old_log_probs"] = old_log_probs
    if "sum_pi_squared" in reads:
        inputs["sum_pi_squared"] = kind.sum_pi_squared(policy, prompts, sample)
    if "rollout_is_weights" in reads:  # one a token: a response's weight on each of its tokens
        inputs["rollout_is_weights"] = (None if weights is None else weights if weights.dim() == 4
                                        else weights[..., None].expand(sample.responses.shape))
    return inputs


def evaluation_generators(slice_seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator a slice for the held-out samples, seeded by its seed: the same for every
    configuration of a seed, and apart from the training's draws, which it leaves as they were."""
    def seeded(seed: int) -> torch.Generator:
        digest = hashlib.sha256(f"held-out evaluation {seed}".encode()).digest()
        return torch.Generator(device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return [seeded(int(seed)) for seed in slice_seeds]


def greedy_eval(kind: type[Policy], policy, config, rollout_task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """Whether each greedy response is exactly sorted: (training prompts [seed batch], held-out [seed heldout]).
    A fixed set's training and held-out prompts go in one pass; a stream's draw [seed batch pos] in its own."""
    if rollout_task.prompts.dim() == 2:
        evaluated = torch.cat([rollout_task.prompts, rollout_task.heldout])  # [batch+heldout pos]
        correct = kind.greedy_correct(policy, config, rollout_task, evaluated)  # [seed batch+heldout]
        return correct[:, :rollout_task.batch], correct[:, rollout_task.batch:]
    return (kind.greedy_correct(policy, config, rollout_task, rollout_task.prompts),
            kind.greedy_correct(policy, config, rollout_task, rollout_task.heldout))


def heldout_eval(kind: type[Policy], policy, config, task: Task, uniforms: SeedUniforms,
                 with_entropy: bool = False) -> dict[str, torch.Tensor]:
    """One response sampled (at `uniforms`, the evaluation's) to each held-out prompt:
    {"heldout_sorted_frac": the fraction exactly sorted [seed]}, with `with_entropy` the
    START_METRICS of the policy (the mean entropy of its next-token distributions over those
    responses' real tokens) under their start_ names."""
    heldout = Task(task.heldout, task.heldout, task.vocab_size)
    sample = kind.sample(policy, config, heldout, uniforms, False, group=1, sampling=PLAIN)  # [seed heldout 1 pos]
    sorted_frac = kind.success(heldout, sample.responses).float().mean((1, 2))  # [seed]
    if not with_entropy:
        return {"heldout_sorted_frac": sorted_frac}
    return {"start_heldout_sorted_frac": sorted_frac, "start_entropy": kind.log_probs(policy, heldout.prompts, sample)[1]}


def without_truncated(sample: Sample, vocab: int) -> tuple[Sample, torch.Tensor]:
    """TRL's mask_truncated_completions (trl/trainer/grpo_trainer.py, ``_generate_and_score_completions``:
    ``completion_mask * (~is_truncated).unsqueeze(1)``, a completion truncated when its last id is
    neither EOS nor pad; DAPO's overlong filtering, arXiv 2503.14476 §3.4): `sample` with the mask
    of every response without EOS zeroed, so that it leaves the loss, its normaliser and the KL term
    (a response's mean under seq_mean_token_mean is 0 and still counts in the mean over responses, as
    TRL's grpo loss counts it), and the share of responses dropped [seed]."""
    truncated = ~ended(sample.responses, vocab)  # [seed batch response]
    assert sample.mask is not None, "the transformer's samples carry their mask (TrainConfig checks the policy)"
    return replace(sample, mask=sample.mask * ~truncated[..., None]), truncated.float().mean((1, 2))


def update_reference(reference: Any, policy: Any, alpha: float) -> Any:
    """The reference model's update: a frozen copy of the policy (alpha 1, the seed document's
    refresh), else each weight mixed in place, ref <- alpha x policy + (1 - alpha) x ref (TR-DPO,
    arXiv 2404.09656; TRL's SyncRefModelCallback._sync_target_model, trl/trainer/callbacks.py:
    ``target_param.data.mul_(1.0 - alpha).add_(copy_param.data, alpha=alpha)``). Each slice
    mixes its own weights, so stacked seeds stay apart."""
    if alpha == 1:
        return policy.frozen_copy()
    with torch.no_grad():
        for mixed, current in zip(reference.parameters(), policy.parameters(), strict=True):
            mixed.mul_(1.0 - alpha).add_(current, alpha=alpha)
    return reference


def update_step(policy: torch.nn.Module, optimizer: Adam, config, rollout: Rollout) -> dict[str, torch.Tensor]:
    """One inner optimizer step on a rollout: its loss (``step_loss``), backward, Adam. `config`: a
    TrainConfig, or a group's (grpo.core.group.loss_config).
    Returns the step's metrics: {STEP_METRICS name: [seed]}."""
    loss, metrics = step_loss(policy, config, rollout)
    optimizer.zero_grad()
    loss.sum().backward()  # seeds are independent: each gets its own gradient
    metrics["grad_norm"] = grad_norms(policy, len(loss))  # [seed] before the step (TRL's grad_norm)
    optimizer.step()
    return {name: metrics[name].detach() for name in STEP_METRICS}


def step_loss(policy: torch.nn.Module, config, rollout: Rollout) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A step's loss [seed] (forward, log-probs, policy loss, + KL, - entropy bonus) and its
    metrics but grad_norm. Every term counts only the tokens of ``rollout.sample.mask`` (the
    responses' real tokens; with mask_truncated_completions, of the responses that ended).
    top_entropy_quantile < 1 (TRL's): the policy loss reads the log-probs of the tokens outside the
    top entropy quantile detached, so its gradient flows through the kept tokens only and its
    normaliser is unchanged: TRL's ``per_token_loss * entropy_mask`` in gradient (its terms are a
    token's: the loss's ``token_terms`` fact), though the loss's value still counts every token's
    term. The KL term and the entropy bonus read every token."""
    mask = rollout.sample.mask  # [seed batch response pos], None: every token real
    token_entropy = config.entropy_coeff > 0 or config.top_entropy_quantile < 1
    log_probs, entropy = POLICIES[config.policy].log_probs(policy, rollout.prompts, rollout.sample,
                                                           token_entropy)  # [... pos], [seed] ([... pos] per token)
    masked = {} if mask is None else {"mask": mask}  # a loss written for equal lengths only never sees a mask
    nan = torch.full_like(log_probs[:, 0, 0, 0], torch.nan)  # [seed]
    policy_log_probs, kept_frac = log_probs, nan
    if config.top_entropy_quantile < 1:
        kept = high_entropy_tokens(entropy.detach(), mask, config.top_entropy_quantile)  # [seed batch response pos]
        policy_log_probs = torch.where(kept, log_probs, log_probs.detach())
        kept_frac = token_mean(kept.float(), mask)  # [seed] the share of the real tokens kept
    deltas, off_policy_masked = rollout.deltas, nan
    if rollout.sampler_log_probs is not None:  # DeepSeek-V3.2's off-policy sequence mask, against the current policy
        keep = off_policy_mask(deltas, log_probs, rollout.sampler_log_probs, mask, config.off_policy_mask_threshold)
        deltas, off_policy_masked = weighted_deltas(deltas, keep), 1 - keep.flatten(1).mean(1)
    terms = LOSSES.checked(config.loss_mode)(policy_log_probs, rollout.old_log_probs, deltas, config, **masked)
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
    bonus = nan
    if config.entropy_coeff:  # verl's: loss - entropy_coeff x the entropy aggregated as loss_agg (dp_actor.py)
        bonus = config.entropy_coeff * aggregate(entropy, mask, config)  # [seed]
        loss = loss - bonus
    if token_entropy:
        entropy = token_mean(entropy.detach(), mask)  # [seed] the record's mean
    with torch.no_grad():
        low_prob = torch.full_like(loss, torch.nan) if terms.clip_high_low_prob is None else terms.clip_high_low_prob
        extra = torch.full_like(loss, torch.nan) if terms.extra_clip is None else terms.extra_clip
        clip_frac = terms.clip_low + terms.clip_high
    return loss, {"loss": loss, "kl": kl, "clip_frac": clip_frac, "clip_low_frac": terms.clip_low,
                  "clip_high_frac": terms.clip_high, "clip_high_low_prob_frac": low_prob, "extra_clip_frac": extra,
                  "entropy": entropy, "entropy_bonus": bonus, "entropy_kept_frac": kept_frac,
                  "off_policy_masked_frac": off_policy_masked}


def _columns(config: TrainConfig, seeds: Sequence[int], step_metrics: dict[str, np.ndarray],
             epoch_metrics: dict[str, np.ndarray], eval_metrics: dict[str, np.ndarray],
             start_metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Metric arrays, by name -> the records' columns, one row per (seed, epoch, step), seed-major.
    step_metrics [epoch step seed], epoch_metrics / eval_metrics [epoch seed], start_metrics [seed].
    Metrics stay float32, the precision they were computed in (counts: int64): at 1000 seeds a
    configuration has a million rows."""
    epochs, steps, num_seeds = step_metrics["loss"].shape
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
    for name in STEP_METRICS:
        columns[name] = per_row(step_metrics[name])
    for name in EPOCH_METRICS:
        values = per_epoch(epoch_metrics[name])
        columns[name] = values.astype(np.int64) if name in COUNT_METRICS else values
    for name in EVAL_METRICS:
        columns[name] = np.where(per_row(last_step), per_epoch(eval_metrics[name]), np.float32(np.nan))
    for name in START_METRICS:
        columns[name] = np.repeat(start_metrics[name], epochs * steps)
    columns["learning_rate"] = np.full(rows, config.lr, dtype=np.float32)  # no scheduler: the configuration's lr
    checked = [name for name in STEP_METRICS if name not in NULLABLE_STEP_METRICS]
    broken = ~np.stack([np.isfinite(step_metrics[name]) for name in checked]).all(0)  # [epoch step seed]
    columns["diverged"] = np.logical_or.accumulate(per_row(broken).reshape(num_seeds, -1), axis=1).reshape(rows)
    return columns
