"""A sweep's results as TensorBoard event files (``grpo export RESULTS --to tensorboard``).

One TensorBoard run per configuration, ``OUT/<config_id>/``, holding:

- per epoch, the seed mean and band of each CURVES metric: scalars ``<name>/mean``,
  ``<name>/low`` and ``<name>/high``, low and high the seeds' BAND quantiles (runs that
  diverged left out, as in the report's curves);
- its final metrics (report.data.FINAL_METRICS, seed means over the final window; ``runs``:
  the seeds that did not diverge) with every TrainConfig field as a hyperparameter, for
  TensorBoard's HParams view.

``OUT`` itself holds the custom-scalars layout that draws each curve as a margin chart (mean
with its band). The numbers are the records', read one configuration at a time
(grpo.experiment.results); nothing is retrained.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from grpo.core.config import CONFIG_FIELDS
from grpo.errors import UsageError
from grpo.experiment.results import PRIMARY, PRIMARY_SOURCE, Results, final_values, per_epoch
from grpo.report._data import FINAL_METRICS

CURVES = {PRIMARY: PRIMARY_SOURCE, "reward_frac": "reward_frac", "kl": "kl", "clip_frac": "clip_frac",
          "entropy": "entropy"}  # scalar name -> the per-epoch metric of the records
BAND = (0.1, 0.9)  # the seeds' quantiles drawn around the mean
MISSING_TENSORBOARD = ("grpo export --to tensorboard needs the tensorboard package: pip install 'grpo[export]'"
                       " (or pip install tensorboard)")


def summary_writer():
    """torch's SummaryWriter class; UsageError (exit 2) when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError(MISSING_TENSORBOARD) from None
    return SummaryWriter


def curve_band(epochs: pd.DataFrame) -> pd.DataFrame:
    """epochs: one configuration's per-epoch view of its healthy runs -> index epoch, columns
    ``<name>/mean``, ``<name>/low``, ``<name>/high`` for each CURVES name."""
    grouped = epochs.groupby("epoch")
    columns = {}
    for name, source in CURVES.items():
        columns[f"{name}/mean"] = grouped[source].mean()
        columns[f"{name}/low"] = grouped[source].quantile(BAND[0])
        columns[f"{name}/high"] = grouped[source].quantile(BAND[1])
    return pd.DataFrame(columns)


def hparams(config: pd.Series) -> dict:
    """A configuration's fields as TensorBoard takes hyperparameters (bool, str, int or float)."""
    values = {}
    for name in CONFIG_FIELDS:
        value = config[name]
        values[name] = value.item() if isinstance(value, np.generic) else value
    return values


def export_tensorboard(results: Results, out: Path) -> list[Path]:
    """Write each configuration's event files under out/<config_id>/ (see the module's
    docstring); -> the run folders written."""
    SummaryWriter = summary_writer()
    out = Path(out)
    configs = results.runs.drop_duplicates("config_id").set_index("config_id")
    with SummaryWriter(str(out)) as layout:
        layout.add_custom_scalars({"curves (seed mean, seeds' 10-90% band)": {
            name: ["Margin", [f"{name}/mean", f"{name}/low", f"{name}/high"]] for name in CURVES}})
    written = []
    columns = ["epoch", *dict.fromkeys([*CURVES.values(), *FINAL_METRICS.values()]), "diverged"]
    for config_id, records in results.iter_records(columns):
        config = configs.loc[config_id]
        epochs = per_epoch(records)  # [seed x epoch rows]
        finals = final_values(epochs, int(config.epochs), FINAL_METRICS)  # index seed; NaN where diverged
        healthy = epochs[~epochs.seed.map(epochs.groupby("seed").diverged.any())]
        folder = out / config_id
        with SummaryWriter(str(folder)) as writer:
            for epoch, row in curve_band(healthy).iterrows():
                for tag, value in row.items():
                    writer.add_scalar(tag, value, global_step=int(epoch))
            metrics = {f"final/{name}": float(finals[name].mean()) for name in FINAL_METRICS}
            metrics["final/runs"] = float(finals[PRIMARY].notna().sum())
            writer.add_hparams(hparams(config), metrics, run_name=".")
        written.append(folder)
    return written
