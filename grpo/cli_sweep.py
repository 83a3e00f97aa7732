"""`grpo sweep GRID`: run a grid under Ray Tune into results/<grid>/ (resumable)."""

import argparse
import sys
import time
from pathlib import Path

from grpo.errors import UsageError
from grpo.grids import presets
from grpo.sweep import run_sweep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("grid", help=f"a preset ({', '.join(presets())}) or a .toml grid file")
    parser.add_argument("--results", type=Path, default=Path("results"), help="results root (default %(default)s)")
    parser.add_argument("--address", help="join this Ray cluster (HOST:PORT) instead of starting a local runtime")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray runtime (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    if args.num_cpus is not None and args.num_cpus < 1:
        raise UsageError(f"--num-cpus must be at least 1, got {args.num_cpus}")
    start = time.perf_counter()
    outcome = run_sweep(args.grid, args.results, address=args.address, progress=not args.quiet, num_cpus=args.num_cpus)
    print(f"{outcome.results_dir}: trained {outcome.ran} configuration(s), {outcome.skipped} already done,"
          f" {len(outcome.failed)} failed, {len(outcome.missing)} missing, in {time.perf_counter() - start:.1f} s")
    for failure in outcome.failed:
        print(f"failed {failure}", file=sys.stderr)
    if outcome.missing:
        print(f"missing {', '.join(outcome.missing)}: interrupted; run the same sweep again to finish", file=sys.stderr)
    return 1 if outcome.failed or outcome.missing else 0
