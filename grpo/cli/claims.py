"""`grpo claims [NAME ...]`: test claims of the literature (the canaries, the `sequence` preset's
two, plugins' claims) on their grids' sweeps and write one report, OUT/report.md, with a figure
per claim. Reads results/<grid>/; with --sweep, first runs (or finishes) each grid's sweep."""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from grpo.errors import EnvironmentFault, UsageError
from grpo.progress import shown

STALE = "report.stale.md"  # where a report goes when a later run of the command could not replace it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="claims to test, or `canaries` for the built-in ones (default: every registered claim; --list shows them)")
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
        on_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed job stops like Ctrl-C, as `grpo sweep`
        try:
            for number, grid in enumerate(grids, 1):
                print(f"grpo claims: sweep {number}/{len(grids)}: {grid}", file=sys.stderr, flush=True)
                start = time.perf_counter()
                outcome = run_sweep(grid, args.results, progress=True, num_cpus=args.num_cpus)
                sweeps[grid] = SweepCost(time.perf_counter() - start, outcome.trained, outcome.reused)
                if outcome.interrupted:
                    print(f"grpo claims: sweep {grid}: interrupted after training {outcome.trained} run(s); finished trials"
                          " are kept: run the same command again to finish (no report written)", file=sys.stderr)
                    return 1
                print(f"grpo claims: sweep {grid}: trained {outcome.trained} run(s), reused {outcome.reused}, in"
                      f" {sweeps[grid].seconds:.1f} s", file=sys.stderr, flush=True)
                if outcome.failed or outcome.missing:
                    print(f"grpo claims: sweep {grid}: {len(outcome.failed)} failed, {len(outcome.missing)} missing; the"
                          " report says so", file=sys.stderr)
        finally:
            signal.signal(signal.SIGTERM, on_sigterm)

    counter = iter(range(1, len(claims) + 1))

    def said(claim, outcome):
        if isinstance(outcome, str):
            print(f"grpo claims: {next(counter)}/{len(claims)} {claim.name}: not run ({outcome})", file=sys.stderr, flush=True)
            return
        row = outcome.table.iloc[-1]
        print(f"grpo claims: {next(counter)}/{len(claims)} {claim.name}: {row.difference:+.4g}"
              f" [{row.low:+.4g}, {row.high:+.4g}] over {row.pairs} seeds, p {row.p:.3g} before Holm, MDE {row.mde:.3g}"
              f" ({outcome.seconds:.1f} s)",
              file=sys.stderr, flush=True)

    try:
        with shown():  # configurations read, on stderr
            path, outcomes, not_run = render_claims(claims, args.results, args.out, said, sweeps,
                                                    (load_before, os.getloadavg()[0]))
    except (UsageError, EnvironmentFault) as error:  # no new report: the old one must not read as current
        stale = move_aside(args.out / "report.md")
        raise type(error)(f"{error}" + (f"; the previous report moved to {str(stale)!r}" if stale else "")) from None
    for outcome in outcomes:
        row = outcome.table.iloc[-1]
        measured = outcome.data.claim.summary == "measured"  # its values are its measure's, not the metric's
        print(f"{outcome.verdict}: {outcome.data.claim.name}: {'measured' if measured else outcome.data.claim.metric}"
              f" = {row.difference:+.4g}"
              f" [{row.low:+.4g}, {row.high:+.4g}] over {row.pairs} seeds, p_holm {outcome.p_holm:.3g}, MDE {row.mde:.3g}")
    print(f"wrote {path}")
    gaps = {outcome.data.claim.name: outcome.data.gaps for outcome in outcomes if outcome.data.gaps}
    if gaps:
        print("incomplete: " + ", ".join(gaps) + "; the report says so", file=sys.stderr)
    if not_run:
        print(f"incomplete: {len(not_run)} claim(s) not run ({', '.join(not_run)}): no sweep of their grids; the report"
              " says so", file=sys.stderr)
    return 1 if gaps or not_run else 0


def move_aside(report: Path) -> Path | None:
    """Rename `report` to report.stale.md beside it (replacing an older one); its new name, or None
    where there was none."""
    stale = report.with_name(STALE)
    try:
        os.replace(report, stale)
    except FileNotFoundError:
        return None
    return stale
