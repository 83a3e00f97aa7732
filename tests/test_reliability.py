"""Nothing lost, nothing mixed: interrupted sweeps, changed grids or code, concurrent sweeps,
diverging seeds, and malformed input."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from grpo import TrainConfig, train
from grpo.cli import main
from grpo.sweep import run_sweep

GRID = """
seeds = 2
[grid]
loss_mode = ["naive", "unclipped", "clipped"]
deltas_mode = ["rewards", "centered_rewards"]
epochs = 60
steps_per_epoch = 5
"""
KEY = ["config_id", "seed", "step"]


def sorted_records(results_dir):
    records = pd.read_parquet(results_dir / "records")
    return records.astype({"config_id": str}).sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    (root / "interrupted.toml").write_text(GRID)
    return sorted_records(run_sweep(str(root / "interrupted.toml"), root / "results", progress=False).results_dir)


def start_sweep(grid, results):
    return subprocess.Popen([sys.executable, "-m", "grpo", "sweep", str(grid), "--results", str(results), "--quiet",
                             "--num-cpus", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize(
    "sig, after_trials",
    [(signal.SIGKILL, 1), (signal.SIGKILL, 4), (signal.SIGINT, 2), (signal.SIGKILL, 6)],
    ids=["kill-early", "kill-late", "interrupt", "kill-while-merging"],
)
def test_an_interrupted_sweep_finishes_with_the_uninterrupted_records(tmp_path, uninterrupted, sig, after_trials):
    grid = tmp_path / "interrupted.toml"
    grid.write_text(GRID)
    sweep = start_sweep(grid, tmp_path / "results")
    trials = tmp_path / "results" / "interrupted" / "trials"
    deadline = time.monotonic() + 120
    while len(list(trials.glob("*.json"))) < after_trials and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(sweep.pid, sig)  # the whole group, as a terminal's Ctrl-C or a kill of the job does
    sweep.wait(timeout=60)
    for written in (tmp_path / "results" / "interrupted" / "records").glob("*/*.parquet"):
        assert len(pd.read_parquet(written)) == 2 * 60 * 5  # partial files never become visible

    outcome = run_sweep(str(grid), tmp_path / "results", progress=False)
    assert outcome.failed == [] and outcome.missing == [] and outcome.ran + outcome.skipped == 6
    pd.testing.assert_frame_equal(sorted_records(outcome.results_dir), uninterrupted, check_exact=True)
    assert len(pd.read_parquet(outcome.results_dir / "runs.parquet")) == 12
    assert not [p for p in outcome.results_dir.rglob("*.tmp")]


def test_a_changed_grid_is_refused(tmp_path, capsys):
    grid = tmp_path / "changing.toml"
    grid.write_text('seeds = 1\n[grid]\nepochs = 2\n')
    run_sweep(str(grid), tmp_path / "results", progress=False)
    grid.write_text('seeds = 1\n[grid]\nepochs = 3\n')
    assert main(["sweep", str(grid), "--results", str(tmp_path / "results"), "--quiet"]) == 2
    assert "different definition of grid 'changing'" in capsys.readouterr().err


def test_results_of_other_code_are_refused(tmp_path, capsys):
    grid = tmp_path / "versioned.toml"
    grid.write_text('seeds = 1\n[grid]\nepochs = 2\n')
    outcome = run_sweep(str(grid), tmp_path / "results", progress=False)
    (info_path,) = (outcome.results_dir / "trials").glob("*.json")
    info = json.loads(info_path.read_text())
    info["git_commit"] = "0" * 40
    info_path.write_text(json.dumps(info))
    assert main(["sweep", str(grid), "--results", str(tmp_path / "results"), "--quiet"]) == 2
    assert "0000000000000000000000000000000000000000" in capsys.readouterr().err


def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path, capsys):
    grid = tmp_path / "busy.toml"
    grid.write_text(GRID)
    first = start_sweep(grid, tmp_path / "results")
    lock = tmp_path / "results" / "busy" / ".lock"
    try:
        deadline = time.monotonic() + 60
        while not list((lock.parent / "trials").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(lock) as handle:  # the first sweep really holds the lock
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["sweep", str(grid), "--results", str(tmp_path / "results"), "--quiet"]) == 2
        assert "another sweep is writing" in capsys.readouterr().err
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


DIVERGING = TrainConfig(lr=1e9, epochs=5, deltas_mode="centered_rewards")  # seed 2 blows up at step 1, seed 4 lives


def test_a_diverging_seed_leaves_its_neighbours_alone():
    stacked = train(DIVERGING, [2, 4])
    first_diverged = stacked[stacked.diverged].groupby("seed").step.min().to_dict()
    assert first_diverged == {2: 1}
    assert not np.isfinite(stacked[(stacked.seed == 2) & stacked.diverged].loss).all()
    assert np.isfinite(stacked[stacked.seed == 4].loss).all()
    for seed in (2, 4):  # each seed's rows equal its run alone, NaNs included
        alone = train(DIVERGING, [seed])
        pd.testing.assert_frame_equal(stacked[stacked.seed == seed].reset_index(drop=True), alone)


def test_the_sweep_marks_diverged_runs(tmp_path):
    grid = tmp_path / "absurd.toml"
    grid.write_text('seeds = [2, 4]\n[grid]\nlr = 1e9\nepochs = 5\ndeltas_mode = "centered_rewards"\n')
    outcome = run_sweep(str(grid), tmp_path, progress=False)
    runs = pd.read_parquet(outcome.results_dir / "runs.parquet").set_index("seed")
    assert runs.status.to_dict() == {2: "diverged", 4: "ok"}
    assert runs.diverged_step[2] == 1 and pd.isna(runs.diverged_step[4])


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "grid, results, named",
    [
        ("nope", None, "'nope'"), ("missing.toml", None, "'missing.toml'"), ("notes.txt", None, "'notes.txt'"),
        ("..toml", None, "cannot name a results folder"), ("ok.toml", "plain_file/results", "plain_file"),
        ("ok.toml", "/proc/no-such-dir", "/proc/no-such-dir"),
    ],
)
def test_bad_grid_names_and_paths(tmp_path, monkeypatch, capsys, grid, results, named):
    monkeypatch.chdir(tmp_path)
    for name in ("..toml", "ok.toml"):
        (tmp_path / name).write_text("seeds = 1\n[grid]\nepochs = 1\n")
    (tmp_path / "notes.txt").write_text("[grid]\n")
    (tmp_path / "plain_file").write_text("not a folder")
    code, err = run_cli(["sweep", grid, "--results", results or str(tmp_path / "results")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err
    assert not (tmp_path / "results").exists()


def listening_addresses():
    """Addresses of every listening TCP socket on this machine, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                found.add(local)
    return found


def is_loopback(address):
    host = address.split(":")[0]
    ipv4 = host[-8:]  # IPv4 (or IPv4-mapped IPv6) in little-endian hex: 0100007F is 127.0.0.1
    return ipv4.endswith("7F") or host == "00000000000000000000000001000000"  # or ::1


def test_the_local_ray_runtime_listens_on_loopback_only(tmp_path):
    before = listening_addresses()
    grid = tmp_path / "listening.toml"
    grid.write_text(GRID)
    sweep = start_sweep(grid, tmp_path / "results")
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "results" / "listening" / "trials").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        opened = listening_addresses() - before
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    assert len(opened) >= 3  # GCS, raylet, workers...
    assert all(is_loopback(address) for address in opened), opened
