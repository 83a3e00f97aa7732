"""Is everything a report uses there? The gaps of a study, over every part of it.

A study (grpo.experiment.grids) has up to four parts, each a set of (configuration, seed) runs:
the default cell (the grid itself) and each sensitivity cell on the evaluation seeds; the tuning
candidates on the tuning seeds (the sweep's phase one); the tuned cell, each arm's choice on the
evaluation seeds (phase two). A run is there when runs.parquet holds it finished (ok or
diverged: grpo.experiment.results.FINISHED) with its records whole (results.open_results marks
the others missing). An arm of the tuned cell is *not chosen* while one of its candidates lacks a
run (grpo.experiment.tuning.select cannot choose for it). The sweep names the gaps it leaves and
the report names every gap, cell and configuration, and computes nothing from a cell with one:
its contrasts would average over other configurations than the default cell's.
"""

from dataclasses import dataclass

import pandas as pd

from grpo.core.config import TrainConfig
from grpo.experiment.grids import TUNED_CELL, Grid, describe
from grpo.experiment.results import FINISHED

TUNING_PART = "tuning"  # the part of the tuning candidates on the tuning seeds
NOT_CHOSEN = "not chosen"  # the status of a tuned arm whose candidates lack runs
SHOWN = 12  # gaps named in one line; the rest counted


@dataclass(frozen=True)
class Gap:
    """Runs a report uses that are not there: one configuration of one part of the study."""

    part: str  # DEFAULT_CELL, a sensitivity cell ("lr 0.01"), TUNING_PART or TUNED_CELL
    config_id: str  # the configuration lacking runs (in the tuned cell, where not chosen: the default cell's)
    configuration: str  # its values on the grid's axes ("loss_mode clipped, kl_penalty 0.1"), or its candidate
    status: str  # "missing", "failed" (some seeds' trial raised) or NOT_CHOSEN
    seeds: tuple[int, ...]  # the seeds lacking

    def __str__(self) -> str:
        return f"{self.part}: `{self.config_id}` ({self.configuration}) {self.status} on {_seeds(self.seeds)}"


def study_gaps(grid: Grid, runs: pd.DataFrame, tuned: dict[str, TrainConfig] | None = None) -> list[Gap]:
    """Every gap of `grid`'s study in `runs` (columns config_id, seed, status: runs.parquet's, as
    results.open_results reads it), part by part in the order of the module docstring. `tuned`:
    the tuned cell (grpo.experiment.tuning.tuned_cell: default config_id -> its arm's choice; arms
    that could not choose left out); None where phase one has not been scored (every arm not chosen)."""
    status = dict(zip(zip(runs.config_id, runs.seed.astype(int)), runs.status))
    default = grid.cell({})
    gaps: list[Gap] = []

    def check(part: str, configs: dict[str, TrainConfig], seeds: tuple[int, ...], named=None) -> None:
        for default_id, config in configs.items():
            lacking = {seed: status.get((config.config_id, seed), "missing") for seed in seeds}
            lacking = {seed: found for seed, found in lacking.items() if found not in FINISHED}
            if lacking:
                kind = "failed" if "failed" in lacking.values() else "missing"
                gaps.append(Gap(part, config.config_id, named(default_id) if named else _values(grid, default[default_id]),
                                kind, tuple(lacking)))

    for cell, configs in grid.cells().items():
        check(cell, configs, grid.seeds)
    if grid.tuning:
        for candidate, configs in zip(grid.tuning.candidates, grid.candidates()):
            check(TUNING_PART, configs, grid.tuning.seeds,
                  lambda default_id, candidate=candidate: f"{_values(grid, default[default_id])} at {describe(candidate)}")
        chosen = tuned or {}
        check(TUNED_CELL, chosen, grid.seeds)
        gaps += [Gap(TUNED_CELL, default_id, _values(grid, config), NOT_CHOSEN, grid.seeds)
                 for default_id, config in default.items() if default_id not in chosen]
    return gaps


def incomplete_parts(gaps: list[Gap]) -> list[str]:
    """The parts (cells, TUNING_PART) with a gap, in order: nothing is computed from them."""
    return list(dict.fromkeys(gap.part for gap in gaps))


def gaps_line(gaps: list[Gap]) -> str:
    """The gaps in one line: the first SHOWN named, the rest counted."""
    named = "; ".join(str(gap) for gap in gaps[:SHOWN])
    return named + (f"; and {len(gaps) - SHOWN} more" if len(gaps) > SHOWN else "")


def _values(grid: Grid, config: TrainConfig) -> str:
    """A configuration by its values on the grid's axes (its config_id names it where the grid has none)."""
    return describe({axis: getattr(config, axis) for axis in grid.axes}) or "the grid's one configuration"


def _seeds(seeds: tuple[int, ...]) -> str:
    listed = ", ".join(map(str, seeds[:5])) + (f" and {len(seeds) - 5} more" if len(seeds) > 5 else "")
    return f"seed{'s' if len(seeds) > 1 else ''} {listed}"
