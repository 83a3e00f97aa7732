"""`grpo sweep GRID`: run a grid under Ray Tune into results/<grid>/ (resumable, growable)."""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from grpo.errors import UsageError
from grpo.experiment.grids import presets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("grid", help=f"a preset ({', '.join(presets())}) or a .toml grid file")
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="results root (default %(default)s); on a cluster, a folder every node shares")
    parser.add_argument("--address", help="join this Ray cluster (HOST:PORT) instead of running a private local runtime;"
                                          " RAY_ADDRESS, when set, counts as --address")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the private local runtime (default: all of this machine's)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    from grpo.experiment.store import few
    from grpo.sweep.run import run_sweep

    if args.num_cpus is not None and args.num_cpus < 1:
        raise UsageError(f"--num-cpus must be at least 1, got {args.num_cpus}")
    if args.num_cpus is not None and args.num_cpus > (os.cpu_count() or 1):
        print(f"grpo sweep: warning: --num-cpus {args.num_cpus} is more than this machine's {os.cpu_count()} cores;"
              " trials will share cores and run slower each", file=sys.stderr)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed job stops like Ctrl-C
    start = time.perf_counter()
    outcome = run_sweep(args.grid, args.results, address=args.address, progress=not args.quiet, num_cpus=args.num_cpus)
    print(f"{outcome.results_dir}: trained {outcome.trained} run(s) in {outcome.trials} trial(s), reused"
          f" {outcome.reused}, {len(outcome.failed)} configuration(s) failed, {len(outcome.missing)} missing,"
          f" in {time.perf_counter() - start:.1f} s")
    for failure in outcome.failed:
        print(f"failed {failure}", file=sys.stderr)
    if outcome.missing:
        cause = "interrupted" if outcome.interrupted else "not finished"
        print(f"{cause}: {len(outcome.missing)} configuration(s) missing ({few(outcome.missing)});"
              " run the same sweep again to finish", file=sys.stderr)
    return 1 if outcome.failed or outcome.missing else 0
