"""`grpo claims [NAME ...]`: test claims of the literature (the canaries, the `sequence` preset's
two, plugins' claims) on their grids' sweeps and write one report, OUT/report.md, with a figure
per claim. Reads results/<grid>/; with --sweep, first runs (or finishes) each grid's sweep."""

import argparse
import os
import sys
import time
from pathlib import Path

from grpo.progress import shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="claims to test, or `canaries` for issue 24's (default: every registered claim; --list shows them)")
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="results root: a claim reads RESULTS/<its grid's name>/ (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("reports/claims"),
                        help="where report.md and the figures go (default %(default)s)")
    parser.add_argument("--sweep", action="store_true", help="run each claim's grid first (`grpo sweep`: what is"
                                                             " finished already is reused)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the private Ray runtime of --sweep (default: all)")
    parser.add_argument("--list", action="store_true", help="list the registered claims and exit")


def run(args: argparse.Namespace) -> int:
    from grpo.experiment.canaries import CLAIMS  # the registry (plugins discovered on use)

    if args.list:
        for name in CLAIMS:
            claim = CLAIMS[name]
            print(f"{name} [{CLAIMS.origin(name)}, grid {claim.grid}]: {claim.statement}")
        return 0
    claims = CLAIMS.chosen(args.names)
    from grpo.report import SweepCost, render_claims  # the statistics and plotting stack, imported only when used

    load_before, sweeps = os.getloadavg()[0], {}
    if args.sweep:
        from grpo.sweep.run import run_sweep

        grids = list(dict.fromkeys(claim.grid for claim in claims))
        for number, grid in enumerate(grids, 1):
            print(f"grpo claims: sweep {number}/{len(grids)}: {grid}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            outcome = run_sweep(grid, args.results, progress=True, num_cpus=args.num_cpus)
            sweeps[grid] = SweepCost(time.perf_counter() - start, outcome.trained, outcome.reused)
            print(f"grpo claims: sweep {grid}: trained {outcome.trained} run(s), reused {outcome.reused}, in"
                  f" {sweeps[grid].seconds:.1f} s", file=sys.stderr, flush=True)
            if outcome.failed or outcome.missing:
                print(f"grpo claims: sweep {grid}: {len(outcome.failed)} failed, {len(outcome.missing)} missing; the"
                      " report says so", file=sys.stderr)

    counter = iter(range(1, len(claims) + 1))

    def said(claim, outcome):
        if isinstance(outcome, str):
            print(f"grpo claims: {next(counter)}/{len(claims)} {claim.name}: not run ({outcome})", file=sys.stderr, flush=True)
            return
        row = outcome.table.iloc[-1]
        print(f"grpo claims: {next(counter)}/{len(claims)} {claim.name}: {outcome.verdict} {row.difference:+.4g}"
              f" [{row.low:+.4g}, {row.high:+.4g}] over {row.pairs} seeds, MDE {row.mde:.3g} ({outcome.seconds:.1f} s)",
              file=sys.stderr, flush=True)

    with shown():  # configurations read, on stderr
        path, outcomes, not_run = render_claims(claims, args.results, args.out, said, sweeps,
                                                (load_before, os.getloadavg()[0]))
    for outcome in outcomes:
        row = outcome.table.iloc[-1]
        print(f"{outcome.verdict}: {outcome.data.claim.name}: {outcome.data.claim.metric} = {row.difference:+.4g}"
              f" [{row.low:+.4g}, {row.high:+.4g}] over {row.pairs} seeds, MDE {row.mde:.3g}")
    print(f"wrote {path}")
    gaps = {outcome.data.claim.name: outcome.data.gaps for outcome in outcomes if outcome.data.gaps}
    if gaps:
        print("incomplete: " + ", ".join(gaps) + "; the report says so", file=sys.stderr)
        return 1
    return 0
