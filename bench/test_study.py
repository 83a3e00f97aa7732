"""A sensitivity study at the cost of one sweep: the `full` grid x 4 learning rates at
its 100 seeds, swept with the configurations that differ only in lr grouped into one trial
(grpo.core.group) and swept one configuration per trial, against the `full` grid alone, in the
same run. The goal is the grouped study within 1.5x the full grid's wall time; the ratios are
read off this suite's rows (impl full, grouped, one-per-trial). The one-per-trial sweep runs only
with --one-per-trial: 288 trials took over 1265 s at load 4 to 16 on the 2-core machine, twice the
grouped study, more than the rest of `grpo bench` together."""

import re

import pytest

from grpo.experiment.grids import load_grid
from grpo.sweep.run import run_sweep

RATES = [3e-4, 1e-3, 3e-3, 1e-2]  # around the seed document's 1e-3


def study_grid(folder, with_rates: bool) -> str:
    """The full preset's seeds and [grid] table alone (its confirm seeds, [sensitivity] and
    [tuning] tables left out: 7,200 confirmation runs, 240 more configurations at 100 seeds and
    288 tuning candidates at 20), with an lr axis of RATES if `with_rates`."""
    text = re.sub(r"^confirm\s*=.*\n", "", load_grid("full").text, flags=re.MULTILINE)
    grid_start = re.search(r"^\[grid\][^\n]*\n", text, flags=re.MULTILINE).end()
    next_table = re.search(r"^\[", text[grid_start:], flags=re.MULTILINE)
    grid = text[:grid_start + next_table.start()] if next_table else text
    path = folder / ("full-lr.toml" if with_rates else "full-grid.toml")
    path.write_text(grid.rstrip() + "\n" + (f"lr = {RATES}\n" if with_rates else ""))
    return str(path)


@pytest.mark.parametrize("impl", ["full", "grouped", "one-per-trial"])
def test_sensitivity_study(benchmark, request, tmp_path, monkeypatch, impl):
    if request.config.getoption("--quick"):
        pytest.skip("--quick: the study sweeps 360 configurations at 100 seeds (minutes)")
    if impl == "one-per-trial" and not request.config.getoption("--one-per-trial"):
        pytest.skip("the one-per-trial sweep runs with --one-per-trial (twice the grouped study's time)")
    grid = study_grid(tmp_path, with_rates=impl != "full")
    if impl == "one-per-trial":
        monkeypatch.setattr("grpo.sweep.run.TRIAL_BYTES", 0)  # no group fits: every configuration a trial
    configurations = len(load_grid(grid).configs())
    rounds = iter(range(100))

    def timed():
        return run_sweep(grid, tmp_path / f"round{next(rounds)}", progress=False)

    outcome = benchmark.pedantic(timed, rounds=1, iterations=1)
    runs = configurations * len(load_grid(grid).seeds)
    agrees = outcome.trained == runs and not outcome.failed and not outcome.missing
    benchmark.extra_info.update(suite="study", impl=impl, configurations=configurations, trials=outcome.trials,
                                runs=runs, agrees=agrees)
    assert agrees, (f"{impl}: {outcome.trained} of {runs} runs trained in {outcome.trials} trials; failed:"
                    f" {outcome.failed[:3]}; configurations missing: {len(outcome.missing)} {outcome.missing[:3]}; interrupted:"
                    f" {outcome.interrupted}; damaged: {outcome.damaged[:3]}")
