"""Nothing lost, nothing mixed: interrupted sweeps, damaged or foreign results, concurrent
sweeps, faults of the environment, diverging seeds, and malformed input."""

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grpo import TrainConfig, train
from grpo.cli import main
from grpo.experiment import provenance
from grpo.experiment.grids import load_grid
from grpo.experiment.store import records_path, trial_info, write_trial
from grpo.sweep.run import run_sweep

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


SLOW_MERGE = """
import pathlib, sys, time
import grpo.sweep.run
real = grpo.sweep.run.write_runs
def slow(*args):
    pathlib.Path(sys.argv[3]).touch()  # the trials are done: the merge begins
    time.sleep(120)
    return real(*args)
grpo.sweep.run.write_runs = slow
from grpo.cli import main
sys.exit(main(["sweep", sys.argv[1], "--results", sys.argv[2], "--quiet", "--num-cpus", "1"]))
"""


def start_sweep(grid, results, stderr=subprocess.DEVNULL, merging_marker=None):
    command = ["-m", "grpo", "sweep", str(grid), "--results", str(results), "--quiet", "--num-cpus", "1"]
    if merging_marker is not None:  # the same sweep, but it says when it merges and takes its time
        command = ["-c", SLOW_MERGE, str(grid), str(results), str(merging_marker)]
    # Ctrl-C at its default in the child, as in a terminal's foreground job, even when these tests run in a
    # background job (whose shell starts its commands with SIGINT ignored, an ignoring Python inherits)
    return subprocess.Popen([sys.executable, *command], start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert predicate(), "timed out"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "sig, after_trials",
    [(signal.SIGKILL, 1), (signal.SIGKILL, 4), (signal.SIGINT, 2), (signal.SIGTERM, 2), (signal.SIGKILL, "merging")],
    ids=["kill-early", "kill-late", "interrupt", "terminate", "kill-while-merging"],
)
def test_an_interrupted_sweep_finishes_with_the_uninterrupted_records(tmp_path, uninterrupted, sig, after_trials):
    grid = tmp_path / "interrupted.toml"
    grid.write_text(GRID)
    marker = tmp_path / "merging"
    with open(tmp_path / "stderr", "w") as stderr:
        sweep = start_sweep(grid, tmp_path / "results", stderr, marker if after_trials == "merging" else None)
    trials = tmp_path / "results" / "interrupted" / "trials"
    if after_trials == "merging":
        wait_for(marker.exists)
    else:
        wait_for(lambda: len(list(trials.glob("*/*.json"))) >= after_trials)
    os.killpg(sweep.pid, sig)  # the whole group, as a terminal's Ctrl-C or a kill of the job does
    sweep.wait(timeout=60)
    err = (tmp_path / "stderr").read_text()
    if sig != signal.SIGKILL:  # Ctrl-C and SIGTERM: one line naming a few configurations and a count
        assert sweep.returncode == 1 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("interrupted: ") and "configuration(s) missing" in err
    if sig == signal.SIGKILL:  # a sweep that never finished: its grid never became the folder's grid
        assert not (trials.parent / "grid.toml").exists()
    if after_trials == "merging":
        assert len(list(trials.glob("*/*.json"))) == 6 and not (trials.parent / "runs.parquet").exists()
    for written in (tmp_path / "results" / "interrupted" / "records").glob("*/*.parquet"):
        assert len(pd.read_parquet(written)) == 2 * 60 * 5  # partial files never become visible

    outcome = run_sweep(str(grid), tmp_path / "results", progress=False)
    assert outcome.failed == [] and outcome.missing == [] and outcome.trained + outcome.reused == 12
    pd.testing.assert_frame_equal(sorted_records(outcome.results_dir), uninterrupted, check_exact=True)
    assert len(pd.read_parquet(outcome.results_dir / "runs.parquet")) == 12
    assert not list(outcome.results_dir.rglob("*.tmp")) and not (outcome.results_dir / "ray").exists()
    assert not list(Path(tempfile.gettempdir()).glob(f"grpo-{sweep.pid}-*"))  # the killed sweep's Ray files went


TINY = TrainConfig(epochs=2, steps_per_epoch=2)


def hand_made(tmp_path, seeds=(0, 1), configs=(TINY,)):
    """A results folder written without Ray, as a finished sweep of `configs` leaves it."""
    results = tmp_path / "results" / "tiny"
    loss_modes = ", ".join(f'"{config.loss_mode}"' for config in configs)
    (tmp_path / "tiny.toml").write_text(f"seeds = {list(seeds)}\n[grid]\nloss_mode = [{loss_modes}]\nepochs = 2\n"
                                        "steps_per_epoch = 2\n")
    assert [config.config_id for config in load_grid(str(tmp_path / "tiny.toml")).configs()] == [c.config_id for c in configs]
    for config in configs:
        write_trial(results, config, seeds, train(config, seeds), trial_info(config, seeds, "ok", wall_s=0.1))
    return results


def sweep_cli(tmp_path, capsys):
    code = main(["sweep", str(tmp_path / "tiny.toml"), "--results", str(tmp_path / "results"), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_finished_folder_needs_no_ray(tmp_path, capsys, monkeypatch):
    hand_made(tmp_path)
    monkeypatch.setattr("grpo.sweep.run.ray_runtime", None)  # any use of Ray would fail
    code, out, err = sweep_cli(tmp_path, capsys)
    assert code == 0 and "trained 0 run(s) in 0 trial(s), reused 2" in out, err


def test_results_of_other_code_are_refused(tmp_path, capsys):
    results = hand_made(tmp_path)
    (info_path,) = (results / "trials").glob("*/*.json")
    info = json.loads(info_path.read_text())
    info["code_fingerprint"] = "0123456789abcdef"
    info_path.write_text(json.dumps(info))
    code, out, err = sweep_cli(tmp_path, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"another version of the code (code 0123456789abcdef in {TINY.config_id}); this code is" in err


def test_an_edit_of_any_source_file_changes_the_fingerprint(tmp_path, monkeypatch):
    copy = tmp_path / "grpo"
    shutil.copytree(provenance.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", copy)
    fingerprint = provenance.code_fingerprint.__wrapped__
    assert fingerprint() == provenance.code_fingerprint()  # the copy is this code
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"compiled")
    assert fingerprint() == provenance.code_fingerprint()  # compiled files are not source
    train_py = copy / "core" / "train.py"  # a module of a subpackage
    train_py.write_text(train_py.read_text() + "\nLEARNING_RATE_SCALE = 50  # an uncommitted edit\n")
    assert fingerprint() != provenance.code_fingerprint()


DAMAGES = {
    "truncated records": lambda info, records: records.write_bytes(records.read_bytes()[:200]),
    "deleted records": lambda info, records: records.unlink(),
    "invalid JSON": lambda info, records: info.write_text('{"config_id": '),
    "JSON without status": lambda info, records: info.write_text(
        json.dumps({key: value for key, value in json.loads(info.read_text()).items() if key != "status"})),
}


@pytest.mark.e2e  # starts Ray
def test_damaged_results_are_retrained_and_said_so(tmp_path, capsys):
    configs = [TrainConfig(loss_mode=mode, epochs=2, steps_per_epoch=2) for mode in ("naive", "unclipped", "clipped", "gspo")]
    results = hand_made(tmp_path, configs=configs)
    intact = sorted_records(results)
    for config, damage in zip(configs, DAMAGES.values()):
        damage(next((results / "trials" / config.config_id).glob("*.json")), records_path(results, config.config_id, [0, 1]))
    code, out, err = sweep_cli(tmp_path, capsys)
    assert code == 0 and "trained 8 run(s) in 4 trial(s), reused 0" in out
    assert err.startswith("retraining 4 damaged trial(s): ") and len(err.strip().splitlines()) == 1
    reasons = ("records file unreadable", "records file missing", "invalid run info JSON", "run info without 'status'")
    assert sum(reason in err for reason in reasons) == 3 and err.endswith(" and 1 more\n")  # a few, and a count
    pd.testing.assert_frame_equal(sorted_records(results), intact, check_exact=True)


def test_a_full_disk_is_one_line_and_nothing_half_written(tmp_path, capsys, monkeypatch):
    results = hand_made(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(results / "runs.parquet"))

    monkeypatch.setattr("grpo.experiment.store.write_parquet_atomic", full)  # the merge
    code, out, err = sweep_cli(tmp_path, capsys)
    assert code == 1 and err == f"grpo sweep: error: No space left on device: '{results / 'runs.parquet'}'\n"
    assert not (results / "runs.parquet").exists() and not list(results.rglob("*.tmp"))
    monkeypatch.setattr("grpo.sweep.run.write_atomic", full)  # the grid definition, written with runs.parquet
    code, out, err = sweep_cli(tmp_path, capsys)
    assert code == 1 and len(err.splitlines()) == 1 and "No space left on device" in err


def test_a_lock_that_is_a_directory_is_one_line(tmp_path, capsys):
    (tmp_path / "results" / "tiny" / ".lock").mkdir(parents=True)
    (tmp_path / "tiny.toml").write_text("[grid]\nepochs = 1\n")
    code, out, err = sweep_cli(tmp_path, capsys)
    assert code == 1 and err == f"grpo sweep: error: cannot lock '{tmp_path / 'results' / 'tiny'}': its .lock is a directory; remove it\n"


@pytest.mark.e2e
def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path, capsys):
    grid = tmp_path / "busy.toml"
    grid.write_text(GRID)
    first = start_sweep(grid, tmp_path / "results")
    lock = tmp_path / "results" / "busy" / ".lock"
    try:
        wait_for(lambda: list((lock.parent / "trials").glob("*/*.json")), timeout=60)
        with open(lock) as handle:  # the first sweep really holds the lock
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["sweep", str(grid), "--results", str(tmp_path / "results"), "--quiet"]) == 2
        assert "another sweep is writing" in capsys.readouterr().err
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_an_orphaned_trial_writes_nothing(tmp_path):
    """A trial whose sweep is gone (its lock free, or held by another sweep) leaves no file."""
    from grpo.experiment.store import exclusive, holds_lock

    folder = tmp_path / "results"
    folder.mkdir()
    with exclusive(folder) as sweep_id:
        assert holds_lock(folder, sweep_id) and not holds_lock(folder, "another sweep")
    assert not holds_lock(folder, sweep_id)


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
    """runs.parquet from trial files (no Ray needed: the trial is written as a sweep writes it)."""
    results = tmp_path / "results" / "absurd"
    (tmp_path / "absurd.toml").write_text('seeds = [2, 4]\n[grid]\nlr = 1e9\nepochs = 5\ndeltas_mode = "centered_rewards"\n')
    write_trial(results, DIVERGING, [2, 4], train(DIVERGING, [2, 4]), trial_info(DIVERGING, [2, 4], "ok", wall_s=0.1))
    outcome = run_sweep(str(tmp_path / "absurd.toml"), tmp_path / "results", progress=False)
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


@pytest.mark.e2e
def test_the_local_ray_runtime_listens_on_loopback_only(tmp_path):
    before = listening_addresses()
    grid = tmp_path / "listening.toml"
    grid.write_text(GRID)
    sweep = start_sweep(grid, tmp_path / "results")
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "results" / "listening" / "trials").glob("*/*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        opened = listening_addresses() - before
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    assert len(opened) >= 3  # GCS, raylet, workers...
    assert all(is_loopback(address) for address in opened), opened
