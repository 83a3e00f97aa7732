"""A sweep's per-run scores in rliable's form (``grpo export RESULTS --to rliable``): the
dictionary of arrays ``{method: array[runs, tasks]}`` that rliable's functions take
(``rliable.library.get_interval_estimates``, ``create_performance_profile``), one method per
configuration (its config_id), one task (the sorting task), the runs in seed order (the same seeds
in every configuration, so row i of two methods is a matched pair), the score the report's primary
outcome (grpo.experiment.results.PRIMARY over each run's final window; NaN where a run diverged or
is missing). The scores are the report's (grpo.report._data.load: the grid's default cell).

``FILE.npz``: exactly the dictionary (``dict(np.load(FILE))`` feeds rliable). ``FILE.json``: the
dictionary under ``scores`` (null for NaN) beside what the arrays do not say: the score, the task,
the seeds and each configuration's name.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

from grpo.errors import UsageError
from grpo.experiment.results import PRIMARY, Results
from grpo.files import write_atomic
from grpo.report._data import load
from grpo.report._names import configuration_name

FORMATS = (".npz", ".json")
TASK = "sort"  # the one task: its column of every array


def rliable_scores(results: Results) -> tuple[dict[str, np.ndarray], list[int], dict[str, str]]:
    """-> ({config_id: scores [seed 1]}, the seeds in row order, {config_id: configuration name})."""
    data = load(results)
    seeds = sorted(data.runs.seed.unique().tolist())
    finals = data.finals[PRIMARY].unstack("seed").reindex(index=list(data.configs.index), columns=seeds)  # [config seed]
    names = {config_id: configuration_name(data.configs.loc[config_id], data.axes) for config_id in data.configs.index}
    return {config_id: row.to_numpy(dtype=float)[:, None] for config_id, row in finals.iterrows()}, seeds, names


def export_rliable(results: Results, out: Path) -> dict[str, np.ndarray]:
    """Write `results`' scores to `out` (.npz or .json, see the module's docstring), atomically;
    -> the dictionary written."""
    out = check_out(out)
    scores, seeds, names = rliable_scores(results)
    if out.suffix == ".npz":
        write_atomic(out, lambda tmp: _save_npz(tmp, scores))
    else:
        document = {"score": PRIMARY, "tasks": [TASK], "seeds": seeds, "names": names,
                    "scores": {key: [[None if np.isnan(v) else float(v) for v in row] for row in value]
                               for key, value in scores.items()}}
        write_atomic(out, lambda tmp: Path(tmp).write_text(json.dumps(document, indent=1) + "\n"))
    return scores


def check_out(out: Path) -> Path:
    """out, or UsageError (one line) when its suffix is not one of FORMATS."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise UsageError(f"--out {str(out)!r}: the rliable export writes a file ending in {' or '.join(FORMATS)}")
    return out


def read_rliable(path: Path) -> dict[str, np.ndarray]:
    """The dictionary of arrays [runs tasks] of a file `export_rliable` wrote (.npz or .json)."""
    path = Path(path)
    if path.suffix == ".json":
        document = json.loads(path.read_text())
        return {key: np.array(value, dtype=float) for key, value in document["scores"].items()}
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


def _save_npz(tmp, scores: dict[str, np.ndarray]) -> None:
    arrays: dict[str, Any] = dict(scores)  # savez's keyword arguments: one array each
    with open(tmp, "wb") as handle:  # a handle: np.savez would add .npz to a temporary name
        np.savez(handle, **arrays)
