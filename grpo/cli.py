"""The `grpo` command: one subcommand per module, each with `add_arguments` and `run`.

Bad input never shows a traceback: argparse errors and UsageError print one line and exit 2.
"""

import argparse
import importlib
import sys

from grpo.errors import UsageError

COMMANDS = {  # name -> (module, one-line help); modules are imported only when used
    "train": ("grpo.cli_train", "train one configuration over one or more seeds"),
    "sweep": ("grpo.cli_sweep", "run a grid of configurations under Ray Tune into results/<grid>/"),
    "report": ("grpo.cli_report", "render figures, statistics and report.md from a sweep's results"),
    "bench": ("grpo.cli_bench", "run the benchmark suites in bench/ and render reports/bench/"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="grpo", description="An ablation harness for GRPO on a sorting toy task.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, (module, summary) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        sub.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return importlib.import_module(args.module).run(args) or 0
    except UsageError as error:
        print(f"grpo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"grpo {args.command}: interrupted", file=sys.stderr)
        return 130
