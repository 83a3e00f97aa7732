"""Effects that depend on another factor: the main effect within each level of a factor it
interacts with decisively, and the three-way interactions. Pure, like grpo.report.grid._compute.

A main effect averages over the other axes; where its two-way interaction with a factor is
decisive, the average hides how it differs between that factor's levels, so the effect is also
given within each level (`conditional`: one Holm family over those contrasts), each with the
cells where both arms stay near 0 (neither learns: `near_zero`). A three-way interaction is how
much a two-way interaction (of the first two factors' levels against their references) changes
under the third factor's level against its reference: per seed, (c111 − c011 − c101 + c001) −
(c110 − c010 − c100 + c000) over the eight corners, averaged over the other axes' cells; every
one is tested, Holm over them.
"""

from itertools import combinations

import pandas as pd

from grpo.experiment.results import PRIMARY
from grpo.report._data import ReportData
from grpo.report._stats import ALPHA, holm, paired_contrast
from grpo.report.grid._compute import Tables, cells_by_levels, factor_effects, paired_means

CONDITIONAL_COLUMNS = ["factor", "level", "reference", "within", "at", "cells", "near_zero", "difference", "low",
                       "high", "p", "p_holm", "decisive"]
THREE_WAY_COLUMNS = ["factor", "level", "factor_b", "level_b", "factor_c", "level_c", "cells", "difference", "low",
                     "high", "p", "p_holm", "decisive"]


def conditional_effects(scores: pd.DataFrame, configs: pd.DataFrame, axes: dict, references: dict, seeds: list,
                        interactions: pd.DataFrame) -> pd.DataFrame:
    """For each decisive interaction of `factor` × `factor_b`: the main effects of each factor's
    levels within each level of the other (CONDITIONAL_COLUMNS), Holm over all of them."""
    pairs = dict.fromkeys((a, b) for r in interactions[interactions.decisive.astype(bool)].itertuples()
                          for a, b in ((r.factor, r.factor_b), (r.factor_b, r.factor)))
    frames = []
    for factor, within in pairs:
        others = {name: levels for name, levels in axes.items() if name != within}
        for at in axes[within]:
            subset = scores[[configs.loc[c, within] == at for c in scores.index]]
            main, _ = factor_effects(subset, configs, others, references, seeds)
            frames.append(main[main.factor == factor].assign(within=within, at=at))
    if not frames:
        return pd.DataFrame(columns=CONDITIONAL_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    frame["p_holm"] = holm(frame.p)
    frame["decisive"] = frame.p_holm < ALPHA
    return frame[CONDITIONAL_COLUMNS]


def three_way_interactions(scores: pd.DataFrame, configs: pd.DataFrame, axes: dict, references: dict,
                           seeds: list) -> pd.DataFrame:
    """Every three-way interaction of non-reference levels (THREE_WAY_COLUMNS), Holm over them."""
    values = scores[seeds].to_numpy(dtype=float)
    index = {config_id: i for i, config_id in enumerate(scores.index)}
    rows = []
    for factors in combinations(axes, 3):
        cells = cells_by_levels(configs, list(scores.index), list(factors), axes)
        refs = [references[name] for name in factors]
        for levels in _non_reference(factors, axes, refs):
            corners = [tuple(level if bit else ref for bit, level, ref in zip(bits, levels, refs))
                       for bits in _BITS]  # c111, c011, c101, c001, c110, c010, c100, c000
            shared = [k for k in cells.get(corners[0], {}) if all(k in cells.get(c, {}) for c in corners[1:])]
            if not shared:
                continue
            t = paired_means(values, [[cells[c][k] for k in shared] for c in corners], index)  # [seed] each
            contrast = paired_contrast(t[0] - t[1] - t[2] + t[3], t[4] - t[5] - t[6] + t[7])
            rows.append({"factor": factors[0], "level": levels[0], "factor_b": factors[1], "level_b": levels[1],
                         "factor_c": factors[2], "level_c": levels[2], "cells": len(shared),
                         "difference": contrast.difference, "low": contrast.low, "high": contrast.high, "p": contrast.p})
    if not rows:
        return pd.DataFrame(columns=THREE_WAY_COLUMNS)
    frame = pd.DataFrame(rows)
    frame["p_holm"] = holm(frame.p)
    frame["decisive"] = frame.p_holm < ALPHA
    return frame[THREE_WAY_COLUMNS]


_BITS = [(1, 1, 1), (0, 1, 1), (1, 0, 1), (0, 0, 1), (1, 1, 0), (0, 1, 0), (1, 0, 0), (0, 0, 0)]


def _non_reference(factors, axes, refs):
    """Each combination of the three factors' non-reference levels."""
    choices = [[level for level in axes[name] if level != ref] for name, ref in zip(factors, refs)]
    return [(a, b, c) for a in choices[0] for b in choices[1] for c in choices[2]]


def with_conditional(tables: Tables, data: ReportData) -> Tables:
    """`tables` with its conditional effects and three-way interactions (the ranked
    configurations' success on the evaluation seeds, as compute used it)."""
    ranked = tables.configurations.config_id[tables.configurations["rank"].notna()].tolist()
    if not ranked or not len(data.finals):
        return tables
    scores = data.finals[PRIMARY].unstack("seed").reindex(index=ranked, columns=tables.seeds)  # [config seed]
    configs = data.configs
    tables.conditional = conditional_effects(scores, configs, tables.axes, tables.references, tables.seeds,
                                             tables.interactions)
    tables.three_way = three_way_interactions(scores, configs, tables.axes, tables.references, tables.seeds)
    return tables
