"""`grpo train`: one configuration, one or more seeds (stacked), progress (grpo.progress) and a summary.

Every TrainConfig field is a flag named like its grid key (``loss_mode`` -> ``--loss-mode``),
with the help, aliases (``--loss``), TRL's and verl's names (``--beta``, ``--clip-ratio-low``,
translated by grpo.core.config.in_own_terms) and choices its field metadata declares. Only the flags
given reach TrainConfig, so an option that does not apply (``--task-vocab`` on the seed task)
is refused, and an error names the flag as it was typed.
"""

import argparse
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from grpo.core.config import FIELDS, FOREIGN, TrainConfig, base_type, in_own_terms
from grpo.core.devices import resolve_device
from grpo.core.footprint import available_bytes, estimated_bytes
from grpo.core.schema import SUMMARY_METRICS
from grpo.core.seeds import FORMS, parse_seeds
from grpo.core.train import train_group_columns
from grpo.errors import FieldError, UsageError
from grpo.files import check_writable_dir
from grpo.modes.registry import summaries
from grpo.progress import Progress


class ParagraphHelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a help text on its own, so a mode's choices stay one per line."""

    def _split_lines(self, text, width):
        return [wrapped for line in text.splitlines()
                for wrapped in textwrap.wrap(line, width, subsequent_indent="    " if line.startswith("  ") else "",
                                              break_on_hyphens=False)]


class GivenOption(argparse.Action):
    """Keeps a config flag's text and the flag as typed in ``namespace.given``: field -> (flag, text)."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.given = {**namespace.given, self.dest: (option_string, values)}


METAVARS = {str: "NAME", int: "N", float: "X"}
SIZE_FIELDS = ("dim", "responses", "layers", "max_response_length", "task_length", "task_prompts", "task_heldout",
               "task_vocab")  # the flags that make a run big


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_help(spec) -> str:
    """A field's help: its text, its default, and one line per choice from the registry's docstrings."""
    text = spec.metadata["help"]
    if spec.default is not None:
        text += f" (default {spec.default})"
    for choice, summary in summaries(spec.metadata["choices"] or {}).items():
        text += f"\n  {choice}: {summary}"
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = ParagraphHelpFormatter
    parser.set_defaults(given={})
    options = parser.add_argument_group(
        "configuration", "The grid keys. Defaults are the seed document's. A flag that does not apply to the chosen"
        " task, loss or KL setting is refused.")
    for name, spec in FIELDS.items():
        foreign = [alias for alias in spec.metadata["foreign"] if alias.name != name]
        options.add_argument(flag(name), *spec.metadata["aliases"], *[alias.flag for alias in foreign if not alias.instead],
                             dest=name, action=GivenOption, default=argparse.SUPPRESS, metavar=METAVARS[base_type(spec)],
                             help=field_help(spec))
        for alias in foreign:
            if alias.instead:  # read only to say what to use instead (grpo.core.config.in_own_terms)
                options.add_argument(alias.flag, dest=alias.name, action=GivenOption, default=argparse.SUPPRESS,
                                     help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default="1", help=f"{FORMS} (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    parser.add_argument("--out", type=Path, help="write the records to this .parquet file")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def translated(args: argparse.Namespace) -> dict[str, tuple[str, str, str]]:
    """field -> (flag as typed, its text in this project's terms, note), TRL's and verl's names and
    values translated (``--loss-type dapo`` -> loss_agg token_mean); FieldError for one with no equal."""
    given = {}
    for name, (typed, text) in args.given.items():
        key = typed.removeprefix("--").replace("-", "_")
        _, text, note = in_own_terms(key if key in FOREIGN else name, text, typed)  # a short alias (--loss): its field
        given[name] = typed, text, note
    return given


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig of the given config flags; FieldError naming the flag as typed."""
    values, given = {}, translated(args)
    for name, (typed, text, _) in given.items():
        kind = base_type(FIELDS[name])
        try:
            values[name] = kind(text)
        except ValueError:
            raise FieldError(typed, text, f"must be {'an integer' if kind is int else 'a number'}") from None
    try:
        return TrainConfig(**values)
    except FieldError as error:
        if error.name not in args.given:
            raise
        typed, text = args.given[error.name]
        value = text if text != given[error.name][1] else error.value  # a translated value: as typed
        raise FieldError(typed, value, error.problem) from None


def check_fits(config: TrainConfig, task, num_seeds: int, device, given: dict) -> None:
    """UsageError naming the size flags given when the run cannot fit in the device's memory."""
    needed, available = estimated_bytes(config, task, num_seeds), available_bytes(device)
    if available is not None and needed > available:
        sizes = [f"{typed} {text}" for name, (typed, text) in given.items() if name in SIZE_FIELDS]
        raise UsageError(f"{', '.join([*sizes, f'{num_seeds} seed(s)'])}: the run needs about {needed / 2**30:,.0f} GiB"
                         f" of memory, {device.type} has {available / 2**30:,.1f} GiB available; ask for smaller sizes")


def summary(columns: dict[str, np.ndarray]) -> str:
    """Seed-mean of each summary metric on the first and the last epoch where it is recorded (NaNs
    left out: the eval metrics are set on each evaluated epoch's last step only, so with eval_every
    above 1 their start is the first evaluation; nan for a metric never finite), one line each, to 3 decimals."""
    epochs, width = columns["epoch"], max(map(len, SUMMARY_METRICS))
    lines = [f"{'':<{width}}  {'start':>6}  {'end':>6}"]
    for name in SUMMARY_METRICS:
        values = columns[name].astype(np.float64)
        recorded = epochs[np.isfinite(values)]
        start, end = ((np.nanmean(values[epochs == epoch]) for epoch in (recorded.min(), recorded.max()))
                      if len(recorded) else (np.nan, np.nan))  # never finite (a plugin's reward of best 0): nan
        lines.append(f"{name:<{width}}  {start:6.3f}  {end:6.3f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    for _, _, note in translated(args).values():
        if note:
            print(f"note: {note}", file=sys.stderr)
    seeds = parse_seeds(args.seeds, "--seeds")
    device = resolve_device(args.device)
    if args.out is not None:
        if args.out.suffix != ".parquet":
            raise FieldError("--out", str(args.out), "must name a .parquet file")
        check_writable_dir(args.out.parent)
    check_fits(config, config.make_task(), len(seeds), device, args.given)  # impossible sizes fail before any work

    start = time.perf_counter()
    with Progress(config.epochs, "epochs", "epoch", enabled=not args.quiet) as bar:
        columns = train_group_columns([config], seeds, device, on_epoch=lambda epoch: bar.update())[0]
    wall = time.perf_counter() - start

    if args.out is not None:  # pandas and pyarrow only here: a run without --out spares their import
        import pandas as pd

        from grpo.experiment.results import write_records
        write_records(pd.DataFrame(columns), config, args.out)
    print(
        f"{config.reward_fn} / {config.deltas_mode} / {config.loss_mode} / kl {config.kl_penalty:g}"
        f" on task {config.task}: {len(seeds)} seed(s), {config.epochs} epochs x {config.steps_per_epoch} steps"
        f" in {wall:.1f} s"
    )
    print(summary(columns))
    if args.out is not None:
        print(f"records: {args.out} ({len(columns['epoch'])} rows)")
    return 0
