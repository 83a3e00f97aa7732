"""Shared fixtures: one real `smoke` sweep (Ray Tune, parquet) for every test that reads results."""

import pytest

from grpo.sweep.run import run_sweep

E2E_FIXTURES = {"smoke_outcome", "swept", "example_site"}  # fixtures that start Ray (a real sweep) or pip-install a package


@pytest.hookimpl(tryfirst=True)  # before `-m "not e2e"` deselects
def pytest_collection_modifyitems(items):
    """A test that requests a fixture of E2E_FIXTURES (at any depth) is an e2e test."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def smoke_outcome(tmp_path_factory):
    return run_sweep("smoke", tmp_path_factory.mktemp("results"), progress=False, num_cpus=2)


@pytest.fixture(scope="session")
def smoke_results(smoke_outcome):
    """The results folder of a real `grpo sweep smoke`."""
    return smoke_outcome.results_dir
