"""Ray as a user and an operator meet it: a private runtime beside other clusters, a real
two-node cluster on loopback with token authentication, nodes and heads that die mid-sweep.

Every cluster here is the test's own (tests/sweep/ray_cluster.py): its nodes are stopped by process
id, never with the `ray` CLI's stop command, and the sweeps that join it run in fresh processes
whose environment holds only the cluster's HOME (nothing left over from another test)."""

import shutil
import time

import pandas as pd
import pytest
from ray_cluster import Cluster

from grpo import train
from grpo.core.schema import COLUMNS
from grpo.experiment import provenance
from grpo.experiment.grids import load_grid
from grpo.sweep.run import run_sweep
from grpo.testing import STACKED_TOLERANCE

GRID = 'seeds = 2\n[grid]\nloss_mode = ["naive", "unclipped", "clipped"]\ndeltas_mode = ["rewards", "centered_rewards"]\n' \
       'epochs = {epochs}\nsteps_per_epoch = 5\n'
KEY = ["config_id", "seed", "step"]
pytestmark = pytest.mark.e2e  # clusters of two nodes, killed nodes and heads


def records(results_dir):
    frame = pd.read_parquet(results_dir / "records", columns=list(COLUMNS))
    return frame.astype({"config_id": str}).sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The records of the grids below from a private local runtime."""
    root = tmp_path_factory.mktemp("reference")
    found = {}
    for epochs in (2, 40):
        (root / f"grid{epochs}.toml").write_text(GRID.format(epochs=epochs))
        found[epochs] = records(run_sweep(str(root / f"grid{epochs}.toml"), root, progress=False, num_cpus=2).results_dir)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes of one CPU each; the head finds a token in its HOME and so turns token
    authentication on (Ray 2.60's default); the second node is told to use it."""
    made = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        made.generate_token()
        made.start_node(1)
        made.start_node(1, RAY_AUTH_MODE="token")
        made.wait_for_cpus(2)
        yield made
    finally:
        made.stop()


def assert_equal_to_training(results_dir, grid):
    """Each configuration's records equal its training in this process (float tolerance)."""
    swept = records(results_dir)
    for config in load_grid(str(grid)).configs():
        mine = swept[swept.config_id == config.config_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, train(config, [0, 1])[list(COLUMNS)], **STACKED_TOLERANCE)


def write_grid(folder, epochs):
    (folder / f"grid{epochs}.toml").write_text(GRID.format(epochs=epochs))
    return str(folder / f"grid{epochs}.toml")


def test_a_sweep_without_address_runs_privately_beside_a_cluster(cluster, reference, tmp_path, monkeypatch):
    """A `ray start --head` runs, and Ray's "current cluster" file names it (stale or not): the
    sweep still starts a runtime of its own, and writes nothing in Ray's default temp folder."""
    ray_tmp = tmp_path / "ray_tmpdir"
    (ray_tmp / "ray").mkdir(parents=True)
    (ray_tmp / "ray" / "ray_current_cluster").write_text(cluster.address)
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    outcome = run_sweep(write_grid(tmp_path, 2), tmp_path / "results", progress=False, num_cpus=2)
    runs = pd.read_parquet(outcome.results_dir / "runs.parquet")
    assert runs.node.str.startswith("127.0.0.1 ").all()  # not the cluster's 127.0.0.2
    assert [path.name for path in ray_tmp.rglob("*")] == ["ray", "ray_current_cluster"]
    pd.testing.assert_frame_equal(records(outcome.results_dir), reference[2], check_exact=True)


def test_a_sweep_joins_a_token_cluster_named_by_ray_address_and_uses_both_nodes(cluster, tmp_path):
    """Trials long enough (120 epochs) that the second node's first actor is usually up before the
    head could take every trial (Tune reuses a free actor rather than wait for a new one, so on a
    loaded machine one node may take them all); each configuration's records equal its training
    in this process."""
    sweep = cluster.sweep(write_grid(tmp_path, 120), "--results", str(tmp_path / "results"), by_variable=True)
    out, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, err
    assert "trained 12 run(s) in 6 trial(s)" in out
    runs = pd.read_parquet(tmp_path / "results" / "grid120" / "runs.parquet")
    assert runs.node.str.startswith("127.0.0.2 ").all()  # the cluster's nodes (both, unless one was slow to start)
    assert_equal_to_training(tmp_path / "results" / "grid120", tmp_path / "grid120.toml")


def test_a_node_with_other_code_is_refused_in_one_line(cluster, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(provenance.PACKAGE, edited / "grpo", ignore=shutil.ignore_patterns("__pycache__"))
    (edited / "grpo" / "core" / "train.py").write_text((edited / "grpo" / "core" / "train.py").read_text() + "# an edit\n")
    stranger = cluster.start_node(1, RAY_AUTH_MODE="token", PYTHONPATH=str(edited))  # its workers import the copy
    try:
        cluster.wait_for_cpus(3)
        sweep = cluster.sweep(write_grid(tmp_path, 2), "--results", str(tmp_path / "results"))
        out, err = sweep.communicate(timeout=300)
    finally:
        stranger.kill()
    assert sweep.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert " runs grpo code " in err and f", this driver {provenance.code_fingerprint()}; install the same grpo" in err
    assert not list((tmp_path / "results" / "grid2").glob("trials/*/*"))


def test_a_lost_node_is_retried_and_the_records_are_whole(cluster, reference, tmp_path):
    """Kill the second node's raylet while its trial trains: Tune retries the trial on the head
    (or records it failed with its error); the re-run ends with the uninterrupted records."""
    results = tmp_path / "results" / "grid40"
    sweep = cluster.sweep(write_grid(tmp_path, 40), "--results", str(tmp_path / "results"))
    deadline = time.monotonic() + 120
    while not list((results / "trials").glob("*/*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the first trial finished: both nodes are busy with the next ones
    cluster.nodes[1].kill()
    out, err = sweep.communicate(timeout=300)
    runs = pd.read_parquet(results / "runs.parquet")
    lost = runs[runs.status != "ok"]
    assert (lost.status == "failed").all() and lost.error.str.startswith("trial lost: ").all(), lost  # never silent
    assert sweep.returncode == (1 if len(lost) else 0), err
    again = cluster.sweep(write_grid(tmp_path, 40), "--results", str(tmp_path / "results"))
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    pd.testing.assert_frame_equal(records(results), reference[40], check_exact=True)
    assert (pd.read_parquet(results / "runs.parquet").status == "ok").all()


def test_a_killed_head_ends_the_driver_in_one_line(cluster, tmp_path):
    """Last: it kills the cluster's head (one node left by now: its trials take turns) on an
    event, not after a delay: as soon as a trial runs there once one has finished (its files are
    what the re-run reuses), so the sweep cannot have finished (its other trials are still to
    run) whatever the machine's load. The sweep stops with one line; a re-run on a private
    runtime (the same code) completes it."""
    results = tmp_path / "results" / "grid120"
    sweep = cluster.sweep(write_grid(tmp_path, 120), "--results", str(tmp_path / "results"))
    deadline = time.monotonic() + 120
    while not any(results.glob("trials/*/*.json")):  # the first trial, caught or not while it ran, is done
        assert sweep.poll() is None and time.monotonic() < deadline, "no trial finished"
        time.sleep(0.02)
    cluster.nodes[0].wait_until_training()
    killed = time.monotonic()
    cluster.nodes[0].kill()
    out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 1 and time.monotonic() - killed < 60, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "lost the Ray cluster" in err
    finished = len(list((results / "trials").glob("*/*.json")))  # one file a trial of one configuration x 2 seeds
    outcome = run_sweep(str(tmp_path / "grid120.toml"), tmp_path / "results", progress=False, num_cpus=2)
    assert outcome.missing == [] and outcome.reused == 2 * finished and outcome.trained == 12 - 2 * finished
    assert_equal_to_training(results, tmp_path / "grid120.toml")
