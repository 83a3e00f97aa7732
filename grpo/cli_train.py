"""`grpo train`: one configuration, one or more seeds (stacked), a progress bar and a summary."""

import argparse
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from grpo.config import TrainConfig
from grpo.deltas import DELTAS
from grpo.devices import resolve_device
from grpo.errors import UsageError
from grpo.io import check_writable_dir
from grpo.losses import KL_ESTIMATORS, LOSSES
from grpo.records import write_records
from grpo.rewards import REWARDS
from grpo.tasks import TASKS
from grpo.train import train

DEFAULTS = TrainConfig()
SUMMARY_METRICS = ("reward_frac", "sorted_frac", "greedy_train_acc", "greedy_heldout_acc")


def parse_seeds(spec: str) -> list[int]:
    """'20' -> seeds 0..19; '3,7,9' -> those seeds; '10-19' -> 10..19."""
    try:
        if "," in spec:
            seeds = [int(part) for part in spec.split(",")]
        elif "-" in spec.strip("-"):
            low, high = (int(part) for part in spec.split("-"))
            seeds = list(range(low, high + 1))
        else:
            seeds = list(range(int(spec)))
    except ValueError:
        raise UsageError(f"bad --seeds {spec!r}; give a count (20), a list (3,7,9) or a range (10-19)") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"bad --seeds {spec!r}; seeds must be distinct, non-negative, at least one")
    return seeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--reward", default=d.reward_fn, choices=list(REWARDS), help="reward function (default %(default)s)")
    parser.add_argument("--deltas", default=d.deltas_mode, choices=list(DELTAS), help="rewards -> deltas (default %(default)s)")
    parser.add_argument("--loss", default=d.loss_mode, choices=list(LOSSES), help="policy loss (default %(default)s)")
    parser.add_argument("--kl", type=float, default=d.kl_penalty, help="KL penalty coefficient; 0 = off (default %(default)s)")
    parser.add_argument("--kl-estimator", default=d.kl_estimator, choices=list(KL_ESTIMATORS),
                        help="estimator of KL(pi || pi_ref) (default %(default)s)")
    parser.add_argument("--ref-period", type=int, default=d.ref_period, help="epochs between reference refreshes (default %(default)s)")
    parser.add_argument("--epsilon", type=float, default=d.epsilon, help="clip range of the clipped loss (default %(default)s)")
    parser.add_argument("--epsilon-low", type=float, default=d.epsilon_low,
                        help="clip_higher/cispo: lower clip 1 - epsilon_low (default %(default)s)")
    parser.add_argument("--epsilon-high", type=float, default=d.epsilon_high,
                        help="clip_higher/cispo: upper clip 1 + epsilon_high (default %(default)s)")
    parser.add_argument("--seeds", default="1", help="a count (20 = seeds 0..19), a list (3,7,9) or a range (10-19); default 1")
    parser.add_argument("--epochs", type=int, default=d.epochs, help="rollouts (default %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch, help="optimizer steps per rollout (default %(default)s)")
    parser.add_argument("--responses", type=int, default=d.responses, help="responses per prompt (default %(default)s)")
    parser.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--dim", type=int, default=d.dim, help="hidden size (default %(default)s)")
    parser.add_argument("--task", default=d.task, choices=list(TASKS), help="prompt set (default %(default)s)")
    parser.add_argument("--task-length", type=int, default=d.task_length, help="random task: prompt length (default %(default)s)")
    parser.add_argument("--task-vocab", type=int, default=d.task_vocab, help="random task: vocab size (default %(default)s)")
    parser.add_argument("--task-prompts", type=int, default=d.task_prompts, help="random task: training prompts (default %(default)s)")
    parser.add_argument("--task-heldout", type=int, default=d.task_heldout, help="random task: held-out prompts (default %(default)s)")
    parser.add_argument("--task-seed", type=int, default=d.task_seed, help="random task: prompt generator seed (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    parser.add_argument("--out", type=Path, help="write the records to this .parquet file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        reward_fn=args.reward, deltas_mode=args.deltas, loss_mode=args.loss, kl_penalty=args.kl, kl_estimator=args.kl_estimator,
        ref_period=args.ref_period, epsilon=args.epsilon, epsilon_low=args.epsilon_low,
        epsilon_high=args.epsilon_high, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, responses=args.responses, lr=args.lr, dim=args.dim,
        task=args.task, task_length=args.task_length, task_vocab=args.task_vocab,
        task_prompts=args.task_prompts, task_heldout=args.task_heldout, task_seed=args.task_seed,
    )


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean of each summary metric on the first and the last epoch."""
    per_epoch = records.groupby("epoch")[list(SUMMARY_METRICS)].mean()
    return pd.DataFrame({"start": per_epoch.iloc[0], "end": per_epoch.iloc[-1]})


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    seeds = parse_seeds(args.seeds)
    device = resolve_device(args.device)
    if args.out is not None:
        if args.out.suffix != ".parquet":
            raise UsageError(f"--out must name a .parquet file, got {str(args.out)!r}")
        check_writable_dir(args.out.parent)
    config.make_task()  # impossible task sizes fail here, before the progress bar

    start = time.perf_counter()
    with tqdm(total=config.epochs, desc="epochs", unit="epoch", disable=args.quiet) as bar:
        records = train(config, seeds, device, on_epoch=lambda epoch: bar.update())
    wall = time.perf_counter() - start

    if args.out is not None:
        write_records(records, config, args.out)
    print(
        f"{config.reward_fn} / {config.deltas_mode} / {config.loss_mode} / kl {config.kl_penalty:g}"
        f" on task {config.task}: {len(seeds)} seed(s), {config.epochs} epochs x {config.steps_per_epoch} steps"
        f" in {wall:.1f} s"
    )
    print(summarize(records).round(3).to_string())
    if args.out is not None:
        print(f"records: {args.out} ({len(records)} rows)")
    return 0
