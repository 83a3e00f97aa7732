"""The `smoke` grid end to end through Ray Tune, against the same configurations trained in
this process without Ray: the difference is what Ray's trials cost."""

import pytest

from grpo import train
from grpo.grids import load_grid
from grpo.sweep import run_sweep


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
    done = result.ran if impl == "ray" else len(result)
    benchmark.extra_info.update(suite="grid", impl=impl, configurations=len(configs), agrees=done == len(configs))
    assert benchmark.extra_info["agrees"]
