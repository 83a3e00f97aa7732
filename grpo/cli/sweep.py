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
    parser.add_argument("--vary", action="append", metavar="FIELD=V1,V2,...", default=[],
                        help="a held-fixed field to vary around the grid, one value at a time (a sensitivity cell per"
                             " value: the whole grid again on the same seeds), added to the grid's [sensitivity];"
                             " e.g. --vary lr=3e-4,1e-3,3e-3,1e-2 (repeatable)")


def run(args: argparse.Namespace) -> int:
    from grpo.experiment.completeness import NOT_CHOSEN
    from grpo.experiment.store import few
    from grpo.sweep.run import run_sweep

    if args.num_cpus is not None and args.num_cpus < 1:
        raise UsageError(f"--num-cpus must be at least 1, got {args.num_cpus}")
    if args.num_cpus is not None and args.num_cpus > (os.cpu_count() or 1):
        print(f"grpo sweep: warning: --num-cpus {args.num_cpus} is more than this machine's {os.cpu_count()} cores;"
              " trials will share cores and run slower each", file=sys.stderr)
    vary = parse_vary_arguments(args.vary)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed job stops like Ctrl-C
    start = time.perf_counter()
    outcome = run_sweep(args.grid, args.results, address=args.address, progress=not args.quiet, num_cpus=args.num_cpus,
                        vary=vary)
    print(f"{outcome.results_dir}: trained {outcome.trained} run(s) in {outcome.trials} trial(s), reused"
          f" {outcome.reused}, {len(outcome.failed)} configuration(s) failed, {len(outcome.missing)} missing,"
          f" in {time.perf_counter() - start:.1f} s")
    for failure in outcome.failed:
        print(f"failed {failure}", file=sys.stderr)
    if outcome.missing:
        cause = "interrupted" if outcome.interrupted else "not finished"
        print(f"{cause}: {len(outcome.missing)} configuration(s) missing ({few(outcome.missing)});"
              " run the same sweep again to finish", file=sys.stderr)
    unchosen = [gap.configuration for gap in outcome.gaps if gap.status == NOT_CHOSEN]
    if unchosen and not outcome.interrupted:
        print(f"tuned cell: {len(unchosen)} arm(s) not chosen, a candidate of each failed ({few(unchosen)}); the report"
              " leaves the cell out", file=sys.stderr)
    return 1 if outcome.failed or outcome.missing or outcome.gaps else 0


def parse_vary_arguments(texts: list[str]) -> dict[str, list]:
    """Every --vary argument -> field -> its values: a field given twice has the values of both,
    in order, each once (`--vary epsilon=0.2 --vary epsilon=0.3`: epsilon 0.2 and 0.3)."""
    vary: dict[str, list] = {}
    for text in texts:
        name, values = parse_vary(text)
        vary[name] = list(dict.fromkeys([*vary.get(name, []), *values]))
    return vary


def parse_vary(text: str) -> tuple[str, list]:
    """`lr=3e-4,1e-3` -> ("lr", [0.0003, 0.001]): numbers as numbers, other values as names."""
    name, _, values = text.partition("=")
    if not name or not values or any(not value for value in values.split(",")):
        raise UsageError(f"--vary {text!r}: give FIELD=VALUE,VALUE,... (e.g. lr=3e-4,1e-3)")
    return name, [_number_or_name(value.strip()) for value in values.split(",")]


def _number_or_name(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
