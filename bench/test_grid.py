"""The `smoke` grid end to end through Ray Tune, against the same configurations trained in
this process without Ray: the difference is what Ray's trials cost. Both must give the same
records (to the float tolerance of stacked vs separate seeds), configuration by configuration."""

import pandas as pd
import pytest

from grpo import train
from grpo.core.schema import COLUMNS
from grpo.experiment.grids import load_grid
from grpo.sweep.run import run_sweep
from grpo.testing import STACKED_TOLERANCE


def same_records(results_dir, configs, seeds) -> bool:
    """Whether the sweep's records of each configuration equal its in-process training."""
    swept = pd.read_parquet(results_dir / "records", columns=list(COLUMNS)).astype({"config_id": str})
    for config in configs:
        mine = swept[swept.config_id == config.config_id].sort_values(["seed", "step"]).reset_index(drop=True)
        try:
            pd.testing.assert_frame_equal(mine, train(config, seeds)[list(COLUMNS)], **STACKED_TOLERANCE)
        except AssertionError:
            return False
    return True


@pytest.mark.parametrize("impl", ["ray", "in-process"])
def test_smoke_grid(benchmark, tmp_path, impl):
    grid = load_grid("smoke")
    configs = grid.configs()
    rounds = iter(range(100))

    if impl == "ray":
        def timed():
            return run_sweep("smoke", tmp_path / f"round{next(rounds)}", progress=False)
    else:
        def timed():
            return [train(config, grid.seeds) for config in configs]

    result = benchmark.pedantic(timed, rounds=2, iterations=1)
    if impl == "ray":
        agrees = result.trials == len(configs) and not result.failed and same_records(result.results_dir, configs, grid.seeds)
    else:
        agrees = len(result) == len(configs)
    benchmark.extra_info.update(suite="grid", impl=impl, configurations=len(configs), agrees=agrees)
    assert agrees
