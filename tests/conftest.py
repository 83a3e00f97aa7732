"""Shared fixtures: one real `smoke` sweep (Ray Tune, parquet) for every test that reads results."""

import pytest

from grpo.sweep.run import run_sweep


@pytest.fixture(scope="session")
def smoke_outcome(tmp_path_factory):
    return run_sweep("smoke", tmp_path_factory.mktemp("results"), progress=False, num_cpus=2)


@pytest.fixture(scope="session")
def smoke_results(smoke_outcome):
    """The results folder of a real `grpo sweep smoke`."""
    return smoke_outcome.results_dir
