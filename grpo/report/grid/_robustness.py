"""Does each finding survive the held-fixed values and tuning? Pure, like grpo.report.grid.compute.

A *cell* is the whole design grid at other held-fixed values (a sensitivity cell: one value
changed, grpo.experiment.grids) or at each arm's tuned setting (the `tuned` cell: each arm's
choice on the tuning seeds, trained on the evaluation seeds). Every cell trains the same
evaluation seeds, so an effect in a cell is the same paired contrast as in the default cell
(grpo.report.grid._compute.factor_effects, on the cell's configurations in place of the default
cell's).

A cell *applies* to a finding only where it changes the training of at least one of the
finding's arms: a value that does not apply to a configuration (epsilon on a loss that does not
clip) leaves it as the default cell's run, and a cell whose runs for the finding are those of an
earlier cell (the `tuned` cell where every arm chose one sensitivity value) repeats that cell.
Neither is evidence; both are listed as *not applicable*.

One Holm family per test (each contrast has one adjusted p in every file and figure): in the
default cell, the main effects (effects.csv) and the two-way interactions (interactions.csv) are
a family each; the findings in the other cells (every main effect and every interaction decisive
in the default cell, in each applicable cell) are a third. Each row carries its raw 95% interval
and a Holm-adjusted (simultaneous) one (grpo.report._stats.adjusted_interval).

Each applicable cell's outcome (OUTCOMES): *decisive* (Holm-adjusted p < ALPHA); *vanishes*: the
two one-sided tests bound the effect within ±margin (grpo.report._stats.equivalence_p; the margin
is the finding's MDE at 80% power in the default cell); *not detected*: neither decisive nor
equivalent. Verdicts (VERDICTS), over the applicable cells:
- robust: decisive in every applicable cell, with one sign;
- conditional: decisive somewhere, and it flips (decisive with the other sign) or vanishes (by
  equivalence) in the cells named;
- unconfirmed: decisive somewhere, not detected (neither decisive nor equivalent) elsewhere;
- not detected: decisive in no applicable cell;
- untested: no cell beyond the default applies to it.
The sign a flip is measured against is the default cell's where it is decisive there, else that
of the largest decisive difference.
"""


import numpy as np
import pandas as pd

from grpo.experiment.completeness import incomplete_parts, study_gaps
from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL, describe
from grpo.experiment.results import FINISHED
from grpo.experiment.tuning import choose, objective_table, select, tuned_cell
from grpo.report._data import ReportData
from grpo.report._names import configuration_name
from grpo.report._stats import ALPHA, RESAMPLES, adjusted_interval, equivalence_p, holm, resample_counts
from grpo.report.grid._compute import Robustness, Tables, best_of, effect_terms, factor_effects, tied_with_best

VERDICTS = ("robust", "conditional", "unconfirmed", "not detected", "untested")
OUTCOMES = ("decisive", "vanishes", "not detected", "not applicable")
FAMILIES = {"main effects": "the main effects in the default cell (effects.csv)",
            "interactions": "the two-way interactions in the default cell (interactions.csv)",
            "other cells": "every main effect and every interaction decisive in the default cell, in each other cell"
                           " that applies to it"}
ROBUSTNESS_COLUMNS = ["factor", "level", "reference", "cell", "outcome", "difference", "low", "high", "low_holm",
                      "high_holm", "decisive", "p", "p_holm", "family", "margin", "p_equivalence"]
INTERACTION = " × "  # joins an interaction's two factors (and levels) in one robustness row


def with_robustness(tables: Tables, data: ReportData) -> Tables:
    """`tables` with its robustness (where the grid has cells beyond the default or a tuning) and
    each effect's verdict: columns verdict, flips, vanishes, not_detected, not_applicable of
    effects.csv (and of the tested interactions)."""
    if data.study is None:
        return tables
    best = tables.configurations.config_id.iloc[0] if tables.configurations["rank"].notna().any() else None
    found = robustness(data, tables.axes, tables.references, tables.effects, tables.interactions, best)
    tables.robustness = found
    tables.completeness.gaps = [gap for gap in found.gaps if gap.part != DEFAULT_CELL]  # the default cell's: counted already
    verdicts = found.verdicts
    named = [name for name in VERDICT_COLUMNS if name != "verdict"]
    effects = tables.effects.astype({"level": object})  # a grid of numeric axes only: float levels, the verdicts' objects
    tables.effects = effects.merge(verdicts.drop(columns="reference").astype({"level": object}), on=["factor", "level"],
                                   how="left")
    inter = tables.interactions
    keys = pd.DataFrame({"factor": inter.factor + INTERACTION + inter.factor_b,
                         "level": inter.level.astype(str) + INTERACTION + inter.level_b.astype(str)})
    tested = keys.merge(verdicts.drop(columns="reference"), on=["factor", "level"], how="left")
    tables.interactions = inter.assign(**{name: tested[name].fillna("").to_numpy() for name in ("verdict", *named)})
    return tables


def robustness(data: ReportData, axes: dict, references: dict, effects: pd.DataFrame, interactions: pd.DataFrame,
               best: str | None) -> Robustness:
    """The robustness tables of `data` (which has a study): `axes`, `references`, the default
    cell's `effects` and `interactions` (its decisive ones are tested; their Holm-adjusted p is
    the default cell's) and its `best` config_id, as compute made them."""
    study = data.study
    assert study is not None  # robustness is computed for a study only (grpo.report.grid.with_robustness)
    seeds = list(study.grid.seeds)
    cells = dict(study.cells)
    held = {cell: describe(_own_values(data)) if cell == DEFAULT_CELL else cell for cell in cells}
    tuning, chosen, tuned = pd.DataFrame(), {}, None
    if study.grid.tuning:
        table = objective_table(study.objective, study.grid)  # [arm x candidate, tuning seed]
        selection = select(table, study.grid)
        tuned = tuned_cell(study.grid, selection)
        cells[TUNED_CELL] = {default_id: config.config_id for default_id, config in tuned.items()}
        held[TUNED_CELL] = _tuned_description(study.grid)
        arms = study.grid.arms()
        chosen = {default_id: row.chosen for row in selection.itertuples() for default_id in arms[row.arm]}
        tuning = _stability(table, selection, study.grid, data, axes)
    complete = _complete(study.runs)
    gaps = study_gaps(study.grid, study.runs, tuned)
    left_out = set(incomplete_parts(gaps)) - {DEFAULT_CELL}  # no contrast from a cell other than the default with a gap
    scores, incomplete, usable = {}, {}, {}
    for cell, mapping in cells.items():
        usable[cell] = {default_id: config_id for default_id, config_id in mapping.items()
                        if config_id in complete and cell not in left_out}
        frame = study.success.reindex(pd.MultiIndex.from_product([list(usable[cell].values()), seeds]))
        frame = pd.DataFrame(frame.to_numpy().reshape(len(usable[cell]), len(seeds)), index=list(usable[cell]),
                             columns=seeds)
        scores[cell] = frame[frame.notna().any(axis=1)]  # [default config_id, seed]
        incomplete[cell] = len(data.configs) - len(scores[cell])
    rows = pd.concat([_cell_rows(scores[cell], cell, data, axes, references, interactions, seeds) for cell in cells],
                     ignore_index=True)
    rows = _families(rows, effects, interactions, _applicable(usable, scores, data, axes, references))
    rows = rows[ROBUSTNESS_COLUMNS]
    verdicts = pd.DataFrame([{"factor": factor, "level": level, "reference": group.reference.iloc[0],
                              **verdict(group.set_index("cell"))}
                             for (factor, level), group in rows.groupby(["factor", "level"], sort=False)])
    return Robustness(held, rows, verdicts, _best_per_cell(scores, seeds, data, axes, best, chosen),
                      _sensitivity(rows, study.grid, data), tuning, incomplete, gaps)


def _applicable(usable: dict, scores: dict, data: ReportData, axes: dict, references: dict) -> dict:
    """(finding factor, level, cell) -> whether the cell changes the training of one of the
    finding's arms (its runs differ from the default cell's and from every earlier cell's)."""
    default_ids = list(scores[DEFAULT_CELL].index)
    applies = {}
    for factor, level, _, factor_b, level_b, _, groups in effect_terms(data.configs, default_ids, axes, references):
        key = (factor + INTERACTION + factor_b, f"{level}{INTERACTION}{level_b}") if factor_b else (factor, level)
        members = sorted({config_id for group in groups for config_id in group})
        seen = [tuple(usable[DEFAULT_CELL].get(i) for i in members)]
        for cell in usable:
            if cell == DEFAULT_CELL:
                continue
            runs = tuple(usable[cell].get(i) for i in members)
            applies[(*key, cell)] = runs not in seen
            seen.append(runs)
    return applies


def _families(rows: pd.DataFrame, effects: pd.DataFrame, interactions: pd.DataFrame, applies: dict) -> pd.DataFrame:
    """rows with each test's family, Holm-adjusted p (the default cell's from effects and
    interactions), simultaneous interval, equivalence test and outcome (OUTCOMES)."""
    rows = rows.copy()
    is_default = (rows.cell == DEFAULT_CELL).to_numpy()
    is_interaction = rows.factor.str.contains(INTERACTION, regex=False).to_numpy()
    rows["applies"] = [True if cell == DEFAULT_CELL else applies.get((factor, str(level), cell), True)
                       for factor, level, cell in zip(rows.factor, rows.level, rows.cell)]
    rows["family"] = np.where(is_default, np.where(is_interaction, "interactions", "main effects"), "other cells")
    default_p = {(r.factor, str(r.level)): r.p_holm for r in effects.itertuples()} | {
        (r.factor + INTERACTION + r.factor_b, f"{r.level}{INTERACTION}{r.level_b}"): r.p_holm
        for r in interactions.itertuples()}
    rows["p_holm"] = np.nan
    rows.loc[is_default, "p_holm"] = [default_p.get((f, str(level)), np.nan)
                                      for f, level in zip(rows.factor[is_default], rows.level[is_default])]
    others = ~is_default & rows.applies.to_numpy(dtype=bool) & rows.difference.notna().to_numpy()
    rows.loc[others, "p_holm"] = holm(rows.p[others]) if others.any() else []
    sizes = {"main effects": len(effects), "interactions": len(interactions), "other cells": int(others.sum())}
    bounds = [adjusted_interval(r.difference, r.se, r.p, r.p_holm, sizes[r.family]) for r in rows.itertuples()]
    rows["low_holm"], rows["high_holm"] = [b[0] for b in bounds], [b[1] for b in bounds]
    rows["decisive"] = rows.p_holm < ALPHA
    margin = rows[is_default].set_index(["factor", "level"]).mde
    rows["margin"] = [margin.get((f, level), np.nan) for f, level in zip(rows.factor, rows.level)]
    rows["p_equivalence"] = [equivalence_p(r.difference, r.se, r.margin) for r in rows.itertuples()]
    rows["outcome"] = np.select(
        [~rows.applies.to_numpy(dtype=bool) | rows.difference.isna().to_numpy(), rows.decisive.to_numpy(dtype=bool),
         (rows.p_equivalence < ALPHA).to_numpy()], ["not applicable", "decisive", "vanishes"], "not detected")
    return rows


VERDICT_COLUMNS = ("verdict", "flips", "vanishes", "not_detected", "not_applicable")


def verdict(rows: pd.DataFrame) -> dict:
    """rows: one finding, index cell (DEFAULT_CELL among them), columns difference, decisive and
    outcome (OUTCOMES; where absent: decisive or not detected) -> {verdict, flips, vanishes,
    not_detected, not_applicable}: the verdict (VERDICTS) and the cells where the finding flips
    sign, vanishes by equivalence, is not detected, or which do not apply ('; '-joined)."""
    outcome = rows.outcome if "outcome" in rows else pd.Series(
        np.where(rows.decisive.astype(bool), "decisive", "not detected"), index=rows.index)
    outcome = outcome.where(rows.difference.notna(), "not applicable")
    applicable = rows[outcome != "not applicable"]
    decisive = applicable[outcome[applicable.index] == "decisive"]
    named = {"vanishes": [c for c in applicable.index if outcome[c] == "vanishes"],
             "not_detected": [c for c in applicable.index if outcome[c] == "not detected"],
             "not_applicable": [c for c in rows.index if outcome[c] == "not applicable"]}
    flips: list[str] = []
    if not len(decisive):
        name = "not detected"
    else:
        anchor = decisive.loc[DEFAULT_CELL] if DEFAULT_CELL in decisive.index else decisive.loc[decisive.difference.abs().idxmax()]
        sign = np.sign(anchor.difference)
        flips = [cell for cell in decisive.index if np.sign(decisive.difference[cell]) != sign]
        if not [cell for cell in applicable.index if cell != DEFAULT_CELL]:
            name = "untested"
        elif flips or named["vanishes"]:
            name = "conditional"
        elif named["not_detected"]:
            name = "unconfirmed"
        else:
            name = "robust"
    return {"verdict": name, "flips": "; ".join(flips), **{key: "; ".join(cells) for key, cells in named.items()}}


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
        ["factor", "level", "reference", "cell", "difference", "low", "high", "p", "se", "mde"]]


def _complete(runs: pd.DataFrame) -> set[str]:
    """config_ids whose every run of the plan finished (ok or diverged)."""
    finished = runs.status.isin(FINISHED).groupby(runs.config_id).all()
    return set(finished.index[finished])


def _own_values(data: ReportData) -> dict:
    """The default cell's value of each sensitivity or tuned field (the value its grid holds fixed):
    what names the default cell, with sensitivity cells or with tuning alone."""
    assert data.study is not None  # a study's default cell
    grid = data.study.grid
    names = dict.fromkeys([*(grid.sensitivity or {}), *(grid.tuning.candidates[0] if grid.tuning else {})])
    return {name: data.configs[name].mode().iloc[0] for name in names}


def _tuned_description(grid) -> str:
    tuning = grid.tuning
    fields = list(tuning.candidates[0])
    seeds = tuning.seeds
    span = f"{seeds[0]}–{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else f"{len(seeds)} seeds"
    return f"{', '.join(fields)} tuned per {tuning.per} on seeds {span}"


def _stability(table: pd.DataFrame, selection: pd.DataFrame, grid, data: ReportData, axes: dict) -> pd.DataFrame:
    """Per arm: its choice and how often each candidate wins when the tuning seeds are resampled
    (RESAMPLES bootstrap resamples, the selection rule of grpo.experiment.tuning.choose);
    `stability` NaN (undefined) where the choice is tied: the first listed wins every resample."""
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
                     "tied with": row.tied, "stability": np.nan if row.tied else wins.get(f"wins {row.chosen}", np.nan),
                     **wins})
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
    cell at the grid's own value), less the cells that change neither arm: the data of the
    sensitivity figures."""
    frames = []
    main = rows[~rows.factor.str.contains(INTERACTION, regex=False) & (rows.outcome != "not applicable")]
    for name, values in (grid.sensitivity or {}).items():
        at = {DEFAULT_CELL: _own_values(data)[name]} | {describe({name: value}): value for value in values}
        for cell, value in at.items():
            part = main[main.cell == cell]
            if len(part):
                frames.append(part.assign(field=name, value=value))
    if not frames:
        return pd.DataFrame(columns=["field", "value", *ROBUSTNESS_COLUMNS])
    return pd.concat(frames, ignore_index=True).drop_duplicates(["field", "value", "factor", "level"])
