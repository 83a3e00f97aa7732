"""Does each finding survive the held-fixed values and tuning? Pure, like grpo.report.grid.compute.

A *cell* is the whole design grid at other held-fixed values (a sensitivity cell: one value
changed, grpo.experiment.grids) or at each arm's tuned setting (the `tuned` cell: each arm's
choice on the tuning seeds, trained on the evaluation seeds). Every cell trains the same
evaluation seeds, so an effect in a cell is the same paired contrast as in the default cell
(grpo.report.grid._compute.factor_effects, on the cell's configurations in place of the default
cell's). The family of one report is every main effect and every interaction decisive in the
default cell, in every cell: Holm's correction runs over effects x cells.

Verdicts (VERDICTS), over the cells where a finding could be measured:
- robust: decisive in every cell, with one sign;
- conditional: decisive somewhere, but it flips (decisive with the other sign) or vanishes (not
  decisive) in some cells, which the verdict names;
- default-only: decisive in the default cell only;
- not decisive: decisive in no cell.
The sign a flip is measured against is the default cell's where it is decisive there, else that
of the largest decisive difference.
"""


import numpy as np
import pandas as pd

from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL, describe
from grpo.experiment.results import FINISHED
from grpo.experiment.tuning import choose, objective_table, select, tuned_cell
from grpo.report._data import ReportData
from grpo.report._names import configuration_name
from grpo.report._stats import ALPHA, RESAMPLES, holm, resample_counts
from grpo.report.grid._compute import Robustness, Tables, best_of, factor_effects, tied_with_best

VERDICTS = ("robust", "conditional", "default-only", "not decisive")
ROBUSTNESS_COLUMNS = ["factor", "level", "reference", "cell", "difference", "low", "high", "decisive", "p", "p_holm"]
INTERACTION = " × "  # joins an interaction's two factors (and levels) in one robustness row


def with_robustness(tables: Tables, data: ReportData) -> Tables:
    """`tables` with its robustness (where the grid has cells beyond the default or a tuning) and
    each effect's verdict: columns verdict, flips, vanishes of effects.csv (and of the tested
    interactions)."""
    if data.study is None:
        return tables
    best = tables.configurations.config_id.iloc[0] if tables.configurations["rank"].notna().any() else None
    found = robustness(data, tables.axes, tables.references, tables.interactions, best)
    tables.robustness = found
    verdicts = found.verdicts
    tables.effects = tables.effects.merge(verdicts.drop(columns="reference"), on=["factor", "level"], how="left")
    inter = tables.interactions
    keys = pd.DataFrame({"factor": inter.factor + INTERACTION + inter.factor_b,
                         "level": inter.level.astype(str) + INTERACTION + inter.level_b.astype(str)})
    tested = keys.merge(verdicts.drop(columns="reference"), on=["factor", "level"], how="left")
    tables.interactions = inter.assign(**{name: tested[name].fillna("").to_numpy() for name in ("verdict", "flips", "vanishes")})
    return tables


def robustness(data: ReportData, axes: dict, references: dict, interactions: pd.DataFrame, best: str | None
               ) -> Robustness:
    """The robustness tables of `data` (which has a study): `axes`, `references`, the default
    cell's `interactions` (its decisive ones are tested) and its `best` config_id, as compute made them."""
    study = data.study
    assert study is not None  # robustness is computed for a study only (grpo.report.grid.with_robustness)
    seeds = list(study.grid.seeds)
    cells = dict(study.cells)
    held = {cell: describe(_own_values(data)) if cell == DEFAULT_CELL else cell for cell in cells}
    tuning, chosen = pd.DataFrame(), {}
    if study.grid.tuning:
        table = objective_table(study.success, study.grid)  # [arm x candidate, tuning seed]
        selection = select(table, study.grid)
        cells[TUNED_CELL] = {default_id: config.config_id for default_id, config in
                             tuned_cell(study.grid, selection).items()}
        held[TUNED_CELL] = _tuned_description(study.grid)
        arms = study.grid.arms()
        chosen = {default_id: row.chosen for row in selection.itertuples() for default_id in arms[row.arm]}
        tuning = _stability(table, selection, study.grid, data, axes)
    complete = _complete(study.runs)
    scores, incomplete = {}, {}
    for cell, mapping in cells.items():
        usable = {default_id: config_id for default_id, config_id in mapping.items() if config_id in complete}
        frame = study.success.reindex(pd.MultiIndex.from_product([list(usable.values()), seeds]))
        frame = pd.DataFrame(frame.to_numpy().reshape(len(usable), len(seeds)), index=list(usable), columns=seeds)
        scores[cell] = frame[frame.notna().any(axis=1)]  # [default config_id, seed]
        incomplete[cell] = len(data.configs) - len(scores[cell])
    rows = pd.concat([_cell_rows(scores[cell], cell, data, axes, references, interactions, seeds) for cell in cells],
                     ignore_index=True)
    rows["p_holm"] = holm(rows.p) if len(rows) else []
    rows["decisive"] = rows.p_holm < ALPHA
    rows = rows[ROBUSTNESS_COLUMNS]
    verdicts = pd.DataFrame([{"factor": factor, "level": level, "reference": group.reference.iloc[0],
                              **verdict(group.set_index("cell"))}
                             for (factor, level), group in rows.groupby(["factor", "level"], sort=False)])
    return Robustness(held, rows, verdicts, _best_per_cell(scores, seeds, data, axes, best, chosen),
                      _sensitivity(rows, study.grid, data), tuning, incomplete)


def verdict(rows: pd.DataFrame) -> dict:
    """rows: one finding, index cell (DEFAULT_CELL among them), columns difference, decisive ->
    {verdict, flips, vanishes}: the verdict (VERDICTS) and the cells where the finding flips sign
    or is not decisive ('; '-joined). Cells without a difference (left out) do not count."""
    rows = rows[rows.difference.notna()]
    decisive = rows[rows.decisive.astype(bool)]
    if not len(decisive):
        return {"verdict": "not decisive", "flips": "", "vanishes": ""}
    anchor = decisive.loc[DEFAULT_CELL] if DEFAULT_CELL in decisive.index else decisive.loc[decisive.difference.abs().idxmax()]
    sign = np.sign(anchor.difference)
    flips = [cell for cell in decisive.index if np.sign(decisive.difference[cell]) != sign]
    vanishes = [cell for cell in rows.index if cell not in decisive.index]
    if not flips and not vanishes:
        name = "robust"
    elif list(decisive.index) == [DEFAULT_CELL]:
        name = "default-only"
    else:
        name = "conditional"
    return {"verdict": name, "flips": "; ".join(flips), "vanishes": "; ".join(vanishes)}


def _cell_rows(scores, cell, data, axes, references, interactions, seeds) -> pd.DataFrame:
    """A cell's main effects and its contrasts for the interactions decisive in the default cell."""
    main, pairs = factor_effects(scores, data.configs, axes, references, seeds)
    keys = ["factor", "level", "factor_b", "level_b"]
    tested = interactions[interactions.decisive][keys]
    pairs = pairs.merge(tested, on=keys)
    pairs = pairs.assign(factor=pairs.factor + INTERACTION + pairs.factor_b,
                         level=pairs.level.astype(str) + INTERACTION + pairs.level_b.astype(str),
                         reference=pairs.reference.astype(str) + INTERACTION + pairs.reference_b.astype(str))
    return pd.concat([main, pairs], ignore_index=True).assign(cell=cell)[
        ["factor", "level", "reference", "cell", "difference", "low", "high", "p"]]


def _complete(runs: pd.DataFrame) -> set[str]:
    """config_ids whose every run of the plan finished (ok or diverged)."""
    finished = runs.status.isin(FINISHED).groupby(runs.config_id).all()
    return set(finished.index[finished])


def _own_values(data: ReportData) -> dict:
    """The default cell's value of each sensitivity field (the value its grid holds fixed)."""
    assert data.study is not None  # a study's default cell
    return {name: data.configs[name].mode().iloc[0] for name in data.study.grid.sensitivity or {}}


def _tuned_description(grid) -> str:
    tuning = grid.tuning
    fields = list(tuning.candidates[0])
    seeds = tuning.seeds
    span = f"{seeds[0]}–{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else f"{len(seeds)} seeds"
    return f"{', '.join(fields)} tuned per {tuning.per} on seeds {span}"


def _stability(table: pd.DataFrame, selection: pd.DataFrame, grid, data: ReportData, axes: dict) -> pd.DataFrame:
    """Per arm: its choice and how often each candidate wins when the tuning seeds are resampled
    (RESAMPLES bootstrap resamples, the selection rule of grpo.experiment.tuning.choose)."""
    names = [describe(candidate) for candidate in grid.tuning.candidates]
    counts = resample_counts(table.shape[1])  # [RESAMPLES seed]
    rows = []
    for row in selection.itertuples():
        scores = table.loc[row.arm].to_numpy(dtype=float)  # [candidate seed]
        arm = configuration_name(data.configs.loc[row.arm], axes) if grid.tuning.per == "configuration" else row.arm
        wins = {f"wins {name}": np.nan for name in names}
        if row.choice >= 0:
            winners = choose(counts @ scores.T.astype(np.float32) / table.shape[1])  # [RESAMPLES]
            shares = np.bincount(winners, minlength=len(names)) / RESAMPLES
            wins = {f"wins {name}": share for name, share in zip(names, shares)}
        rows.append({"arm": arm, "chosen": row.chosen or "–", "objective": row.objective, "edge": row.edge,
                     "tied with": row.tied, "stability": wins.get(f"wins {row.chosen}", np.nan), **wins})
    return pd.DataFrame(rows)


def _best_per_cell(scores: dict, seeds: list, data: ReportData, axes: dict, default_best: str | None,
                   chosen: dict[str, str]) -> pd.DataFrame:
    """Per cell: its best configuration with its success, and the default cell's best there: its
    success, its paired difference to the cell's best, and whether it is tied with it (Holm).
    `chosen`: default config_id -> its tuned setting, named beside a configuration of the tuned cell."""
    rows = []
    for cell, frame in scores.items():

        def label(config_id, cell=cell):
            own = configuration_name(data.configs.loc[config_id], axes)
            return f"{own} at {chosen[config_id]}" if cell == TUNED_CELL else own

        best = best_of(frame, seeds) if len(frame) else None
        if best is None:
            continue
        tied = tied_with_best(frame, seeds)
        row = {"cell": cell, "best": label(best), "best success": frame.loc[best].mean()}
        if default_best in frame.index:
            row |= {"default's best": label(default_best),
                    "its success": frame.loc[default_best].mean(), "best − it": tied.difference[default_best],
                    "low": tied.low[default_best], "high": tied.high[default_best],
                    "tied": bool(tied.tied[default_best])}
        rows.append(row)
    return pd.DataFrame(rows)


def _sensitivity(rows: pd.DataFrame, grid, data: ReportData) -> pd.DataFrame:
    """The main effects of each sensitivity field's cells against the field's value (the default
    cell at the grid's own value): the data of the sensitivity figures."""
    frames = []
    main = rows[~rows.factor.str.contains(INTERACTION, regex=False)]
    for name, values in (grid.sensitivity or {}).items():
        at = {DEFAULT_CELL: _own_values(data)[name]} | {describe({name: value}): value for value in values}
        for cell, value in at.items():
            part = main[main.cell == cell]
            if len(part):
                frames.append(part.assign(field=name, value=value))
    if not frames:
        return pd.DataFrame(columns=["field", "value", *ROBUSTNESS_COLUMNS])
    return pd.concat(frames, ignore_index=True).drop_duplicates(["field", "value", "factor", "level"])
