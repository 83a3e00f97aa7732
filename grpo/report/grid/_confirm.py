"""Confirmation of a grid's decisive findings on fresh seeds (the grid file's ``confirm`` range,
grpo.experiment.grids): the default cell trained again on seeds never evaluated nor tuned on, and
each finding decisive on the evaluation seeds measured there as the same paired contrast. Pure,
like grpo.report.grid._compute.

The confirmed findings are one Holm family (the decisive main effects and two-way interactions);
a finding *holds* where its Holm-adjusted p on the fresh seeds is below ALPHA with the evaluation
seeds' sign, *flips* where it is decisive with the other sign, and is *not confirmed* otherwise.
"""

import numpy as np
import pandas as pd

from grpo.report._data import ReportData
from grpo.report._stats import ALPHA, holm
from grpo.report.grid._compute import Tables, factor_effects

CONFIRMATION_COLUMNS = ["factor", "level", "reference", "factor_b", "level_b", "difference", "confirm_difference",
                        "confirm_low", "confirm_high", "confirm_p", "confirm_p_holm", "confirm_pairs", "confirmed"]


def confirmation(data: ReportData, axes: dict, references: dict, effects: pd.DataFrame,
                 interactions: pd.DataFrame) -> pd.DataFrame:
    """One row per finding decisive on the evaluation seeds (`effects`, `interactions` as compute
    made them) with its estimate on the confirm seeds (CONFIRMATION_COLUMNS); empty without a
    confirm range or its runs."""
    grid, success = data.grid, data.confirmation
    if grid is None or not grid.confirm or success is None or not len(success):
        return pd.DataFrame(columns=CONFIRMATION_COLUMNS)
    seeds = sorted(set(success.index.get_level_values("seed")))
    scores = success.unstack("seed").reindex(columns=seeds)  # [config seed]
    scores = scores[scores.notna().any(axis=1)]
    main, pairs = factor_effects(scores, data.configs.loc[scores.index], axes, references, seeds)
    keys = ["factor", "level", "factor_b", "level_b"]
    frames = []
    for found, fresh in ((effects, main), (interactions, pairs)):
        decisive = found[found.decisive.astype(bool)].assign(**{k: found.get(k, "") for k in keys if k not in found})
        fresh = fresh.assign(**{k: fresh.get(k, "") for k in keys if k not in fresh})
        merged = decisive[[*keys, "reference", "difference"]].merge(
            fresh[[*keys, "difference", "low", "high", "p", "pairs"]].rename(columns=lambda c: c if c in keys else f"confirm_{c}"),
            on=keys, how="left")
        frames.append(merged)
    rows = pd.concat(frames, ignore_index=True)
    rows["confirm_p_holm"] = holm(rows.confirm_p) if len(rows) else []
    decisive = rows.confirm_p_holm < ALPHA
    same = np.sign(rows.confirm_difference) == np.sign(rows.difference)
    rows["confirmed"] = np.where(decisive & same, "holds", np.where(decisive, "flips", "not confirmed"))
    return rows[CONFIRMATION_COLUMNS]


def with_confirmation(tables: Tables, data: ReportData) -> Tables:
    """`tables` with the confirmation of its decisive findings (empty without a confirm range)."""
    tables.confirmation = confirmation(data, tables.axes, tables.references, tables.effects, tables.interactions)
    return tables
