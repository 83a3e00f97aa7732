"""`grpo export RESULTS --to tensorboard [--out DIR]`: a sweep's curves (seed mean and band) and
final metrics, with each configuration's fields as hyperparameters, as TensorBoard event files
(grpo.report.export; needs the optional `tensorboard` package: ``pip install 'grpo[export]'``).
`grpo export RESULTS --to rliable [--out FILE.npz|FILE.json]`: each run's primary outcome in
rliable's ``{method: array[runs, tasks]}`` form (grpo.report.rliable_export)."""

import argparse
from pathlib import Path

from grpo.progress import shown

TARGETS = ("tensorboard", "rliable")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path,
                        help="a sweep's results folder (e.g. results/full) or a `grpo train --out` parquet file")
    parser.add_argument("--to", choices=TARGETS, default="tensorboard", help="the format (default %(default)s)")
    parser.add_argument("--out", type=Path, help="tensorboard: the folder of the event files, one run per configuration"
                                                 " (default: RESULTS/tensorboard, or FILE's folder/<stem>-tensorboard);"
                                                 " rliable: a .npz or .json file (default: RESULTS/rliable.npz, or"
                                                 " FILE's folder/<stem>-rliable.npz)")


def default_out(results: Path) -> Path:
    return results / "tensorboard" if results.is_dir() else results.parent / f"{results.stem}-tensorboard"


def default_rliable_out(results: Path) -> Path:
    return results / "rliable.npz" if results.is_dir() else results.parent / f"{results.stem}-rliable.npz"


def run(args: argparse.Namespace) -> int:
    if args.to == "rliable":
        return run_rliable(args)
    from grpo.experiment.results import open_results
    from grpo.files import check_writable_dir
    from grpo.report.export import export_tensorboard, summary_writer

    summary_writer()  # a missing tensorboard fails before any reading
    results = open_results(args.results)
    out = args.out if args.out is not None else default_out(args.results)
    check_writable_dir(out)
    with shown():  # configurations read, on stderr
        written = export_tensorboard(results, out)
    print(f"wrote {len(written)} configuration(s) to {out}/; view them with: tensorboard --logdir {out}")
    return 0


def run_rliable(args: argparse.Namespace) -> int:
    from grpo.experiment.results import open_results
    from grpo.files import check_writable_dir
    from grpo.report.rliable_export import check_out, export_rliable

    out = check_out(args.out if args.out is not None else default_rliable_out(args.results))
    results = open_results(args.results)
    check_writable_dir(out.parent)
    with shown():  # configurations read, on stderr
        scores = export_rliable(results, out)
    print(f"wrote {len(scores)} configuration(s) x {next(iter(scores.values())).shape[0] if scores else 0} runs to {out}")
    return 0
