"""A grid's headline contrasts and configurations in rliable's terms (grpo.report._rliable): for
each main effect and for the best configuration against the seed's default, the paired IQM
difference with its stratified bootstrap interval and the probability of improvement beside the
mean difference; the performance profile of the headline configurations. Pure: no file is read
or written.

An effect's runs: per seed, the level's configurations averaged over the cells of the other axes
it shares with the reference (the same per-seed terms as grpo.report.grid._compute's main
effects), so an IQM contrast of an effect is over seeds, paired.
"""

from dataclasses import replace

import numpy as np
import pandas as pd

from grpo.experiment.results import PRIMARY
from grpo.report._data import ReportData
from grpo.report._rliable import iqm_contrast, performance_profile
from grpo.report._stats import probability_of_improvement
from grpo.report.grid._compute import Tables, effect_terms, paired_means

THRESHOLDS = np.linspace(0, 1, 101)  # the performance profile's success thresholds
PROFILED = 4  # the best configuration and up to this many more tied with it, besides the seed's default
HEADLINE_COLUMNS = ["contrast", "kind", "pairs", "mean_difference", "iqm_difference", "iqm_low", "iqm_high",
                    "poi", "poi_low", "poi_high"]


def with_headline(tables: Tables, data: ReportData) -> Tables:
    """tables with `headline` (HEADLINE_COLUMNS: one row per main effect, then the best against
    its seed default) and `profiles` (configuration, threshold, fraction, low, high)."""
    ranked = tables.configurations[tables.configurations["rank"].notna()]
    if not len(ranked):
        return replace(tables, headline=pd.DataFrame(columns=HEADLINE_COLUMNS),
                       profiles=pd.DataFrame(columns=["configuration", "threshold", "fraction", "low", "high"]))
    ids = list(ranked.config_id)
    scores = data.finals[PRIMARY].unstack("seed").reindex(index=ids, columns=tables.seeds)  # [config seed]
    values, index = scores.to_numpy(dtype=float), {config_id: i for i, config_id in enumerate(ids)}
    rows = []
    for factor, level, reference, factor_b, _, _, groups in effect_terms(data.configs, ids, tables.axes,
                                                                            tables.references):
        if not factor_b:
            terms = paired_means(values, groups, index)  # [seed] each: the level's, the reference's
            rows.append(_contrast_row(f"{factor}: {level} − {reference}", "main effect", terms[0], terms[1]))
    best = ranked.iloc[0]
    if isinstance(best.default_id, str) and best.default_id in index and best.default_id != best.config_id:
        default = ranked.set_index("config_id").configuration[best.default_id]
        rows.append(_contrast_row(f"best ({best.configuration}) − seed default ({default})", "best vs default",
                                  values[index[best.config_id]], values[index[best.default_id]]))
    profiled = [*ranked[ranked.tied_with_best].config_id[:PROFILED + 1]]
    if isinstance(best.default_id, str) and best.default_id in index and best.default_id not in profiled:
        profiled.append(best.default_id)
    names = ranked.set_index("config_id").configuration
    profiles = []
    for config_id in profiled:
        fraction, low, high = performance_profile(values[index[config_id]], THRESHOLDS)
        profiles.append(pd.DataFrame({"configuration": names[config_id], "threshold": THRESHOLDS,
                                      "fraction": fraction, "low": low, "high": high}))
    return replace(tables, headline=pd.DataFrame(rows, columns=HEADLINE_COLUMNS), profiles=pd.concat(profiles, ignore_index=True))


def _contrast_row(name: str, kind: str, a: np.ndarray, b: np.ndarray) -> dict:
    """a, b [seed]: paired scores -> a headline row."""
    both = np.isfinite(a) & np.isfinite(b)
    pairs = int(both.sum())
    contrast = iqm_contrast(a, b)
    poi, poi_low, poi_high = probability_of_improvement(a, b)
    mean = float((a[both] - b[both]).mean()) if pairs else float("nan")
    return {"contrast": name, "kind": kind, "pairs": pairs, "mean_difference": mean, "iqm_difference": contrast.value,
            "iqm_low": contrast.low, "iqm_high": contrast.high, "poi": poi, "poi_low": poi_low, "poi_high": poi_high}
