"""Turn pytest-benchmark JSON from bench/ into reports/bench/: ratio tables and figures.

Every ratio compares two implementations measured in the same run; the hardware floor of a
seed-step divides its FLOPs and bytes (bench/floor.py) by the matmul FLOP/s and the copy
bandwidth measured in that run too (bench/test_machine.py).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from grpo.report._bench_figures import scaling
from grpo.report._folder import write_figure, write_text
from grpo.report._markdown import markdown_table

TARGETS = {20: 40.0, 1000: 100.0, 10000: 100.0}  # seeds -> per-seed-step speed-up asked for
EVALUATED_ONCE = "ours, evaluated at the last epoch only"  # the impl of bench/test_training_loop.py's loop nearer the seed-style work
PROCESS_TARGET = 20.0  # whole `grpo train --seeds 20` process beyond importing torch, per seed-step
STUDY_TARGET = 1.5  # the grouped sensitivity study's wall time over the `full` grid's alone, at most
TRL_TARGET = 12.0  # the transformer testbed at 100 stacked seeds over TRL's GRPOTrainer, per (seed, optimizer step), at least
FLOOR_TARGET = 2.5  # ... and over its FLOP floor at the model's shapes, at most
GOAL_SEEDS = 100
TRANSFORMER_MATMUL = "matmul at the transformer's shapes"  # the impl of bench/test_transformer.py's rate
MS = 1e3
STUDY_SWEEPS = {"full": "`full` grid alone", "grouped": "`full` × 4 lr, grouped",
                "one-per-trial": "`full` × 4 lr, one configuration per trial"}  # bench/test_study.py's impls
US = 1e6
WALL_CLOCK_SUITES = {"process": "the whole processes", "grid": "the smoke grid", "study": "the sensitivity study"}  # by suite


def load_benchmarks(path: Path) -> tuple[pd.DataFrame, dict]:
    """One row per benchmark: its extra_info, median_s, rounds and timer (its clock); and pytest-benchmark's
    machine_info with the run's timers and the suites timed by the wall clock (`wall_suites`)."""
    data = json.loads(path.read_text())
    rows = [{**bench["extra_info"], "median_s": bench["stats"]["median"], "rounds": bench["stats"]["rounds"],
             "timer": bench.get("options", {}).get("timer", "perf_counter")} for bench in data["benchmarks"]]
    frame = pd.DataFrame(rows)
    timers = set(frame.timer) if len(frame) else set()
    wall = sorted(set(frame.suite[frame.timer != "process_time"].dropna())) if "suite" in frame else []
    return frame, {**data.get("machine_info", {}), "timers": sorted(timers), "wall_suites": wall}


def pair(frame: pd.DataFrame, keys: list[str], ours: str = "ours", base: str = "baseline") -> pd.DataFrame:
    table = frame.pivot_table(index=keys, columns="impl", values="median_s", aggfunc="first")
    table["speed-up"] = table[base] / table[ours]
    return table.reset_index()


def machine_rates(frame: pd.DataFrame) -> dict[str, float]:
    """The run's measured matmul FLOP/s and copy bytes/s (empty if the machine suite did not run)."""
    machine = frame[frame.suite == "machine"].set_index("impl") if "suite" in frame else pd.DataFrame()
    rates = {}
    if "matmul" in machine.index:
        rates["flops"] = machine.loc["matmul", "flops"] / machine.loc["matmul", "median_s"]
    if TRANSFORMER_MATMUL in machine.index:
        rates["transformer_flops"] = machine.loc[TRANSFORMER_MATMUL, "flops"] / machine.loc[TRANSFORMER_MATMUL, "median_s"]
    if "copy" in machine.index:
        rates["bytes"] = machine.loc["copy", "bytes"] / machine.loc["copy", "median_s"]
    return rates


def per_seed_step(frame: pd.DataFrame) -> pd.Series:
    """µs per seed-step of each row: its median over the seed-steps one timed call takes."""
    return US * frame.median_s / frame.seed_steps


def target_label(seeds: int) -> str:
    return f"≥ {TARGETS[seeds]:.0f}×" if seeds in TARGETS else ""


def step_table(frame: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """Inner step per seed-step: ours at each S against the baseline at the same S, and how
    far ours is from the FLOP and byte floor of a seed-step."""
    frame = frame.astype({"seeds": int}).assign(us=per_seed_step)
    table = frame.pivot_table(index="seeds", columns="impl", values="us", aggfunc="first").reset_index()
    table = table.rename(columns={"ours": "ours (µs)", "baseline": "baseline (µs)"})[["seeds", "ours (µs)", "baseline (µs)"]]
    table["speed-up"] = table["baseline (µs)"] / table["ours (µs)"]
    table["target"] = table.seeds.map(target_label)
    costs = frame.groupby("seeds")[["flops", "bytes"]].first()
    if "flops" in rates:
        table["FLOP floor (µs)"] = table.seeds.map(US * costs.flops / rates["flops"])
    if "bytes" in rates:
        table["byte floor (µs)"] = table.seeds.map(US * costs["bytes"] / rates["bytes"])
    floors = [name for name in ("FLOP floor (µs)", "byte floor (µs)") if name in table]
    if floors:
        table["ours / floor"] = table["ours (µs)"] / table[floors].max(axis=1)
    return table


def lever_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each lever undone alone, at the S it was measured at: how much slower the step gets."""
    frame = frame.astype({"seeds": int}).assign(us=per_seed_step)
    table = frame.pivot_table(index="seeds", columns="impl", values="us", aggfunc="first")
    levers = [impl for impl in table.columns if impl not in ("ours", "baseline")]
    rows = [{"seeds": seeds, "variant": lever, "ours (µs)": table.loc[seeds, "ours"], "variant (µs)": table.loc[seeds, lever],
             "variant / ours": table.loc[seeds, lever] / table.loc[seeds, "ours"]}
            for lever in levers for seeds in table.index if not np.isnan(table.loc[seeds, lever])]
    return pd.DataFrame(rows)


def loop_table(frame: pd.DataFrame, impl: str = "ours") -> pd.DataFrame:
    """One implementation's whole training loop per seed-step at each S against the seed-style
    loop (measured once: one model after another, its time per seed-step does not depend on S)."""
    frame = frame.astype({"seeds": int}).assign(us=per_seed_step)
    ours = frame[frame.impl == impl].sort_values("seeds")
    baseline = frame[frame.impl == "baseline"].us.median()
    table = pd.DataFrame({"seeds": ours.seeds, "ours (µs)": ours.us, "baseline (µs)": baseline})
    table["speed-up"] = table["baseline (µs)"] / table["ours (µs)"]
    table["target"] = table.seeds.map(target_label)
    return table.reset_index(drop=True)


def process_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole processes: seconds each, and per seed-step beyond `python -c "import torch"`."""
    medians = frame.set_index("impl").median_s
    steps = frame.set_index("impl").seed_steps
    rows = []
    for impl in ("ours", "baseline"):
        if impl in medians:
            beyond = medians[impl] - medians.get("import torch", np.nan)
            rows.append({"process": {"ours": "grpo train", "baseline": "seed-style run"}[impl], "seeds x steps": int(steps[impl]),
                         "wall (s)": medians[impl], "beyond import torch (s)": beyond,
                         "per seed-step (µs)": US * beyond / steps[impl]})
    table = pd.DataFrame(rows)
    if len(table) == 2:
        table["speed-up"] = [table["per seed-step (µs)"].iloc[1] / table["per seed-step (µs)"].iloc[0], np.nan]
    return table


def study_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity study's sweeps (bench/test_study.py): wall time each, and over the
    `full` grid's alone."""
    frame = frame.set_index("impl")
    rows = [{"sweep": label, "configurations": int(frame.loc[impl, "configurations"]), "trials": int(frame.loc[impl, "trials"]),
             "runs": int(frame.loc[impl, "runs"]), "wall (s)": frame.loc[impl, "median_s"],
             "wall / full alone": frame.loc[impl, "median_s"] / frame.median_s.get("full", np.nan)}
            for impl, label in STUDY_SWEEPS.items() if impl in frame.index]
    return pd.DataFrame(rows)


def goals_table(loop: pd.DataFrame | None, processes: pd.DataFrame | None, study: pd.DataFrame | None,
                transformer_loop: pd.DataFrame | None = None, trl: pd.DataFrame | None = None,
                loop_once: pd.DataFrame | None = None) -> pd.DataFrame:
    """The speed goals, each as the ratio this run measured: the transformer
    testbed against TRL and its floor, the training loop at S = 20 and S = 1000 (and with its
    held-out evaluation at the last epoch only, `loop_once`), the whole process, the grouped study."""
    rows = transformer_goals(transformer_loop, pd.DataFrame() if trl is None else trl)
    for table, how in ((loop, ""), (loop_once, ", held-out evaluation at the last epoch only (the seed-style loop's: none)")):
        speed_ups = pd.Series(dtype=float) if table is None else table.set_index("seeds")["speed-up"]
        for seeds in [seeds for seeds in (20, 1000) if seeds in speed_ups]:
            measured = speed_ups[seeds]
            rows.append({"goal": f"training loop at S = {seeds} vs seed-style{how}", "measured": f"{measured:.1f}×",
                         "target": f"≥ {TARGETS[seeds]:.0f}×", "met": "yes" if measured >= TARGETS[seeds] else "no"})
    if processes is not None and "speed-up" in processes:
        measured = processes["speed-up"].iloc[0]
        rows.append({"goal": "`grpo train --seeds 20` process vs seed-style, minus import torch", "measured": f"{measured:.1f}×",
                     "target": f"≥ {PROCESS_TARGET:.0f}×", "met": "yes" if measured >= PROCESS_TARGET else "no"})
    if study is not None and STUDY_SWEEPS["grouped"] in set(study.sweep):
        grouped = study.set_index("sweep")["wall / full alone"][STUDY_SWEEPS["grouped"]]
        rows.append({"goal": "grouped `full` × 4 lr study / `full` grid alone (wall time)", "measured": f"{grouped:.2f}×",
                     "target": f"≤ {STUDY_TARGET}×", "met": "yes" if grouped <= STUDY_TARGET else "no"})
    return pd.DataFrame(rows)


def transformer_floors(frame: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """ms per seed of each row and its floors: FLOPs over the matmul rate at the model's shapes
    (the 512 x 512 rate where that did not run), parameter traffic over the copy bandwidth."""
    frame = frame.astype({"seeds": int}).assign(**{"ours (ms)": MS * frame.median_s / frame.seed_steps})
    flops_rate = rates.get("transformer_flops", rates.get("flops"))
    if flops_rate:
        frame["FLOP floor (ms)"] = MS * frame.flops / flops_rate
    if "bytes" in rates:
        frame["byte floor (ms)"] = MS * frame["bytes"] / rates["bytes"]
    floors = [name for name in ("FLOP floor (ms)", "byte floor (ms)") if name in frame]
    if floors:
        frame["ours / floor"] = frame["ours (ms)"] / frame[floors].max(axis=1)
    return frame


def transformer_loop_table(frame: pd.DataFrame, trl: pd.DataFrame, rates: dict[str, float], cpu: bool = False) -> pd.DataFrame:
    """The whole loop per (seed, optimizer step) at each S, its floor, and TRL's GRPOTrainer
    (one seed a process) over it, by the same clock as the loop's times (`cpu`: CPU seconds)."""
    table = transformer_floors(frame, rates).sort_values("seeds")
    columns = ["seeds", "ours (ms)", *[c for c in ("FLOP floor (ms)", "byte floor (ms)", "ours / floor") if c in table]]
    table = table[columns].reset_index(drop=True)
    if len(trl):
        table["TRL (ms)"] = MS * (trl.cpu_seconds_per_step if cpu else trl.seconds_per_step).median()
        table["TRL / ours"] = table["TRL (ms)"] / table["ours (ms)"]
    return table


def transformer_parts_table(frame: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """Each part per seed (a rollout, a gradient step, an evaluation) at each S, against its floor."""
    table = transformer_floors(frame, rates)
    columns = ["part", "seeds", "ours (ms)", *[c for c in ("FLOP floor (ms)", "byte floor (ms)", "ours / floor") if c in table]]
    order = {part: i for i, part in enumerate(("rollout", "gradient step", "evaluation"))}
    return table.sort_values(["part", "seeds"], key=lambda c: c.map(order) if c.name == "part" else c)[columns].reset_index(drop=True)


def transformer_lever_table(levers: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """Each lever undone alone: its part's time per seed over the part's with every lever in place."""
    ours = parts.astype({"seeds": int}).set_index(["part", "seeds"])
    rows = []
    for lever in levers.astype({"seeds": int}).itertuples():
        if (lever.part, lever.seeds) in ours.index:
            mine = ours.loc[(lever.part, lever.seeds)]
            rows.append({"lever undone": lever.impl, "part": lever.part, "seeds": lever.seeds,
                         "undone (ms)": MS * lever.median_s / lever.seed_steps, "ours (ms)": MS * mine.median_s / mine.seed_steps,
                         "undone / ours": lever.median_s / mine.median_s})
    return pd.DataFrame(rows)


def transformer_goals(loop: pd.DataFrame | None, trl: pd.DataFrame) -> list[dict]:
    """The goals for the transformer testbed: TRL over ours as measured alternately in
    one test (wall, then CPU time), or else from the loop table; the floor and the per-seed cost
    from the loop table."""
    if loop is None or GOAL_SEEDS not in set(loop.seeds):
        return []
    at = loop.set_index("seeds")
    rows = []
    goal = f"transformer, S = {GOAL_SEEDS} stacked: TRL GRPOTrainer / ours per (seed, optimizer step)"
    if len(trl) and "ours_seconds_per_step" in trl:
        first = trl.iloc[0]
        for clock, trl_s, ours_s in (("wall", first.seconds_per_step, first.ours_seconds_per_step),
                                     ("CPU", first.cpu_seconds_per_step, first.ours_cpu_seconds_per_step)):
            measured = trl_s / ours_s
            rows.append({"goal": f"{goal}, both after a warm-up rollout, alternated, {clock} time",
                         "measured": f"{measured:.1f}×", "target": f"≥ {TRL_TARGET:.0f}×",
                         "met": "yes" if measured >= TRL_TARGET else "no"})
    elif "TRL / ours" in at:
        measured = at.loc[GOAL_SEEDS, "TRL / ours"]
        rows.append({"goal": goal, "measured": f"{measured:.1f}×", "target": f"≥ {TRL_TARGET:.0f}×",
                     "met": "yes" if measured >= TRL_TARGET else "no"})
    if "ours / floor" in at:
        measured = at.loc[GOAL_SEEDS, "ours / floor"]
        rows.append({"goal": f"transformer, S = {GOAL_SEEDS} stacked: ours / FLOP floor per (seed, optimizer step)",
                     "measured": f"{measured:.2f}×", "target": f"≤ {FLOOR_TARGET}×", "met": "yes" if measured <= FLOOR_TARGET else "no"})
    if 20 in at.index:
        ratio = at.loc[GOAL_SEEDS, "ours (ms)"] / at.loc[20, "ours (ms)"]
        rows.append({"goal": f"transformer: per-seed cost at S = {GOAL_SEEDS} / at S = 20", "measured": f"{ratio:.2f}×",
                     "target": "< 1× (falls)", "met": "yes" if ratio < 1 else "no"})
    return rows


def scaling_curves(steps: pd.DataFrame | None, loop: pd.DataFrame | None) -> pd.DataFrame:
    """The step and loop tables as tidy curves for the scaling figure (grpo.report._bench_figures.scaling)."""
    curves = []
    if steps is not None:
        curves.append(steps.assign(curve="grpo: inner step", value=steps["ours (µs)"]))
        curves.append(steps.assign(curve="seed-style: inner step", value=steps["baseline (µs)"]))
        floors = [name for name in ("FLOP floor (µs)", "byte floor (µs)") if name in steps]
        if floors:
            curves.append(steps.assign(curve="floor: max(FLOPs, bytes)", value=steps[floors].max(axis=1)))
    if loop is not None:
        curves.append(loop.assign(curve="grpo: training loop", value=loop["ours (µs)"]))
        curves.append(loop.assign(curve="seed-style: training loop", value=loop["baseline (µs)"]))
    return pd.concat([c[["seeds", "curve", "value"]] for c in curves]).rename(
        columns={"curve": "implementation", "value": "µs per seed-step"})


def header(machine: dict, rates: dict[str, float], quick: bool) -> str:
    cpu = machine.get("cpu", {})
    lines = ["# Benchmarks\n"]
    if quick:
        lines.append("**Quick run** (`grpo bench --quick`: small sizes, few rounds) — not the committed full report.\n")
    load = machine.get("load_average", "?")
    lines.append(f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} CPUs, load average"
                 f" {load}{'' if 'began' in load else ' when the run began'}; Python {machine.get('python_version', '?')};"
                 f" device {machine.get('device', 'cpu')}. The training suites run on one intra-op thread, as a sweep's"
                 " trials do. Every ratio compares two implementations measured in the same run; `baseline` is the"
                 " seed document's way (bench/baseline.py). Times are medians over the rounds. All results were"
                 " checked to agree (`agrees` in the JSON).")
    if "process_time" in machine.get("timers", []):
        wall = [WALL_CLOCK_SUITES.get(suite, f"`{suite}`") for suite in machine.get("wall_suites", [])]
        lines.append("\nTimes are the benchmark process's CPU seconds (`time.process_time`), not wall time: on a shared,"
                     " loaded machine they move far less with the load (the suites here run on one thread)."
                     + (f" Timed by the wall clock instead, because their work runs in other processes (subprocesses,"
                        f" Ray's workers; bench/conftest.py): {', '.join(wall)}." if wall else ""))
    if rates:
        measured = []
        if "flops" in rates:
            measured.append(f"matrix products {rates['flops'] / 1e9:.1f} GFLOP/s (512 × 512 sgemm)")
        if "transformer_flops" in rates:
            measured.append(f"{rates['transformer_flops'] / 1e9:.1f} GFLOP/s at the transformer testbed's shapes (batched"
                            " products of width 32 over 20 seeds, forward and both gradients)")
        if "bytes" in rates:
            measured.append(f"memory copy {rates['bytes'] / 1e9:.1f} GB/s (128 MiB, read + write)")
        lines.append("\nThe machine's limits, measured in this run on one thread: " + "; ".join(measured) + ".")
    return "\n".join(lines) + "\n"


def render_bench(json_path: Path, out: Path, quick: bool = False) -> Path:
    """reports/bench/report.md (and its figure) from a `grpo bench` JSON: the header, the goals,
    then each suite's section in the report's order; a suite that did not run leaves its out."""
    frame, machine = load_benchmarks(json_path)
    out.mkdir(parents=True, exist_ok=True)
    rates = machine_rates(frame)
    rows = suite_rows(frame)
    loop = loop_table(rows("loop")) if len(rows("loop")) else None
    loop_once = loop_table(rows("loop"), EVALUATED_ONCE) if EVALUATED_ONCE in set(rows("loop").get("impl", [])) else None
    steps = step_table(rows("train_step"), rates) if len(rows("train_step")) else None
    processes = rows("process")
    process_rows = process_table(processes) if len(processes) else None
    study = study_table(rows("study")) if len(rows("study")) else None
    trl = rows("transformer_trl")
    ar_loop = (transformer_loop_table(rows("transformer_loop"), trl, rates, "process_time" in machine["timers"])
               if len(rows("transformer_loop")) else None)
    sections = [header(machine, rates, quick),
                goals_section(goals_table(loop, process_rows, study, ar_loop, trl, loop_once)),
                transformer_loop_section(ar_loop, trl),
                *transformer_parts_sections(rows("transformer_part"), rows("transformer_lever"), rates),
                loop_section(loop, loop_once),
                steps_section(steps),
                step_levers_section(rows("train_step")),
                scaling_section(out, steps, loop),
                process_section(process_rows, processes),
                study_section(study),
                logprob_section(rows("logprob")),
                losses_section(rows("loss")),
                *transformer_kernel_sections(rows("ar_logprob"), rows("ar_step")),
                grid_section(rows("grid"))]
    write_text(out, "report.md", "\n\n".join(section for section in sections if section is not None) + "\n")
    return out


def suite_rows(frame: pd.DataFrame):
    """suite name -> the frame's rows of that suite (none where the JSON has no suite column)."""
    suite = frame.suite if "suite" in frame else pd.Series(dtype=str)
    return lambda name: frame[suite == name]


def goals_section(goals: pd.DataFrame) -> str | None:
    return "## The goals, as measured in this run\n\n" + markdown_table(goals, 2) if len(goals) else None


def transformer_loop_section(ar_loop: pd.DataFrame | None, trl: pd.DataFrame) -> str | None:
    """The testbed's whole loop per (seed, optimizer step) at each S, its floors and TRL's trainer."""
    if ar_loop is None:
        return None
    trl_line = (f" TRL's `GRPOTrainer` (TRL {trl.trl_version.iloc[0]}) on a GPT-2 built locally at the same size"
                f" ({int(trl.weights.iloc[0]):,} weights against the testbed's {int(trl.testbed_weights.iloc[0]):,}), one seed"
                " a process, the same task, reward and GRPO settings (bench/trl_baseline.py): its seconds per optimizer"
                " step after a warm-up rollout and its steps, set-up excluded. Each of its rounds is followed by the"
                f" testbed at S = {GOAL_SEEDS} timed the same way (a run of one epoch taken from a longer run: the"
                " epochs after the first; the testbed still evaluates every epoch, TRL never), and the goals table"
                f" compares those alternated runs (wall: TRL {MS * trl.seconds_per_step.iloc[0]:.1f} ms, ours"
                f" {MS * trl.ours_seconds_per_step.iloc[0]:.2f} ms; CPU: TRL {MS * trl.cpu_seconds_per_step.iloc[0]:.1f} ms,"
                f" ours {MS * trl.ours_cpu_seconds_per_step.iloc[0]:.2f} ms a (seed, optimizer step); the testbed's whole"
                f" runs, set-up included: {MS * trl.ours_whole_seconds_per_step.iloc[0]:.2f} ms wall,"
                f" {MS * trl.ours_whole_cpu_seconds_per_step.iloc[0]:.2f} ms CPU). The table's rows are whole runs."
                if len(trl) else
                " TRL is not installed in this run (`pip install -e '.[bench]'`): the comparison with TRL is left out.")
    return ("## The transformer testbed per (seed, optimizer step)\n\n`grpo.train` with `--policy transformer` at"
            " the `sequence` preset's sizes (16 prompts of 2–4 tokens, 8 responses of up to 8 tokens, width 32,"
            " 1 layer, 4 heads; token_mean, clipped, a rollout and an evaluation every 4 optimizer steps) with S"
            " seeds stacked. The FLOP floor counts the plain computation (every position through the block,"
            " 6 FLOPs a weight a token for a step, 2 for a rollout and an evaluation, the full attention"
            " square) over the matrix-product rate measured in this run at the model's own shapes; the byte"
            " floor, the parameters' traffic (9 passes a step) over the copy bandwidth." + trl_line + "\n\n"
            + markdown_table(ar_loop, 3))


def transformer_parts_sections(parts: pd.DataFrame, levers: pd.DataFrame, rates: dict[str, float]) -> list[str]:
    """The testbed's parts per seed against their floors, then its levers each undone alone."""
    if not len(parts):
        return []
    sections = ["## The transformer testbed's parts, per seed\n\nA rollout (sampling with the key/value cache, the"
                " log-probs as drawn, rewards, deltas), a gradient step (teacher-forced forward, loss, backward,"
                " Adam) and an evaluation (greedy responses to the 16 training and 32 held-out prompts), each per"
                " seed at S stacked seeds, against its floors.\n\n" + markdown_table(transformer_parts_table(parts, rates), 3)]
    lever_rows = transformer_lever_table(levers, parts)
    if len(lever_rows):
        sections.append("## The transformer testbed's levers, each undone alone\n\nThe part a lever speeds up, at S ="
                        f" {GOAL_SEEDS}, with that lever taken back (the same numbers up to float rounding, checked):"
                        " PyTorch's fused attention instead of the written-out one; the last block over every position"
                        " instead of only those the logits read; all seeds in one chunk instead of"
                        " `SEEDS_PER_CHUNK`; the old log-probs recomputed by a teacher-forced pass instead of kept from"
                        " sampling. A ratio above 1 is what the lever gains.\n\n" + markdown_table(lever_rows, 2))
    return sections


def loop_section(loop: pd.DataFrame | None, loop_once: pd.DataFrame | None) -> str | None:
    if loop is None:
        return None
    once = "" if loop_once is None else "".join(
        f" With the held-out evaluation at the last epoch only (`eval_every` 10: nearer the seed-style loop's work,"
        f" which evaluates nothing), S = {row.seeds:.0f} takes {row['ours (µs)']:.1f} µs a seed-step,"
        f" {row['speed-up']:.1f}× the seed-style loop." for _, row in loop_once.iterrows())
    return ("## The training loop per seed-step (the headline)\n\n`grpo.train` for 10 epochs (rollouts,"
            " rewards, deltas, 100 inner steps, records; every epoch the greedy responses to the training and"
            " held-out prompts and one sampled response to each held-out prompt) with S"
            " seeds stacked, against the seed document's loop (one model per seed, Python-loop rewards,"
            f" `torch.optim.Adam`, one `.item()` record a step) over 3 seeds.{once}\n\n" + markdown_table(loop, 1))


def steps_section(steps: pd.DataFrame | None) -> str | None:
    if steps is None:
        return None
    return ("## One inner step per seed-step, and the hardware floor\n\nForward, loss, backward and Adam"
            " on one rollout. The baseline trains up to 100 models one after another. A seed-step's floor"
            " is its FLOPs (6 B L D (2D + V) = 13.5 kFLOP) over the measured matmul rate and its parameter"
            " and optimizer traffic (9 passes over 650 floats = 23.4 kB) over the measured copy bandwidth;"
            " `ours / floor` is how many times slower than the larger of the two a seed-step runs.\n\n"
            + markdown_table(steps, 2))


def step_levers_section(train_steps: pd.DataFrame) -> str | None:
    levers = lever_table(train_steps) if len(train_steps) else pd.DataFrame()
    if not len(levers):
        return None
    return ("## Levers, each undone alone\n\nThe inner step with one lever taken back (same numbers,"
            " checked): the log-probs through autograd on the plain forward instead of the hand-written"
            " backward; `torch.optim.Adam(fused=True)` instead of `grpo.core.optim.Adam` (the same kernel; the"
            " difference is its Python wrapper). A ratio above 1 is what the lever gains.\n\n"
            + markdown_table(levers, 2))


def scaling_section(out: Path, steps: pd.DataFrame | None, loop: pd.DataFrame | None) -> str | None:
    """The per-seed-step figure (written into `out`) of the step and loop tables."""
    if steps is None and loop is None:
        return None
    write_figure(out, "train_step_scaling.png", scaling(scaling_curves(steps, loop)))
    return "![per-seed-step time vs stacked seeds](train_step_scaling.png)\n"


def process_section(process_rows: pd.DataFrame | None, processes: pd.DataFrame) -> str | None:
    if process_rows is None:
        return None
    return ("## Whole processes, fixed costs included\n\n`grpo train --seeds 20` and the seed-style run"
            " of 20 seeds (`python -m bench.baseline`), each timed from start to exit minus"
            f" `python -c \"import torch\"` ({processes.set_index('impl').median_s.get('import torch', np.nan):.2f} s"
            f" here), per seed-step; target ≥ {PROCESS_TARGET:.0f}×.\n\n" + markdown_table(process_rows, 2))


def study_section(study: pd.DataFrame | None) -> str | None:
    if study is None:
        return None
    walls = study.set_index("sweep")["wall (s)"]
    grouped, one_each = (walls.get(STUDY_SWEEPS[impl], np.nan) for impl in ("grouped", "one-per-trial"))
    versus = (f" One configuration per trial over grouped: {one_each / grouped:.2f}×." if not np.isnan(one_each / grouped)
              else " The sweep of one configuration per trial was not run (`--one-per-trial`).")
    return ("## A sensitivity study at the cost of one sweep\n\nThe `full` grid (72 configurations at its 100"
            " seeds) swept alone, then with an lr axis of 4 values (288 configurations) with the"
            " configurations that differ only in numbers grouped into one trial each (grpo.core.group), and"
            " with `--one-per-trial` one configuration per trial; each sweep once, through Ray Tune, records"
            f" written. Goal: the grouped study within {STUDY_TARGET}× the `full` grid's wall time.{versus}\n\n"
            + markdown_table(study, 2))


def logprob_section(kernels: pd.DataFrame) -> str | None:
    if not len(kernels):
        return None
    table = pair(kernels, ["size"])
    peaks = kernels.pivot_table(index="size", columns="impl", values="peak_bytes", aggfunc="first")
    table = table.join(peaks.add_suffix(" peak MiB") / 2**20, on="size")
    if "baseline peak MiB" in table:
        table["memory ratio"] = table["baseline peak MiB"] / table["ours peak MiB"]
    if "copy" in table:
        logits_bytes = kernels.groupby("size").logits_bytes.first()
        table["copy GB/s"] = 2 * table["size"].map(logits_bytes) / table["copy"] / 1e9  # read + write
        table["ours time / copy time"] = table["ours"] / table["copy"]
    return ("## Log-prob lookup (forward + backward): ours vs repeat + gather\n\n"
            "Times in seconds; peak memory measured in a fresh process; a missing baseline did not fit"
            " in memory (repeat + gather would materialise 2 × batch × responses × positions × vocab"
            " floats: 15.6 GiB at the LLM-like size).\n\n" + markdown_table(table, 4))


def losses_section(losses: pd.DataFrame) -> str | None:
    if not len(losses):
        return None
    return "## Loss kernels (forward + backward)\n\n" + markdown_table(pair(losses, ["size", "mode"]), 6)


def transformer_kernel_sections(ar_kernels: pd.DataFrame, ar_steps: pd.DataFrame) -> list[str]:
    """The transformer policy's kernels: the selective log-softmax, and one inner step stacked vs one model a seed."""
    sections = []
    if len(ar_kernels):
        table = pair(ar_kernels, ["size"], base="log_softmax_gather")
        peaks = ar_kernels.pivot_table(index="size", columns="impl", values="peak_bytes", aggfunc="first")
        table = table.join(peaks.add_suffix(" peak MiB") / 2**20, on="size")
        sections.append("## Transformer policy: selective log-softmax (forward + backward) vs log_softmax + gather\n\n"
                        "Times in seconds; peak memory measured in a fresh process.\n\n" + markdown_table(table, 4))
    if len(ar_steps):
        table = pair(ar_steps.astype({"seeds": int}), ["seeds"], ours="stacked", base="one model per seed")
        sections.append("## Transformer policy: one inner step, S seeds stacked vs one model per seed (seconds)\n\n"
                        + markdown_table(table, 4))
    return sections


def grid_section(grid: pd.DataFrame) -> str | None:
    if not len(grid):
        return None
    table = pair(grid.astype({"configurations": int}), ["configurations"], ours="in-process", base="ray")
    return "## The smoke grid end to end (seconds)\n\n" + markdown_table(table.rename(columns={"speed-up": "Ray / in-process"}), 2)
