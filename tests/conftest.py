"""Shared fixtures: one real `smoke` sweep (Ray Tune, parquet) for every test that reads results; the
one-line refusal of `grpo train`."""

import pytest

from grpo.cli import main
from grpo.sweep.run import run_sweep

E2E_FIXTURES = {"smoke_outcome", "swept", "example_site"}  # fixtures that start Ray (a real sweep) or pip-install a package


@pytest.hookimpl(tryfirst=True)  # before `-m "not e2e"` deselects
def pytest_collection_modifyitems(items):
    """A test that requests a fixture of E2E_FIXTURES (at any depth) is an e2e test."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def train_refusal(capsys):
    """refusal(argv) -> the error `grpo train ARGV` (one seed, one epoch) exits 2 with: one line, checked."""
    def refusal(argv: list[str]) -> str:
        assert main(["train", *argv, "--seeds", "1", "--epochs", "1", "--quiet"]) == 2, argv
        error = capsys.readouterr().err
        assert error.count("\n") == 1, (argv, error)
        return error

    return refusal


@pytest.fixture(scope="session")
def smoke_outcome(tmp_path_factory):
    return run_sweep("smoke", tmp_path_factory.mktemp("results"), progress=False, num_cpus=2)


@pytest.fixture(scope="session")
def smoke_results(smoke_outcome):
    """The results folder of a real `grpo sweep smoke`."""
    return smoke_outcome.results_dir


@pytest.fixture
def in_process_sweep(monkeypatch):
    """run_sweep with its trials run in this process, one after another (no Ray): the sweep's
    own planning, phases, scans and runs.parquet, for tests of what a sweep decides. Returns
    (run, attempts): run(grid, results_root, fail=None) sweeps, `fail(config)` True making that
    configuration's trial fail as one that raises does, `records(config, seeds)` (default: training) making a
    trial's records; attempts lists each (config_id, seeds) trained."""
    from contextlib import contextmanager

    from grpo.core.train import train
    from grpo.experiment.store import trial_info, write_trial
    from grpo.sweep import run as sweep_run
    from grpo.sweep.runtime import Driver

    attempts: list[tuple[str, tuple[int, ...]]] = []
    failing = {"fail": None, "records": train}

    @contextmanager
    def no_ray(address, num_cpus, results_dir, scratch):
        yield Driver(None)

    def trials(groups, results_dir, sweep_id, tune_dir, progress):
        for configs, seeds in groups:
            for config in configs:
                attempts.append((config.config_id, tuple(seeds)))
                if failing["fail"] is not None and failing["fail"](config):
                    write_trial(results_dir, config, seeds, None, trial_info(config, seeds, "failed", "RuntimeError: boom"))
                else:
                    records = failing["records"](config, seeds)
                    write_trial(results_dir, config, seeds, records, trial_info(config, seeds, "ok", wall_s=0.0))

    monkeypatch.setattr(sweep_run, "ray_runtime", no_ray)
    monkeypatch.setattr(sweep_run, "run_trials", trials)

    def run(grid, results_root, fail=None, records=None, **kwargs):
        failing["fail"], failing["records"] = fail, records or train
        return sweep_run.run_sweep(str(grid), results_root, progress=False, **kwargs)

    return run, attempts
