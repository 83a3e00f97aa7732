"""`grpo bench`: run the pytest-benchmark suites in bench/, keep their JSON under
results/bench/ and render reports/bench/."""

import argparse
import subprocess
import sys
from pathlib import Path

from grpo.bench_report import render_bench
from grpo.errors import UsageError
from grpo.io import check_writable_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="small sizes only, a few rounds")
    parser.add_argument("--bench", type=Path, default=Path("bench"), help="the suites (default %(default)s)")
    parser.add_argument("--results", type=Path, default=Path("results/bench"), help="JSON folder (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"), help="report folder (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    if not (args.bench / "baseline.py").is_file():
        raise UsageError(f"no benchmark suites in {str(args.bench)!r}; run from the repository root or pass --bench")
    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {args.device!r}; choose from cpu, cuda")
    check_writable_dir(args.results)
    json_path = args.results.resolve() / "bench.json"
    command = [sys.executable, "-m", "pytest", str(args.bench.resolve()), "-q", "-p", "no:cacheprovider",
               f"--benchmark-json={json_path}", f"--device={args.device}", "--benchmark-columns=mean,rounds"]
    if args.quick:
        command.append("--quick")
    done = subprocess.run(command, cwd=args.bench.resolve().parent)
    if done.returncode != 0 or not json_path.exists():
        print(f"grpo bench: the suites failed (pytest exit {done.returncode})", file=sys.stderr)
        return 1
    out = render_bench(json_path, args.out)
    print(f"{out / 'report.md'} written from {json_path}")
    return 0
