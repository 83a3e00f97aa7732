"""The `grpo` command: one subcommand per module, each with `add_arguments` and `run`.

Only the chosen subcommand's module is imported (``grpo train --help`` loads no plotting or
Ray code). ``grpo`` alone prints the usage and the list of commands on stderr and exits 2 (a
missing command is a usage error). No expected failure shows a traceback: argparse errors and
UsageError print one line and exit 2; an EnvironmentFault or OSError (a lost cluster, a full
disk) one line and exit 1. After a lost Ray head (grpo.errors.LostRuntime) the process ends as
soon as the command has cleaned up, in the main thread, skipping Ray's exit handlers, which
would wait 60 s for the head and then abort.
"""

import argparse
import importlib
import importlib.metadata
import os
import sys

from grpo.errors import EnvironmentFault, LostRuntime, UsageError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = {  # name -> (module, one-line help); modules are imported only when used
    "train": ("grpo.cli.train", "train one configuration over one or more seeds"),
    "sweep": ("grpo.cli.sweep", "run a grid of configurations under Ray Tune into results/<grid>/"),
    "report": ("grpo.cli.report", "render figures, statistics and report.md from a sweep's results"),
    "claims": ("grpo.cli.claims", "test claims of the literature (the canaries, plugins' claims) on their sweeps"),
    "bench": ("grpo.cli.bench", "run the benchmark suites in bench/ and render reports/bench/"),
    "export": ("grpo.cli.export", "write a sweep's curves and final metrics as TensorBoard event files"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def installed_version() -> str:
    """The version of the installed package (pyproject.toml's, read from its metadata)."""
    try:
        return importlib.metadata.version("grpo")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The `grpo` parser with the arguments of `command` only (None: just the command list)."""
    parser = OneLineParser(prog="grpo", description="An ablation harness for GRPO on a sorting toy task.")
    parser.add_argument("--version", action="version", version=f"grpo {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, (module, summary) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(module=module)
        if name == command:
            importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad argument (2, its line already printed)
        assert isinstance(exit_.code, int)  # argparse exits with a status, never a message
        return exit_.code
    except UsageError as error:  # a broken installation, e.g. two plugins claiming one mode name
        print(f"grpo: error: {error}", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return importlib.import_module(args.module).run(args) or 0
    except UsageError as error:
        print(f"grpo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except EnvironmentFault as fault:
        print(f"grpo {args.command}: error: {fault}", file=sys.stderr, flush=True)
        if isinstance(fault, LostRuntime):  # its clean-up done; Ray's exit handlers would wait for the lost head
            sys.stdout.flush()
            os._exit(1)
        return 1
    except OSError as error:  # a full disk, a vanished folder: the environment, not the input
        where = f": {error.filename!r}" if error.filename else ""
        print(f"grpo {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"grpo {args.command}: interrupted", file=sys.stderr)
        return 130
