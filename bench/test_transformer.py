"""The transformer testbed (``--policy transformer``) at the `sequence` preset's sizes, on one
thread as a sweep's trials run: the whole training loop per (seed, optimizer step) and its parts
per seed (a rollout: sampling with the key/value cache and rewards; a gradient step: forward,
loss, backward, Adam; an evaluation: greedy responses to the training and held-out prompts) at
S = 1, 20, 100, 1000 stacked seeds; each against its FLOP floor (bench/floor.py, divided by the
matrix-product rate measured here at the model's own shapes) and its parameter-traffic floor;
TRL's GRPOTrainer on a GPT-2 of the same size (bench/trl_baseline.py; skipped, saying so, where
TRL is not installed); and each lever undone alone at S = 100."""

import dataclasses
import os
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import grpo.core.transformer as transformer
from bench import trl_baseline
from bench.floor import FLOAT_BYTES, PARAMETER_PASSES, transformer_pass_flops
from grpo import train
from grpo.core.optim import Adam
from grpo.core.policies import POLICIES
from grpo.core.train import Rollout, update_step
from grpo.core.transformer import MLP_RATIO, StackedTransformer
from grpo.core.uniforms import SeedUniforms
from grpo.experiment.grids import load_grid
from grpo.modes.deltas import DELTAS
from grpo.report.bench import TRANSFORMER_MATMUL

SEEDS = [1, 20, 100, 1000]
LOOP_EPOCHS = {1: 6, 20: 3, 100: 2, 1000: 1}  # the whole loop: enough steps to time, few enough to finish
CONFIG = load_grid("sequence").configs()[0]  # the preset's task and policy: token_mean, clipped, normalized_rewards
PARTS = ["rollout", "gradient step", "evaluation"]
LEVERS = {  # lever -> the part it speeds up; each undone alone at LEVER_SEEDS
    "attention through F.scaled_dot_product_attention": "gradient step",
    "last block at every position": "gradient step",
    "seeds not chunked": "gradient step",
    "old log-probs recomputed teacher-forced": "rollout",
}
LEVER_SEEDS = 100
GOAL_SEEDS = 100  # the testbed's goals are at 100 stacked seeds
TRL_ROLLOUTS = 4  # timed after one warm-up rollout and its steps
KIND = POLICIES["transformer"]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # TRL's tokenizer on one thread too


def sizes(config=CONFIG):
    task = config.make_task()
    batch, width = task.prompts.shape
    positions = width + config.max_response_length  # prompt, BOS, response but its last token
    return task, batch, positions


def floors(part: str, config=CONFIG) -> dict[str, int]:
    """One seed's FLOPs (plain computation, bench/floor.py) and parameter traffic for a part, or
    for one (seed, optimizer step) of the whole loop (the rollout and evaluation shared by the
    epoch's steps)."""
    task, batch, positions = sizes(config)
    pass_flops = {"rollout": transformer_pass_flops(batch * config.responses, positions, task.vocab_size, config.dim,
                                                    config.layers),
                  "evaluation": transformer_pass_flops(batch + len(task.heldout), positions, task.vocab_size, config.dim,
                                                       config.layers)}
    flops = {"rollout": pass_flops["rollout"], "gradient step": 3 * pass_flops["rollout"],
             "evaluation": pass_flops["evaluation"]}
    weights = StackedTransformer.weights_per_seed(task.vocab_size, positions, config.dim, config.layers)
    traffic = {"rollout": weights * FLOAT_BYTES, "gradient step": PARAMETER_PASSES * weights * FLOAT_BYTES,
               "evaluation": weights * FLOAT_BYTES}
    if part == "loop":
        steps = config.steps_per_epoch
        return {"flops": flops["gradient step"] + (flops["rollout"] + flops["evaluation"]) // steps,
                "bytes": traffic["gradient step"] + (traffic["rollout"] + traffic["evaluation"]) // steps}
    return {"flops": flops[part], "bytes": traffic[part]}


def test_matmul_rate_at_the_models_shapes(benchmark, device, synchronize, one_thread):
    """The batched matrix products of one gradient step, computed the plain way, on random
    tensors at S = 20: each layer's forward, input gradient and weight gradient."""
    task, batch, positions = sizes()
    rows, dim, seeds = batch * CONFIG.responses * positions, CONFIG.dim, 20
    generator = torch.Generator(device).manual_seed(0)
    shapes = [(dim, 3 * dim), (dim, dim), (dim, MLP_RATIO * dim), (MLP_RATIO * dim, dim), (dim, task.vocab_size + 1)]
    operands = [(torch.randn(seeds, rows, n_in, generator=generator, device=device),
                 torch.randn(seeds, n_in, n_out, generator=generator, device=device),
                 torch.randn(seeds, rows, n_out, generator=generator, device=device)) for n_in, n_out in shapes]

    def timed():
        for x, weight, grad in operands:
            torch.bmm(x, weight)  # forward
            torch.bmm(grad, weight.transpose(1, 2))  # the input's gradient
            torch.bmm(x.transpose(1, 2), grad)  # the weight's gradient
        synchronize()

    benchmark.pedantic(timed, rounds=10, iterations=1, warmup_rounds=2)
    flops = sum(3 * 2 * seeds * rows * n_in * n_out for n_in, n_out in shapes)
    benchmark.extra_info.update(suite="machine", impl=TRANSFORMER_MATMUL, flops=flops, agrees=True)


def make_run(seeds: int, device):
    """A policy of `seeds` stacked, its optimizer and uniforms, and one rollout of the preset."""
    task = CONFIG.make_task().to(device)
    generators = [torch.Generator(device).manual_seed(seed) for seed in range(seeds)]
    policy = KIND.init(CONFIG, task, generators)
    uniforms = SeedUniforms(generators)
    with torch.no_grad():
        sample = KIND.sample(policy, CONFIG, task, uniforms, True)
        deltas = DELTAS[CONFIG.deltas_mode](KIND.rewards(CONFIG, task, sample.responses))
    return task, policy, uniforms, Rollout(task.prompts, sample, deltas, sample.log_probs, None)


def part_call(part: str, task, policy, uniforms, rollout, teacher_forced: bool = False):
    """The timed call of one part (grpo.core.train's own calls)."""
    if part == "rollout":
        @torch.no_grad()
        def call():
            sample = KIND.sample(policy, CONFIG, task, uniforms, True)
            if teacher_forced:  # the lever undone: a second pass for the old log-probs
                policy.log_probs(task.prompts, sample.responses)
            return DELTAS[CONFIG.deltas_mode](KIND.rewards(CONFIG, task, sample.responses))
    elif part == "gradient step":
        optimizer = Adam(policy.parameters(), lr=CONFIG.lr)

        def call():
            return update_step(policy, optimizer, CONFIG, rollout)["loss"]  # [seed]; other metrics may be NaN by design
    else:
        evaluated = torch.cat([task.prompts, task.heldout])

        @torch.no_grad()
        def call():
            return KIND.greedy_correct(policy, CONFIG, task, evaluated)
    return call


def time_part(benchmark, synchronize, seeds, part, call):
    def timed():
        out = call()
        synchronize()
        return out

    out = benchmark.pedantic(timed, rounds=3 if seeds >= 1000 else max(5, 200 // seeds), iterations=1, warmup_rounds=1)
    return bool(torch.isfinite(out.float()).all())


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("seeds", SEEDS)
def test_transformer_part(benchmark, device, synchronize, one_thread, seeds, part):
    task, policy, uniforms, rollout = make_run(seeds, device)
    finite = time_part(benchmark, synchronize, seeds, part, part_call(part, task, policy, uniforms, rollout))
    benchmark.extra_info.update(suite="transformer_part", impl="ours", part=part, seeds=seeds, seed_steps=seeds,
                                agrees=finite, **floors(part))
    assert finite


def undo(lever: str, monkeypatch) -> None:
    """Take one lever back for the rest of the test (same results up to float rounding)."""
    if lever == "attention through F.scaled_dot_product_attention":
        def sdpa(q, k, v):
            new, positions = q.shape[1], k.shape[1]
            allowed = torch.ones(new, positions, dtype=torch.bool, device=q.device).tril(positions - new)  # [new pos]
            return F.scaled_dot_product_attention(q, k, v, attn_mask=None if new == positions else allowed,
                                                  is_causal=new == positions)

        monkeypatch.setattr(transformer, "causal_attention", sdpa)
    elif lever == "last block at every position":
        blocks = transformer.Decoder.blocks

        def every_position(self, x, first, keys_values=None):
            return blocks(self, x, 0, keys_values)[:, :, first:]

        monkeypatch.setattr(transformer.Decoder, "blocks", every_position)
    elif lever == "seeds not chunked":
        monkeypatch.setattr(transformer, "SEEDS_PER_CHUNK", 10**9)


@pytest.mark.parametrize("lever", list(LEVERS))
def test_transformer_lever(benchmark, device, synchronize, one_thread, monkeypatch, lever):
    """A part at S = 100 with one lever undone; the report divides by the same part's time with
    every lever in place (test_transformer_part)."""
    if device != "cpu":
        pytest.skip("the levers are measured on the CPU")
    part = LEVERS[lever]
    task, policy, uniforms, rollout = make_run(LEVER_SEEDS, device)
    reference = update_step(*_fresh_step(LEVER_SEEDS, device)) if part == "gradient step" else None
    undo(lever, monkeypatch)
    if reference is not None:  # the same step's metrics with the lever undone
        undone = update_step(*_fresh_step(LEVER_SEEDS, device))
        agrees = all(torch.allclose(undone[name], value, rtol=1e-4, atol=1e-5, equal_nan=True)
                     for name, value in reference.items())
    else:
        agrees = True
    call = part_call(part, task, policy, uniforms, rollout, teacher_forced=lever == "old log-probs recomputed teacher-forced")
    finite = time_part(benchmark, synchronize, LEVER_SEEDS, part, call)
    benchmark.extra_info.update(suite="transformer_lever", impl=lever, part=part, seeds=LEVER_SEEDS, seed_steps=LEVER_SEEDS,
                                agrees=agrees and finite)
    assert agrees and finite


def _fresh_step(seeds, device):
    _, policy, _, rollout = make_run(seeds, device)
    return policy, Adam(policy.parameters(), lr=CONFIG.lr), CONFIG, rollout


@pytest.mark.parametrize("seeds", SEEDS)
def test_transformer_loop(benchmark, device, synchronize, one_thread, seeds):
    """The whole grpo.train loop (rollouts, rewards, inner steps, evaluation, records) per (seed,
    optimizer step)."""
    config = dataclasses.replace(CONFIG, epochs=LOOP_EPOCHS[seeds])

    def timed():
        records = train(config, range(seeds), device)
        synchronize()
        return records

    records = benchmark.pedantic(timed, rounds=1 if seeds >= 1000 else 3, iterations=1, warmup_rounds=0 if seeds >= 1000 else 1)
    seed_steps = seeds * config.epochs * config.steps_per_epoch
    complete = len(records) == seed_steps and bool(np.isfinite(records.loss).all())
    benchmark.extra_info.update(suite="transformer_loop", impl="ours", seeds=seeds, seed_steps=seed_steps, agrees=complete,
                                **floors("loop"))
    assert complete


def test_trl_grpo_trainer(benchmark, one_thread):
    """TRL's GRPOTrainer, one seed per process as TRL trains: seconds per optimizer step over
    TRL_ROLLOUTS rollouts and their steps, after a warm-up rollout (bench/trl_baseline.py). Each
    round also trains the testbed at S = GOAL_SEEDS right after, so that the goal's ratio compares
    two runs minutes apart at most, by wall and by CPU time (on a shared machine the load moves).
    The testbed is timed the way TRL is, in the steady state: a run of 1 + TRL_ROLLOUTS epochs
    less a run of one epoch (its set-up, first rollout and first steps), per (seed, optimizer step)
    of the epochs between; and as a whole run, set-up included."""
    if not trl_baseline.available():
        pytest.skip("TRL is not installed (pip install -e '.[bench]'): the comparison with TRL's GRPOTrainer is left out")
    task = CONFIG.make_task()
    warm_up, whole = (dataclasses.replace(CONFIG, epochs=epochs) for epochs in (1, 1 + TRL_ROLLOUTS))
    steady_steps = GOAL_SEEDS * TRL_ROLLOUTS * CONFIG.steps_per_epoch
    whole_steps = GOAL_SEEDS * whole.epochs * whole.steps_per_epoch
    times: dict[str, list[float]] = {name: [] for name in ("trl_wall", "trl_cpu", "ours_wall", "ours_cpu",
                                                            "ours_whole_wall", "ours_whole_cpu")}

    def ours(config) -> tuple[float, float]:
        started, started_cpu = time.perf_counter(), time.process_time()
        train(config, range(GOAL_SEEDS))
        return time.perf_counter() - started, time.process_time() - started_cpu

    def timed():
        (wall, cpu), weights = trl_baseline.seconds_per_step(CONFIG, task, seed=len(times["trl_wall"]), rollouts=TRL_ROLLOUTS)
        times["trl_wall"].append(wall)
        times["trl_cpu"].append(cpu)
        (warm_wall, warm_cpu), (whole_wall, whole_cpu) = ours(warm_up), ours(whole)
        times["ours_wall"].append((whole_wall - warm_wall) / steady_steps)
        times["ours_cpu"].append((whole_cpu - warm_cpu) / steady_steps)
        times["ours_whole_wall"].append(whole_wall / whole_steps)
        times["ours_whole_cpu"].append(whole_cpu / whole_steps)
        return weights

    weights = benchmark.pedantic(timed, rounds=3, iterations=1, warmup_rounds=0)
    _, _, positions = sizes()
    testbed_weights = StackedTransformer.weights_per_seed(task.vocab_size, positions, CONFIG.dim, CONFIG.layers)
    medians = {name: float(np.median(values)) for name, values in times.items()}
    benchmark.extra_info.update(suite="transformer_trl", impl="TRL GRPOTrainer", seeds=1, seed_steps=1,
                                seconds_per_step=medians["trl_wall"], cpu_seconds_per_step=medians["trl_cpu"],
                                alternated_seeds=GOAL_SEEDS, ours_seconds_per_step=medians["ours_wall"],
                                ours_cpu_seconds_per_step=medians["ours_cpu"],
                                ours_whole_seconds_per_step=medians["ours_whole_wall"],
                                ours_whole_cpu_seconds_per_step=medians["ours_whole_cpu"], weights=weights,
                                testbed_weights=testbed_weights, trl_version=trl_baseline.version(),
                                agrees=bool(np.isfinite(list(medians.values())).all()), **floors("loop"))
    assert benchmark.extra_info["agrees"]
