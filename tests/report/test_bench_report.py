"""grpo bench's report from pytest-benchmark JSON (ratios, the hardware floor, the figure) and
the `grpo bench` command (a --quick run never touches the committed report; bad input)."""

import json
import textwrap

import matplotlib.image
import pytest

from grpo.cli import main
from grpo.report import render_bench


def bench_entry(median: float, **extra_info) -> dict:
    return {"extra_info": {"agrees": True, **extra_info}, "stats": {"median": median, "rounds": 5}}


def hand_made_run(path):
    """Medians chosen so that every number of the report is known by hand."""
    benchmarks = [
        bench_entry(0.1, suite="machine", impl="matmul", flops=2e9),  # 20 GFLOP/s
        bench_entry(0.1, suite="machine", impl="copy", bytes=1e9),  # 10 GB/s
        bench_entry(200e-6, suite="train_step", impl="ours", seeds=20, seed_steps=20, flops=13500, bytes=23400),
        bench_entry(0.02, suite="train_step", impl="baseline", seeds=20, seed_steps=20, flops=13500, bytes=23400),
        bench_entry(0.04, suite="loop", impl="ours", seeds=20, seed_steps=2000),  # 20 µs a seed-step
        bench_entry(0.3, suite="loop", impl="baseline", seeds=3, seed_steps=300),  # 1000 µs a seed-step
        bench_entry(0.8, suite="loop", impl="ours, evaluated at the last epoch only", seeds=1000,
                    seed_steps=100000),  # 8 µs a seed-step
        bench_entry(1.0, suite="process", impl="import torch", seed_steps=0),
        bench_entry(3.0, suite="process", impl="ours", seed_steps=2000),  # 2 s beyond the import: 1000 µs
        bench_entry(21.0, suite="process", impl="baseline", seed_steps=2000),  # 20 s: 10000 µs
        bench_entry(0.01, suite="ar_step", impl="stacked", seeds=8),
        bench_entry(0.08, suite="ar_step", impl="one model per seed", seeds=8),
        bench_entry(100.0, suite="study", impl="full", configurations=72, trials=48, runs=7200),
        bench_entry(180.0, suite="study", impl="grouped", configurations=288, trials=48, runs=28800),
        bench_entry(450.0, suite="study", impl="one-per-trial", configurations=288, trials=288, runs=28800),
    ]
    machine = {"cpu": {"brand_raw": "Test CPU", "count": 2}, "python_version": "3.11", "load_average": "1.0 / 1.0 / 1.0"}
    path.write_text(json.dumps({"machine_info": machine, "benchmarks": benchmarks}))
    return path


def test_report_gives_ratios_and_the_distance_to_the_floor(tmp_path):
    out = render_bench(hand_made_run(tmp_path / "bench.json"), tmp_path / "report")
    report = (out / "report.md").read_text()
    assert "20.0 GFLOP/s" in report and "10.0 GB/s" in report and "Quick run" not in report
    # inner step: 10 µs vs 1000 µs; FLOP floor 13500 / 20e9 s = 0.675 µs, byte floor 23400 / 1e10 s = 2.34 µs
    assert "| 20 | 10.00 | 1000.00 | 100.00 | ≥ 40× | 0.68 | 2.34 | 4.27 |" in report
    assert "| 20 | 20.0 | 1000.0 | 50.0 | ≥ 40× |" in report  # the loop: 1000 / 20
    assert "| grpo train | 2000 | 3.00 | 2.00 | 1000.00 | 10.00 |" in report  # (21 - 1) / (3 - 1)
    assert "| 8 | 0.0800 | 0.0100 | 8.0000 |" in report  # the transformer's step: 0.08 / 0.01
    # the study: grouped 180 s and one per trial 450 s against the full grid's 100 s
    assert "| `full` × 4 lr, grouped | 288 | 48 | 28800 | 180.00 | 1.80 |" in report
    assert "| `full` × 4 lr, one configuration per trial | 288 | 288 | 28800 | 450.00 | 4.50 |" in report
    assert "One configuration per trial over grouped: 2.50×." in report
    # the goals: the loop 50× at S = 20 (met), the process 10× (not), the study 1.8× (not); no S = 1000 measured
    assert "| training loop at S = 20 vs seed-style | 50.0× | ≥ 40× | yes |" in report
    assert "| `grpo train --seeds 20` process vs seed-style, minus import torch | 10.0× | ≥ 20× | no |" in report
    assert "| grouped `full` × 4 lr study / `full` grid alone (wall time) | 1.80× | ≤ 1.5× | no |" in report
    assert "S = 1000 takes 8.0 µs a seed-step, 125.0× the seed-style loop" in report  # evaluated once: 1000 / 8
    assert ("| training loop at S = 1000 vs seed-style, held-out evaluation at the last epoch only (the seed-style"
            " loop's: none) | 125.0× | ≥ 100× | yes |") in report
    assert "| training loop at S = 1000 vs seed-style |" not in report  # the every-epoch loop was not run at S = 1000
    image = matplotlib.image.imread(out / "train_step_scaling.png")
    assert image.shape[0] > 200 and image.shape[1] > 300 and image[..., :3].std() > 0.05


def transformer_run(path, with_trl=True):
    """The transformer suites' entries (bench/test_transformer.py), numbers known by hand."""
    floors = dict(flops=2e7, bytes=1e5)  # a (seed, optimizer step): 2 ms at 10 GFLOP/s, 0.01 ms at 10 GB/s
    benchmarks = [
        bench_entry(0.1, suite="machine", impl="matmul at the transformer's shapes", flops=1e9),  # 10 GFLOP/s
        bench_entry(0.1, suite="machine", impl="copy", bytes=1e9),  # 10 GB/s
        bench_entry(0.96, suite="transformer_loop", impl="ours", seeds=20, seed_steps=240, **floors),  # 4 ms
        bench_entry(2.4, suite="transformer_loop", impl="ours", seeds=100, seed_steps=800, **floors),  # 3 ms
        bench_entry(0.25, suite="transformer_part", impl="ours", part="gradient step", seeds=100, seed_steps=100,
                    flops=1.5e7, bytes=1e5),  # 2.5 ms against 1.5 ms
        bench_entry(0.5, suite="transformer_lever", impl="seeds not chunked", part="gradient step", seeds=100, seed_steps=100),
    ]
    if with_trl:  # 45 ms an optimizer step
        benchmarks.append(bench_entry(9.0, suite="transformer_trl", impl="TRL GRPOTrainer", seeds=1, seed_steps=1,
                                      seconds_per_step=0.045, cpu_seconds_per_step=0.04, alternated_seeds=100,
                                      ours_seconds_per_step=0.0025, ours_cpu_seconds_per_step=0.002,
                                      ours_whole_seconds_per_step=0.003, ours_whole_cpu_seconds_per_step=0.0028, weights=13440,
                                      testbed_weights=13024, trl_version="1.16.0", **floors))
    machine = {"cpu": {"brand_raw": "Test CPU", "count": 2}, "python_version": "3.11", "load_average": "1.0 / 1.0 / 1.0"}
    path.write_text(json.dumps({"machine_info": machine, "benchmarks": benchmarks}))
    return path


def test_transformer_goals_against_trl_and_the_floor(tmp_path):
    report = (render_bench(transformer_run(tmp_path / "bench.json"), tmp_path / "report") / "report.md").read_text()
    assert "10.0 GFLOP/s at the transformer testbed's shapes" in report
    assert "| 20 | 4.000 | 2.000 | 0.010 | 2.000 | 45.000 | 11.250 |" in report  # TRL 45 ms / 4 ms
    assert "| 100 | 3.000 | 2.000 | 0.010 | 1.500 | 45.000 | 15.000 |" in report
    assert "| gradient step | 100 | 2.500 | 1.500 | 0.010 | 1.667 |" in report
    assert "| seeds not chunked | gradient step | 100 | 5.00 | 2.50 | 2.00 |" in report
    goals = report.split("## The goals, as measured in this run")[1].split("##")[0]
    goal = "| transformer, S = 100 stacked: TRL GRPOTrainer / ours per (seed, optimizer step), both after a warm-up rollout, alternated"
    assert f"{goal}, wall time | 18.0× | ≥ 12× | yes |" in goals and f"{goal}, CPU time | 20.0× | ≥ 12× | yes |" in goals
    assert "| transformer, S = 100 stacked: ours / FLOP floor per (seed, optimizer step) | 1.50× | ≤ 2.5× | yes |" in goals
    assert "| transformer: per-seed cost at S = 100 / at S = 20 | 0.75× | < 1× (falls) | yes |" in goals
    assert "TRL 1.16.0" in report and "13,440 weights against the testbed's 13,024" in report
    assert "set-up included: 3.00 ms wall, 2.80 ms CPU" in report  # the testbed's whole runs beside its steady state


def test_transformer_section_without_trl_says_so(tmp_path):
    report = (render_bench(transformer_run(tmp_path / "bench.json", with_trl=False), tmp_path / "report") / "report.md").read_text()
    assert "TRL is not installed in this run" in report and "TRL / ours" not in report
    assert "| 100 | 3.000 | 2.000 | 0.010 | 1.500 |" in report


def test_study_without_the_one_per_trial_sweep_says_so(tmp_path):
    run = json.loads(hand_made_run(tmp_path / "bench.json").read_text())
    run["benchmarks"] = [bench for bench in run["benchmarks"] if bench["extra_info"].get("impl") != "one-per-trial"]
    (tmp_path / "bench.json").write_text(json.dumps(run))
    report = (render_bench(tmp_path / "bench.json", tmp_path / "report") / "report.md").read_text()
    assert "| `full` × 4 lr, grouped | 288 | 48 | 28800 | 180.00 | 1.80 |" in report
    assert "one configuration per trial was not run" in report and "| `full` × 4 lr, one configuration" not in report


def test_header_names_the_suites_timed_by_the_wall_clock(tmp_path):
    run = json.loads(hand_made_run(tmp_path / "bench.json").read_text())
    for bench in run["benchmarks"]:  # bench/conftest.py's clocks: the wall for the suites that run other processes
        bench["options"] = {"timer": "perf_counter" if bench["extra_info"]["suite"] in ("process", "study") else "process_time"}
    (tmp_path / "bench.json").write_text(json.dumps(run))
    report = (render_bench(tmp_path / "bench.json", tmp_path / "report") / "report.md").read_text()
    assert "CPU seconds (`time.process_time`)" in report
    assert "Timed by the wall clock instead" in report and "the whole processes, the sensitivity study." in report
    wall_only = render_bench(hand_made_run(tmp_path / "wall.json"), tmp_path / "wall") / "report.md"
    assert "process_time" not in wall_only.read_text()  # no timer given: pytest-benchmark's default, the wall clock


def test_quick_report_says_so(tmp_path):
    out = render_bench(hand_made_run(tmp_path / "bench.json"), tmp_path / "report", quick=True)
    assert (out / "report.md").read_text().splitlines()[2].startswith("**Quick run**")


def tiny_suites(root):
    """A bench/ folder whose one benchmark is a real pytest-benchmark measurement."""
    bench = root / "bench"
    bench.mkdir()
    (bench / "baseline.py").write_text("")
    (bench / "conftest.py").write_text(textwrap.dedent("""
        def pytest_addoption(parser):
            parser.addoption("--device", default="cpu")
            parser.addoption("--quick", action="store_true")
    """))
    (bench / "test_tiny.py").write_text(textwrap.dedent("""
        def test_copy(benchmark):
            data = bytearray(1 << 20)
            benchmark(bytes, data)
            benchmark.extra_info.update(suite="machine", impl="copy", bytes=2 << 20, agrees=True)
    """))
    return bench


def test_quick_bench_leaves_the_committed_report_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "reports" / "bench" / "report.md"
    committed.parent.mkdir(parents=True)
    committed.write_text("the full report")
    assert main(["bench", "--quick", "--bench", str(tiny_suites(tmp_path))]) == 0
    assert committed.read_text() == "the full report"
    quick = (tmp_path / "results" / "bench-quick" / "report.md").read_text()
    assert "**Quick run**" in quick and "memory copy" in quick
    assert (tmp_path / "results" / "bench-quick" / "bench.json").exists()
    assert "results/bench-quick/report.md written" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--device", "tpu"], "--device 'tpu': unknown device; choose from cpu, cuda"),
    (["--bench", "nowhere"], "no benchmark suites in 'nowhere'"),
])
def test_bad_bench_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    tiny_suites(tmp_path)
    assert main(["bench", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "results").exists()
