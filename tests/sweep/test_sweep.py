"""`grpo sweep` for real: Ray Tune trials, parquet records, a private runtime, sweeps that grow."""

import itertools
import json
import os
import socket
import stat

import duckdb
import pandas as pd
import pytest

from grpo import TrainConfig, train
from grpo.cli import main
from grpo.core.schema import COLUMNS
from grpo.experiment.grids import load_grid
from grpo.experiment.provenance import code_fingerprint
from grpo.experiment.results import open_results
from grpo.experiment.tuning import objective_table, select, tuned_cell, tuning_success
from grpo.sweep.run import run_sweep
from grpo.testing import STACKED_TOLERANCE

KEY = ["config_id", "seed", "step"]


def records(results_dir, columns=COLUMNS):
    frame = pd.read_parquet(results_dir / "records", columns=list(columns))
    return frame.astype({"config_id": str}).sort_values(KEY).reset_index(drop=True)


def test_smoke_covers_the_full_cross_product(smoke_results):
    runs = pd.read_parquet(smoke_results / "runs.parquet")
    grid = load_grid("smoke")
    expected = set(itertools.product(*grid.axes.values(), grid.seeds))
    assert set(map(tuple, runs[[*grid.axes, "seed"]].itertuples(index=False))) == expected
    assert len(runs) == len(expected) and (runs.status == "ok").all() and runs.error.isna().all()
    assert (runs.code_fingerprint == code_fingerprint()).all() and (runs.wall_s > 0).all()
    assert runs.node.str.startswith("127.0.0.1 ").all()  # the private runtime, on loopback
    frame = records(smoke_results)
    assert len(frame) == len(runs) * 10 * 5 and not frame.duplicated(KEY).any()
    assert (smoke_results / "grid.toml").read_text() == grid.text


def test_the_records_folder_is_one_dataset_for_pandas_pyarrow_and_duckdb(smoke_results):
    """docs/records.md's readers: no run info or other file inside records/ gets in the way."""
    with_pandas = pd.read_parquet(smoke_results / "records", columns=["config_id", "seed", "sorted_frac"])
    query = f"""SELECT loss_mode, avg(sorted_frac) AS sorted_frac
                FROM read_parquet('{smoke_results}/records/*/*.parquet') GROUP BY loss_mode ORDER BY loss_mode"""
    with_duckdb = duckdb.sql(query).df()
    by_hand = with_pandas.join(pd.read_parquet(smoke_results / "runs.parquet").drop_duplicates("config_id")
                               .set_index("config_id").loss_mode, on="config_id").groupby("loss_mode").sorted_frac.mean()
    assert with_duckdb.loss_mode.tolist() == ["clipped", "naive"]
    assert with_duckdb.sorted_frac.to_numpy() == pytest.approx(by_hand.to_numpy(), rel=1e-6)  # float32 sums


def test_a_trial_equals_a_single_seed_run(smoke_results):
    config = TrainConfig(reward_fn="sort_distance", deltas_mode="normalized_rewards", loss_mode="clipped",
                         kl_penalty=0.1, epochs=10, steps_per_epoch=5)
    frame = records(smoke_results)
    from_sweep = frame[(frame.config_id == config.config_id) & (frame.seed == 1)]
    pd.testing.assert_frame_equal(from_sweep.reset_index(drop=True), train(config, [1])[list(COLUMNS)], **STACKED_TOLERANCE)


def test_rerun_trains_nothing_and_keeps_every_row(smoke_outcome, capsys):
    before = records(smoke_outcome.results_dir)
    # more CPUs than the machine has: a warning, and nothing to train, so no runtime either
    assert main(["sweep", "smoke", "--results", str(smoke_outcome.results_dir.parent), "--quiet", "--num-cpus", "4096"]) == 0
    out, err = capsys.readouterr()
    assert "trained 0 run(s) in 0 trial(s), reused 32, 0 configuration(s) failed, 0 missing" in out
    assert err.startswith("grpo sweep: warning: --num-cpus 4096 is more than this machine's") and len(err.splitlines()) == 1
    pd.testing.assert_frame_equal(records(smoke_outcome.results_dir), before)


def test_files_are_created_with_the_umask(smoke_results):
    umask = os.umask(0)
    os.umask(umask)
    written = [smoke_results / "runs.parquet", *smoke_results.glob("trials/*/*.json"), *smoke_results.glob("records/*/*.parquet")]
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o666 & ~umask}


GROWING = 'seeds = {seeds}\n[grid]\nloss_mode = {losses}\ndeltas_mode = "centered_rewards"\nepochs = 4\nsteps_per_epoch = 3\n'


@pytest.mark.e2e
def test_a_grown_sweep_trains_only_what_is_new(tmp_path):
    grid = tmp_path / "growing.toml"

    def sweep(seeds, losses, root="grown"):
        grid.write_text(GROWING.format(seeds=seeds, losses=losses))
        return run_sweep(str(grid), tmp_path / root, progress=False, num_cpus=2)

    first = sweep(4, '["naive", "clipped"]')
    assert (first.trials, first.trained, first.reused) == (2, 8, 0)
    more_seeds = sweep(8, '["naive", "clipped"]')  # 4 new seeds of each configuration
    assert (more_seeds.trials, more_seeds.trained, more_seeds.reused) == (2, 8, 8)
    fresh = sweep(8, '["naive", "clipped"]', root="fresh")
    pd.testing.assert_frame_equal(records(more_seeds.results_dir), records(fresh.results_dir), **STACKED_TOLERANCE)
    trials = pd.read_parquet(more_seeds.results_dir / "runs.parquet").groupby("seed").trial.first()
    assert trials[[0, 1, 2, 3]].nunique() == 1 and trials[[4, 5, 6, 7]].nunique() == 1 and trials[0] != trials[4]

    more_values = sweep(8, '["naive", "clipped", "gspo"]')  # one new configuration, all its seeds
    assert (more_values.trials, more_values.trained, more_values.reused) == (1, 8, 16)
    (more_values.results_dir / "grid.toml").unlink()  # even without it, each trial's seeds are known
    narrower = sweep("[1, 6]", '["gspo"]')
    assert (narrower.trials, narrower.trained, narrower.reused) == (0, 0, 2)
    runs = pd.read_parquet(narrower.results_dir / "runs.parquet")
    assert runs.seed.tolist() == [1, 6] and (runs.loss_mode == "gspo").all() and (runs.status == "ok").all()
    assert len(records(narrower.results_dir)) == (2 * 8 + 8) * 4 * 3  # the folder keeps every run trained into it


TUNED = """seeds = 2
[grid]
loss_mode = ["naive", "clipped"]
epochs = 3
steps_per_epoch = 2

[tuning]
lr = [1e-3, 3e-2]
per = "loss_mode"
seeds = "5-7"
"""


@pytest.mark.e2e
def test_tuning_in_two_phases_and_a_grown_sensitivity_trains_only_the_new_cell(tmp_path):
    """Phase one: the candidates on the tuning seeds only; phase two: each arm's choice on the
    evaluation seeds. Then `--vary lr=...` adds a cell: only its runs not held already train."""
    path = tmp_path / "tuned.toml"
    path.write_text(TUNED)
    first = run_sweep(str(path), tmp_path, progress=False, num_cpus=2)
    runs = pd.read_parquet(first.results_dir / "runs.parquet")
    grid = load_grid(str(path))
    assert (runs.status == "ok").all() and first.trained == len(runs) and first.reused == 0
    on_tuning = runs[runs.seed.isin(grid.tuning.seeds)]
    assert sorted(zip(on_tuning.loss_mode, on_tuning.lr)) == sorted(
        (loss, lr) for loss in ("naive", "clipped") for lr in (1e-3, 3e-2) for _ in grid.tuning.seeds)
    selection = select(objective_table(tuning_success(open_results(first.results_dir), grid), grid), grid)
    tuned = {config.config_id for config in tuned_cell(grid, selection).values()}
    default = {config.config_id for config in grid.cell({}).values()}
    on_evaluation = runs[runs.seed.isin(grid.seeds)]
    assert set(on_evaluation.config_id) == default | tuned and len(on_evaluation) == 2 * len(default | tuned)

    before = set(zip(runs.config_id, runs.seed))
    written = {path: path.stat().st_mtime_ns for path in first.results_dir.glob("records/*/*.parquet")}
    grown = run_sweep(str(path), tmp_path, progress=False, num_cpus=2, vary={"lr": [3e-2]})
    runs = pd.read_parquet(grown.results_dir / "runs.parquet")
    new = set(zip(runs.config_id, runs.seed)) - before
    cell = {config.config_id for config in grid.cell({"lr": 3e-2}).values()}
    assert grown.trained == len(new) == 2 * len(cell - tuned) > 0 and grown.reused == len(before)
    assert {path: path.stat().st_mtime_ns for path in written} == written  # nothing trained again
    assert set(runs[runs.config_id.isin({c for c, _ in new})].lr) == {3e-2}


@pytest.mark.e2e
def test_a_failing_configuration_is_isolated(tmp_path, capsys):
    """dim = 100000 asks for 240 GB of weights: that configuration fails in one line from the
    memory estimate before any allocation (as grpo train refuses it), the others finish."""
    grid = tmp_path / "partly.toml"
    grid.write_text('seeds = 2\n[grid]\ndim = [10, 100000]\nloss_mode = ["naive", "clipped"]\nepochs = 3\n')
    assert main(["sweep", str(grid), "--results", str(tmp_path), "--quiet", "--num-cpus", "2"]) == 1
    out, err = capsys.readouterr()
    assert "2 configuration(s) failed" in out and err.count("GiB available; ask for smaller sizes") == 2
    runs = pd.read_parquet(tmp_path / "partly" / "runs.parquet")
    assert runs.groupby("dim").status.apply(set).to_dict() == {10: {"ok"}, 100000: {"failed"}}
    assert runs[runs.status == "failed"].error.str.match(r"needs about [\d,]+ GiB of memory, this node has").all()
    frame = pd.read_parquet(tmp_path / "partly" / "records")
    assert set(frame.dim.astype(int)) == {10} and len(frame) == 2 * 2 * 3 * 10


@pytest.mark.parametrize("args, named", [(["nope"], "'nope'"), (["smoke", "--num-cpus", "0"], "--num-cpus")])
def test_bad_sweep_input_is_one_line_and_exit_2(tmp_path, capsys, args, named):
    assert main(["sweep", *args, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and named in err
    assert list(tmp_path.iterdir()) == []


def test_help_says_that_ray_address_counts_as_address(capsys):
    assert main(["sweep", "--help"]) == 0
    assert "RAY_ADDRESS, when set, counts as --address" in " ".join(capsys.readouterr().out.split())


@pytest.mark.e2e  # starts Ray
def test_configurations_that_differ_only_in_numbers_train_as_one_trial(tmp_path, monkeypatch):
    """lr x epsilon x 2 losses: 2 trials for 6 configurations (naive reads no epsilon: its rows
    collapse to 2), each configuration's records those of an ungrouped sweep (TRIAL_BYTES 0: every
    configuration a trial of its own) bit for bit, and each run info names its group."""
    grid = tmp_path / "sensitivity.toml"
    grid.write_text('seeds = 3\n[grid]\nloss_mode = ["naive", "clipped"]\nlr = [1e-3, 3e-3]\nepsilon = [0.01, 0.2]\n'
                    'kl_penalty = 0.1\nepochs = 4\nsteps_per_epoch = 3\n')
    configs = load_grid(str(grid)).configs()
    grouped = run_sweep(str(grid), tmp_path / "grouped", progress=False, num_cpus=2)
    assert len(configs) == 6 and (grouped.trials, grouped.trained, grouped.failed) == (2, 18, [])
    monkeypatch.setattr("grpo.sweep.run.TRIAL_BYTES", 0)
    alone = run_sweep(str(grid), tmp_path / "alone", progress=False, num_cpus=2)
    assert (alone.trials, alone.trained, alone.failed) == (6, 18, [])
    pd.testing.assert_frame_equal(records(grouped.results_dir), records(alone.results_dir), check_exact=True)
    groups = {tuple(json.loads(path.read_text())["group"]) for path in grouped.results_dir.glob("trials/*/*.json")}
    assert sorted(map(len, groups)) == [2, 4]


def test_an_address_where_nothing_answers_is_one_line_within_seconds(tmp_path, capsys):
    """Ray's client would retry such an address for minutes; the sweep asks once and says so."""
    with socket.socket() as probe:  # a port of this machine that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["sweep", "smoke", "--results", str(tmp_path), "--address", f"127.0.0.1:{port}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"cannot join the Ray cluster at '127.0.0.1:{port}': nothing answers there" in err
