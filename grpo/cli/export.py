"""`grpo export RESULTS --to tensorboard [--out DIR]`: a sweep's curves (seed mean and band) and
final metrics, with each configuration's fields as hyperparameters, as TensorBoard event files
(grpo.report.export; needs the optional `tensorboard` package: ``pip install 'grpo[export]'``)."""

import argparse
from pathlib import Path

from grpo.progress import shown

TARGETS = ("tensorboard",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path,
                        help="a sweep's results folder (e.g. results/full) or a `grpo train --out` parquet file")
    parser.add_argument("--to", choices=TARGETS, default="tensorboard", help="the format (default %(default)s)")
    parser.add_argument("--out", type=Path, help="the folder of the event files, one run per configuration (default:"
                                                 " RESULTS/tensorboard, or FILE's folder/<stem>-tensorboard)")


def default_out(results: Path) -> Path:
    return results / "tensorboard" if results.is_dir() else results.parent / f"{results.stem}-tensorboard"


def run(args: argparse.Namespace) -> int:
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
