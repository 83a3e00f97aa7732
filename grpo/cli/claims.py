"""`grpo claims RESULTS`: test Dr. GRPO's and DAPO's claims on a sweep of the transformer policy
(the `sequence` preset) and write claims.md and its figures beside the report (never retrains)."""

import argparse
import sys
from pathlib import Path

from grpo.progress import shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="a sweep's results folder varying loss_agg, loss_mode and deltas_mode"
                                                   " (e.g. results/sequence)")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="reports root: claims.md goes to OUT/<grid name>/ (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from grpo.report.claims import render_claims, verdict  # the statistics and plotting stack, imported only when used

    with shown():  # configurations read, on stderr
        path, table, gaps = render_claims(args.results, args.out / args.results.name)
    for row in table[table.cell == "pooled"].itertuples():
        print(f"{verdict(row)}: {row.claim}: {row.metric} {row.contrast} = {row.difference:+.3f}"
              f" [{row.low:+.3f}, {row.high:+.3f}] over {row.pairs} seeds")
    print(f"wrote {path}")
    if gaps:
        print("incomplete: " + ", ".join(f"{count} run(s) {status}" for status, count in sorted(gaps.items()))
              + "; claims.md says so", file=sys.stderr)
        return 1
    return 0
