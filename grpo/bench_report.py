"""Turn pytest-benchmark JSON from bench/ into reports/bench/: ratio tables and figures.

Every ratio compares two implementations measured in the same run.
"""

import json
from pathlib import Path

import pandas as pd

from grpo import figures
from grpo.io import write_atomic
from grpo.report import markdown_table

TARGETS = {20: 20.0, 100: 50.0}  # seeds -> per-seed-step speed-up asked for on a 2-core machine


def load_benchmarks(path: Path) -> pd.DataFrame:
    data = json.loads(path.read_text())
    rows = [{**bench["extra_info"], "median_s": bench["stats"]["median"], "rounds": bench["stats"]["rounds"]}
            for bench in data["benchmarks"]]
    return pd.DataFrame(rows), data.get("machine_info", {})


def pair(frame: pd.DataFrame, keys: list[str], ours: str = "ours", base: str = "baseline") -> pd.DataFrame:
    table = frame.pivot_table(index=keys, columns="impl", values="median_s", aggfunc="first")
    table["speed-up"] = table[base] / table[ours]
    return table.reset_index()


def render_bench(json_path: Path, out: Path) -> Path:
    frame, machine = load_benchmarks(json_path)
    out.mkdir(parents=True, exist_ok=True)
    sections = [f"# Benchmarks\n\nMachine: {machine.get('cpu', {}).get('brand_raw', '?')},"
                f" {machine.get('cpu', {}).get('count', '?')} CPUs; Python {machine.get('python_version', '?')}."
                " Every ratio compares two implementations measured in the same run; `baseline` is the seed's"
                " way (bench/baseline.py). Times are medians over the rounds. All results were checked to agree"
                " (`agrees` in the JSON).\n"]
    steps = frame[frame.suite == "train_step"].astype({"seeds": int})
    if len(steps):
        table = pair(steps, ["seeds"])
        table["ours per seed-step (µs)"] = 1e6 * table["ours"] / table["seeds"]
        table["baseline per seed-step (µs)"] = 1e6 * table["baseline"] / table["seeds"]
        table["target"] = table.seeds.map(lambda s: f"≥ {TARGETS[s]:.0f}×" if s in TARGETS else "")
        sections.append("## Train step: time per seed-step, S seeds stacked vs one model per seed\n\n" + markdown_table(
            table[["seeds", "ours per seed-step (µs)", "baseline per seed-step (µs)", "speed-up", "target"]], 1))
        long = table.melt(id_vars="seeds", value_vars=["ours per seed-step (µs)", "baseline per seed-step (µs)"],
                          var_name="implementation", value_name="µs per seed-step")
        figure = figures.scaling(long)
        write_atomic(out / "train_step_scaling.png", lambda tmp: figures.save(figure, tmp))
        sections.append("![per-seed-step time vs stacked seeds](train_step_scaling.png)\n")
    epochs = frame[frame.suite == "epoch"].astype({"seeds": int})
    if len(epochs):
        epochs = epochs.assign(**{"ms per seed-epoch": 1e3 * epochs.median_s / epochs.seeds})
        sections.append("## One epoch of grpo.train (sampling, rewards, 10 inner steps)\n\n"
                        + markdown_table(epochs[["seeds", "ms per seed-epoch"]], 2))
    kernels = frame[frame.suite == "logprob"]
    if len(kernels):
        table = pair(kernels, ["size"])
        peaks = kernels.pivot_table(index="size", columns="impl", values="peak_bytes", aggfunc="first")
        table = table.join(peaks.add_suffix(" peak MiB") / 2**20, on="size")
        if "baseline peak MiB" in table:
            table["memory ratio"] = table["baseline peak MiB"] / table["ours peak MiB"]
        if "copy" in table:
            logits_bytes = kernels.groupby("size").logits_bytes.first()
            table["copy GB/s"] = 2 * table["size"].map(logits_bytes) / table["copy"] / 1e9  # read + write
            table["ours time / copy time"] = table["ours"] / table["copy"]
        sections.append("## Log-prob lookup (forward + backward): ours vs repeat + gather\n\n"
                        "Times in seconds; peak memory measured in a fresh process; a missing baseline did not fit"
                        " in memory (repeat + gather would materialise 2 × batch × responses × positions × vocab"
                        " floats: 15.6 GiB at the LLM-like size).\n\n" + markdown_table(table, 4))
    losses = frame[frame.suite == "loss"]
    if len(losses):
        sections.append("## Loss kernels (forward + backward)\n\n" + markdown_table(pair(losses, ["size", "mode"]), 6))
    grid = frame[frame.suite == "grid"].astype({"configurations": int})
    if len(grid):
        table = pair(grid, ["configurations"], ours="in-process", base="ray").rename(columns={"speed-up": "Ray / in-process"})
        sections.append("## The smoke grid end to end (seconds)\n\n" + markdown_table(table, 2))
    write_atomic(out / "report.md", lambda tmp: tmp.write_text("\n\n".join(sections) + "\n"))
    return out
