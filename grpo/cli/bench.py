"""`grpo bench`: run the pytest-benchmark suites in bench/, keep their JSON under
results/bench/ and render reports/bench/. A `--quick` run keeps its JSON and report under
results/bench-quick/ (git-ignored), so it never overwrites the committed full report."""

import argparse
import subprocess
import sys
from pathlib import Path

from grpo.core.devices import parse_device
from grpo.errors import UsageError
from grpo.files import check_writable_dir
from grpo.report import render_bench

RESULTS_FOLDER, REPORT_FOLDER = Path("results/bench"), Path("reports/bench")
QUICK_FOLDER = Path("results/bench-quick")  # JSON and report of a --quick run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes only, a few rounds; JSON and report go to {QUICK_FOLDER} unless --results/--out say")
    parser.add_argument("--bench", type=Path, default=Path("bench"), help="the suites (default %(default)s)")
    parser.add_argument("--results", type=Path, help=f"JSON folder (default {RESULTS_FOLDER})")
    parser.add_argument("--out", type=Path, help=f"report folder (default {REPORT_FOLDER})")


def run(args: argparse.Namespace) -> int:
    if not (args.bench / "baseline.py").is_file():
        raise UsageError(f"no benchmark suites in {str(args.bench)!r}; run from the repository root or pass --bench")
    parse_device(args.device)  # the name only: without a CUDA device the CUDA suites skip cleanly
    results = args.results or (QUICK_FOLDER if args.quick else RESULTS_FOLDER)
    out = args.out or (QUICK_FOLDER if args.quick else REPORT_FOLDER)
    check_writable_dir(results)
    json_path = results.resolve() / "bench.json"
    command = [sys.executable, "-m", "pytest", str(args.bench.resolve()), "-q", "-p", "no:cacheprovider",
               f"--benchmark-json={json_path}", f"--device={args.device}", "--benchmark-columns=mean,rounds"]
    if args.quick:
        command.append("--quick")
    done = subprocess.run(command, cwd=args.bench.resolve().parent)
    if done.returncode != 0 or not json_path.exists():
        print(f"grpo bench: the suites failed (pytest exit {done.returncode})", file=sys.stderr)
        return 1
    out = render_bench(json_path, out, quick=args.quick)
    print(f"{out / 'report.md'} written from {json_path}")
    return 0
