"""Tuning on seeds kept apart: each arm's candidates scored on the tuning seeds, one chosen per arm.

An arm is a configuration of the grid, or a level of one axis (``per = "loss_mode"``: every
configuration of that level shares one choice). The objective of a candidate on a tuning seed is
success (grpo.experiment.results.PRIMARY) over the final window, a diverged run counting 0, averaged
over the arm's configurations; a candidate's score is its mean over the tuning seeds, and the arm
chooses the highest (an exact tie goes to the candidate listed first). A choice at the lowest or
highest value of a numeric field's candidates is named: the optimum may lie beyond them (extend
the candidates; they train on the tuning seeds only). Phase two trains each arm's choice on the
evaluation seeds (grpo.sweep.run); the report pairs contrasts there, never on the tuning seeds.
"""

import numpy as np
import pandas as pd

from grpo.core.config import TrainConfig
from grpo.experiment.grids import Grid, describe
from grpo.experiment.results import PRIMARY, PRIMARY_SOURCE, Results, final_values, per_epoch

OBJECTIVE = f"{PRIMARY} over the final window on the tuning seeds, a diverged run counting 0"


def objective_table(success: pd.Series, grid: Grid) -> pd.DataFrame:
    """success: index (config_id, seed) -> final success of each run with records, NaN where it
    diverged -> [arm x candidate, tuning seed]: the objective per (arm, candidate index) and tuning
    seed; NaN where a run of the arm's candidate is absent (missing or failed: it cannot choose)."""
    assert grid.tuning is not None  # a grid with a [tuning] table
    seeds = list(grid.tuning.seeds)
    rows = {}
    for index, candidate in enumerate(grid.candidates()):
        for arm, members in grid.arms().items():
            keys = pd.MultiIndex.from_product([[candidate[default_id].config_id for default_id in members], seeds])
            present = keys.isin(success.index)
            scores = success.reindex(keys).fillna(0.0).to_numpy().reshape(len(members), len(seeds))  # [config seed]
            rows[(arm, index)] = scores.mean(0) if present.all() else np.full(len(seeds), np.nan)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=seeds)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["arm", "candidate"])
    return table


def tuning_success(results: Results, grid: Grid) -> pd.Series:
    """objective_table's `success`, read from the records of the tuning candidates (the sweep's
    phase one; the report has it from its own reading)."""
    assert grid.tuning is not None  # a grid with a [tuning] table
    seeds = list(grid.tuning.seeds)
    finals = []
    configs = {config.config_id: config for candidate in grid.candidates() for config in candidate.values()}
    for config_id, config in configs.items():
        records = results.records(config_id, ["epoch", PRIMARY_SOURCE, "diverged"])
        records = records[records.seed.isin(seeds)]
        if len(records):
            final = final_values(per_epoch(records), config.epochs, {PRIMARY: PRIMARY_SOURCE})[PRIMARY]
            finals.append(pd.Series(final.to_numpy(), index=pd.MultiIndex.from_product([[config_id], final.index])))
    return pd.concat(finals) if finals else pd.Series(dtype=float)


def choose(scores: np.ndarray) -> np.ndarray:
    """scores [... candidate] -> the index of the highest along the last axis; an exact tie
    goes to the first (the candidate listed first in the grid)."""
    return np.argmax(scores, axis=-1)


def select(table: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """table: objective_table's -> one row per arm: `choice` (candidate index, -1 where some
    candidate lacks runs), `chosen` (its description), `objective` (its mean over the tuning
    seeds: picked, so biased upward; the report's contrasts use the evaluation seeds), `edge`
    (the fields whose chosen value is the lowest or highest of their candidates; '' where the
    choice is tied: an order of listing chose it, not the objective) and `tied` (the other
    candidates with exactly the chosen one's score: the first listed won)."""
    assert grid.tuning is not None  # a grid with a [tuning] table
    candidates = grid.tuning.candidates
    rows = []
    for arm, scores in table.groupby(level="arm", sort=False):
        means = scores.mean(axis=1).to_numpy()  # [candidate]
        if np.isnan(means).any():
            rows.append({"arm": arm, "choice": -1, "chosen": "", "objective": np.nan, "edge": "", "tied": ""})
            continue
        choice = int(choose(means))
        tied = [describe(candidates[i]) for i in np.flatnonzero(means == means[choice]) if i != choice]
        rows.append({"arm": arm, "choice": choice, "chosen": describe(candidates[choice]), "objective": float(means[choice]),
                     "edge": "" if tied else edge(candidates, choice), "tied": "; ".join(tied)})
    return pd.DataFrame(rows, columns=["arm", "choice", "chosen", "objective", "edge", "tied"])


def edge(candidates: tuple[dict, ...], choice: int) -> str:
    """`lr highest`, `lr lowest, epsilon highest`: the numeric fields whose chosen value is at an end
    of the values tried ('' where every field's choice lies inside its range)."""
    ends = []
    for name, value in candidates[choice].items():
        tried = {candidate[name] for candidate in candidates}
        if len(tried) > 1 and all(isinstance(v, int | float) for v in tried) and value in (min(tried), max(tried)):
            ends.append(f"{name} {'lowest' if value == min(tried) else 'highest'}")
    return ", ".join(ends)


def tuned_cell(grid: Grid, selection: pd.DataFrame) -> dict[str, TrainConfig]:
    """Default config_id -> its arm's chosen configuration (arms that could not choose left out):
    phase two trains these on the evaluation seeds."""
    candidates = grid.candidates()
    arms = grid.arms()
    return {default_id: candidates[row.choice][default_id] for row in selection.itertuples() if row.choice >= 0
            for default_id in arms[row.arm]}
