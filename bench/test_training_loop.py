"""The headline: the whole training loop per seed-step (grpo.train: rollouts, rewards,
deltas, inner steps, evaluation, records) for S stacked seeds, against the seed-style loop
(bench/baseline.train_run: one model per seed, trained one after another). The seed-style loop
evaluates nothing; every epoch of grpo.train's evaluates the policy on the held-out prompts, so
at S = EVALUATED_ONCE_SEEDS it is timed also with that evaluation at the last epoch only."""

import dataclasses

import numpy as np
import pytest

from bench import baseline
from grpo import TrainConfig, train
from grpo.report.bench import EVALUATED_ONCE
from grpo.tasks.prompts import seed_task

SEEDS = [1, 20, 100, 1000, 10000]
EPOCHS = 10
CONFIG = TrainConfig(epochs=EPOCHS, loss_mode="clipped", deltas_mode="centered_rewards")  # every stage of a step
BASELINE_SEEDS = 3  # one after another: its time per seed-step does not depend on how many
EVALUATED_ONCE_CONFIG = dataclasses.replace(CONFIG, eval_every=EPOCHS)  # the held-out evaluation at the last epoch only
EVALUATED_ONCE_SEEDS = 1000


@pytest.mark.parametrize("seeds", SEEDS)
def test_training_loop(benchmark, device, synchronize, one_thread, seeds):
    time_loop(benchmark, synchronize, device, CONFIG, seeds, "ours")


@pytest.mark.parametrize("seeds", [EVALUATED_ONCE_SEEDS])
def test_training_loop_evaluated_once(benchmark, device, synchronize, one_thread, seeds):
    """The same loop with the held-out evaluation at the last epoch only (eval_every = EPOCHS):
    nearer the seed-style loop's work, which has none."""
    time_loop(benchmark, synchronize, device, EVALUATED_ONCE_CONFIG, seeds, EVALUATED_ONCE)


def time_loop(benchmark, synchronize, device, config, seeds: int, impl: str) -> None:
    def timed():
        records = train(config, range(seeds), device)
        synchronize()
        return records

    records = benchmark.pedantic(timed, rounds=5 if seeds <= 1000 else 3, iterations=1, warmup_rounds=1)
    seed_steps = seeds * EPOCHS * config.steps_per_epoch
    complete = len(records) == seed_steps and bool(np.isfinite(records.loss).all())
    benchmark.extra_info.update(suite="loop", impl=impl, seeds=seeds, seed_steps=seed_steps, agrees=complete)
    assert complete


def test_training_loop_baseline(benchmark, one_thread):
    """On the CPU: the seed-style loop moves its rewards through Python lists."""
    task = seed_task()

    def timed():
        return [baseline.train_run(seed, task.prompts, task.vocab_size, EPOCHS, CONFIG.steps_per_epoch, CONFIG.responses,
                                   CONFIG.dim, CONFIG.loss_mode, CONFIG.lr) for seed in range(BASELINE_SEEDS)]

    runs = benchmark.pedantic(timed, rounds=3, iterations=1, warmup_rounds=1)
    seed_steps = BASELINE_SEEDS * EPOCHS * CONFIG.steps_per_epoch
    complete = sum(len(run) for run in runs) == seed_steps and all(np.isfinite(r["loss"]) for run in runs for r in run)
    benchmark.extra_info.update(suite="loop", impl="baseline", seeds=BASELINE_SEEDS, seed_steps=seed_steps, agrees=complete)
    assert complete
