"""`grpo report RESULTS_DIR`: render reports/<grid>/ from a sweep's parquet (never retrains)."""

import argparse
import time
from pathlib import Path

from grpo.report import render_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", type=Path, help="a sweep's results folder, e.g. results/full")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="reports root (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    print("rendering ...", flush=True)
    out = render_report(args.results_dir, args.out)
    print(f"{out / 'report.md'} written in {time.perf_counter() - start:.1f} s")
    return 0
