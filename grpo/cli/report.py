"""`grpo report RESULTS`: render reports/<grid>/ from a sweep's results folder or a `grpo train
--out` file (never retrains)."""

import argparse
import sys
import time
from pathlib import Path

from grpo.progress import shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path,
                        help="a sweep's results folder (e.g. results/full) or a `grpo train --out` parquet file")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="reports root: the report goes to OUT/<grid name or file stem>/ (default %(default)s)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="exit 0 even when configurations are missing or failed (the report says so either way)")


def run(args: argparse.Namespace) -> int:
    from grpo.experiment.store import sweep_running
    from grpo.report import render_report  # the statistics and plotting stack, imported only when used

    start = time.perf_counter()
    if args.results.is_dir() and sweep_running(args.results):
        print(f"grpo report: warning: a sweep is writing into {str(args.results)!r} now; this report shows the grid it"
              " last finished (its grid.toml and runs.parquet)", file=sys.stderr)
    print(f"rendering the report of {args.results} ...", flush=True)
    with shown():  # configurations read, on stderr
        out, tables = render_report(args.results, args.out)
    completeness = tables.completeness
    kind = getattr(tables, "kind", "grid")  # a random study's tables (grpo.report.random_study.WideTables) say so
    print(f"read a {kind}; wrote {out}/ (report.md, CSV tables, figures) in {time.perf_counter() - start:.1f} s")
    if completeness.is_complete:
        return 0
    print(f"incomplete: {len(completeness.missing)} configuration(s) missing and {len(completeness.failed)} failed of"
          f" {completeness.configurations}; the report says so and leaves them out"
          + ("" if args.allow_partial else "; pass --allow-partial to accept a partial report"), file=sys.stderr)
    return 0 if args.allow_partial else 1
