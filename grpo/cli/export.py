"""`grpo export RESULTS --to tensorboard [--out DIR]`: a sweep's curves (seed mean and band) and
final metrics, with each configuration's fields as hyperparameters, as TensorBoard event files
(grpo.report.export; needs the optional `tensorboard` package: ``pip install 'grpo[export]'``).
OUT is written whole beside itself and then put in place: an earlier export there is replaced,
a folder of other files refused. Configurations without records, or without all their runs, are
named on stderr (exit 1)."""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grpo.errors import UsageError
from grpo.progress import shown

TARGETS = ("tensorboard",)
MARKER = ".grpo-export"  # in OUT: the folder is an export's, replaced by the next export into it
EVENTS = "events.out.tfevents."  # the names of TensorBoard's event files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path,
                        help="a sweep's results folder (e.g. results/full) or a `grpo train --out` parquet file")
    parser.add_argument("--to", choices=TARGETS, default="tensorboard", help="the format (default %(default)s)")
    parser.add_argument("--out", type=Path, help="the folder of the event files, one run per configuration (default:"
                                                 " RESULTS/tensorboard, or FILE's folder/<stem>-tensorboard)")


def default_out(results: Path) -> Path:
    return results / "tensorboard" if results.is_dir() else results.parent / f"{results.stem}-tensorboard"


def run(args: argparse.Namespace) -> int:
    from grpo.experiment.results import INCOMPLETE, open_results
    from grpo.experiment.store import few
    from grpo.files import check_writable_dir
    from grpo.report.export import export_tensorboard, summary_writer

    summary_writer()  # a missing tensorboard fails before any reading
    results = open_results(args.results)
    out = args.out if args.out is not None else default_out(args.results)
    check_replaceable(out)
    check_writable_dir(out.parent)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))  # beside OUT: one rename away
    try:
        with shown():  # configurations read, on stderr
            written = export_tensorboard(results, scratch)
        (scratch / MARKER).write_text("written by grpo export; a later export into this folder replaces it\n")
        replace_folder(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {len(written)} configuration(s) to {out}/; view them with: tensorboard --logdir {out}")
    runs = results.runs
    without = [config_id for config_id in runs.config_id.drop_duplicates() if config_id not in results.files]
    partial = [config_id for config_id in runs.config_id[runs.status.isin(INCOMPLETE)].drop_duplicates()
               if config_id in results.files]
    if without or partial:
        print("incomplete: " + "; ".join(
            ([f"left out {len(without)} configuration(s) without records ({few(without)})"] if without else [])
            + ([f"exported {len(partial)} configuration(s) without all their runs ({few(partial)})"] if partial else []))
              + "; run the same sweep again to finish", file=sys.stderr)
        return 1
    return 0


def check_replaceable(out: Path) -> None:
    """UsageError unless `out` is absent, empty, or an earlier export's (its MARKER, or event files
    alone: an export of older code): grpo export replaces its own output and nothing else."""
    if not out.is_dir():
        if out.exists():
            raise UsageError(f"--out {str(out)!r} is a file; choose a folder")
        return
    ours = (out / MARKER).is_file() or all(path.is_dir() or path.name.startswith(EVENTS) for path in out.rglob("*"))
    if not ours:
        raise UsageError(f"--out {str(out)!r} holds files grpo export did not write; choose an empty or new folder")


def replace_folder(new: Path, out: Path) -> None:
    """Put the folder `new` in the place of `out` (an earlier export, or nothing): renames, the
    earlier folder removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
