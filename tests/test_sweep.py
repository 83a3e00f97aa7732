"""`grpo sweep` for real: Ray Tune trials, parquet records, resume, failures, a cluster."""

import itertools
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from grpo import TrainConfig, train
from grpo.grids import load_grid
from grpo.records import COLUMNS
from grpo.sweep import run_sweep

SMALL_GRID = """
seeds = 2
[grid]
loss_mode = ["naive", "unclipped", "clipped"]
deltas_mode = ["rewards", "centered_rewards"]
epochs = {epochs}
steps_per_epoch = 5
"""


def test_smoke_covers_the_full_cross_product(smoke_results):
    runs = pd.read_parquet(smoke_results / "runs.parquet")
    grid = load_grid("smoke")
    expected = set(itertools.product(*grid.axes.values(), grid.seeds))
    assert set(map(tuple, runs[[*grid.axes, "seed"]].itertuples(index=False))) == expected
    assert len(runs) == len(expected) and (runs.status == "ok").all() and runs.error.isna().all()
    assert runs.git_commit.notna().all() and (runs.wall_s > 0).all()
    records = pd.read_parquet(smoke_results / "records")
    assert len(records) == len(runs) * 10 * 5
    assert not records.duplicated(["config_id", "seed", "step"]).any()
    assert (smoke_results / "grid.toml").read_text() == grid.text


def test_a_trial_equals_a_single_seed_run(smoke_results):
    records = pd.read_parquet(smoke_results / "records")
    config = TrainConfig(reward_fn="sort_distance", deltas_mode="normalized_rewards", loss_mode="clipped",
                         kl_penalty=0.1, epochs=10, steps_per_epoch=5)
    from_sweep = records[(records.config_id == config.config_id) & (records.seed == 1)][list(COLUMNS)]
    alone = train(config, [1])
    from_sweep = from_sweep.astype({"config_id": str})
    pd.testing.assert_frame_equal(from_sweep.reset_index(drop=True), alone, rtol=1e-4, atol=1e-6)


def test_rerun_trains_nothing_and_keeps_every_row(smoke_outcome):
    before = pd.read_parquet(smoke_outcome.results_dir / "records")
    again = run_sweep("smoke", smoke_outcome.results_dir.parent, progress=False)
    assert (again.ran, again.skipped, again.failed) == (0, 16, [])
    pd.testing.assert_frame_equal(pd.read_parquet(smoke_outcome.results_dir / "records"), before)


def test_a_failing_configuration_is_isolated(tmp_path):
    """dim = 100000 asks for 240 GB of weights: that configuration fails, the others finish."""
    grid = tmp_path / "partly.toml"
    grid.write_text('seeds = 2\n[grid]\ndim = [10, 100000]\nloss_mode = ["naive", "clipped"]\nepochs = 3\n')
    done = subprocess.run([sys.executable, "-m", "grpo", "sweep", str(grid), "--results", str(tmp_path), "--quiet",
                           "--num-cpus", "2"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "2 failed" in done.stdout and done.stderr.count("can't allocate memory") == 2
    runs = pd.read_parquet(tmp_path / "partly" / "runs.parquet")
    assert runs.groupby("dim").status.apply(set).to_dict() == {10: {"ok"}, 100000: {"failed"}}
    assert runs[runs.status == "failed"].error.str.contains("RuntimeError").all()
    records = pd.read_parquet(tmp_path / "partly" / "records")
    assert set(records.dim.astype(int)) == {10} and len(records) == 2 * 2 * 3 * 10


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sweep_joins_a_cluster_started_with_ray_start(tmp_path):
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    port = free_port()
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True)
    try:
        grid = tmp_path / "cluster.toml"
        grid.write_text(SMALL_GRID.format(epochs=2))
        outcome = run_sweep(str(grid), tmp_path, address=f"127.0.0.1:{port}", progress=False)
        assert (outcome.ran, outcome.failed) == (6, [])
        assert len(pd.read_parquet(outcome.results_dir / "records")) == 6 * 2 * 2 * 5
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)


@pytest.mark.parametrize("args, named", [(["nope"], "'nope'"), (["smoke", "--num-cpus", "0"], "--num-cpus")])
def test_bad_sweep_input_is_one_line_and_exit_2(tmp_path, args, named):
    done = subprocess.run([sys.executable, "-m", "grpo", "sweep", *args, "--results", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and named in done.stderr
    assert list(tmp_path.iterdir()) == []
