"""Records on disk and read back: the writer of records files, the readers of a results folder
or a ``grpo train --out`` file, and the facts every reader shares (the primary outcome, the
final window).

The row schema itself (metrics, columns) is grpo.core.schema's; on disk every records file
also carries the configuration's fields (``grpo.core.config.CONFIG_FIELDS``) as constant columns
of one type each (``CONFIG_SCHEMA``), so a file is self-describing, every file of a folder has
the same schema, and parquet's dictionary and run-length encodings store each constant once.
Readers load only the columns they use.

Files:
- ``grpo train --out FILE.parquet``: one configuration's records.
- a sweep's folder ``results/<grid>/``: ``runs.parquet`` (one row per configuration x seed: the
  configuration, its status and versions) and ``records/config_id=<id>/*.parquet`` (the records
  of each configuration, one file per trial): a Hive-partitioned dataset, whose files leave the
  ``config_id`` column to their folder's name, so that pyarrow, pandas, duckdb and polars read
  ``config_id`` from it and skip the other configurations' files (docs/records.md).
  ``migrate_layout`` moves a folder of the older layout (``records/<config_id>/``) there.
"""

import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grpo.core.config import CONFIG_FIELDS, FIELDS, KEYED_WHEN_SET, TrainConfig, base_type
from grpo.core.schema import COLUMNS, METRICS, RUN_KEY
from grpo.errors import EnvironmentFault, UsageError
from grpo.experiment.layout import GRID_FILE, RECORDS_DIR, RUNS_FILE
from grpo.files import HOST, pid_alive, write_atomic
from grpo.progress import counted

FINAL_FRACTION = 0.1  # the final window: the last 10% of a run's epochs (at least one)
PRIMARY = "success"  # the outcome every reward function shares: sorted_frac over the final window
PRIMARY_SOURCE = "sorted_frac"
# A run's status in runs.parquet: trained (ok, or diverged: its metrics turned NaN), failed (its
# trial raised or was lost), or missing (not trained yet, or its records are gone)
FINISHED = ("ok", "diverged")
INCOMPLETE = ("missing", "failed")  # a configuration with such a run does not have all its results
PARTITION = "config_id"  # the Hive partition key of a sweep's records: records/config_id=<id>/
CONFIG_SCHEMA = pa.schema([(name, {str: pa.string(), int: pa.int64(), float: pa.float64()}[base_type(spec)])
                           for name, spec in FIELDS.items()])  # the config columns of every records file
MIGRATING = ".records-migrating"  # scratch folders of migrate_layout: MIGRATING.<host>.<pid>.<random>


def final_epochs(epochs: int) -> int:
    """How many of a run's last epochs make its final window."""
    return max(1, int(np.ceil(FINAL_FRACTION * epochs)))


def final_window(epochs: pd.DataFrame, total_epochs: int) -> pd.DataFrame:
    """The rows of a per-epoch view (``per_epoch``) that lie in a run's final window."""
    return epochs[epochs.epoch >= total_epochs - final_epochs(total_epochs)]


def final_values(epochs: pd.DataFrame, total_epochs: int, sources: dict[str, str]) -> pd.DataFrame:
    """epochs: one configuration's per-epoch view (``per_epoch``) -> index seed, one column per
    name of `sources` (name -> the per-epoch metric it averages over the final window); NaN in
    every column of a run that diverged."""
    diverged = epochs.groupby("seed").diverged.any()
    final = final_window(epochs, total_epochs).groupby("seed")[list(sources.values())].mean()
    final.columns = list(sources)
    final.loc[diverged.reindex(final.index, fill_value=False).to_numpy()] = np.nan
    return final


def first_diverged_steps(records: pd.DataFrame) -> dict[int, int]:
    """seed -> the first step at which that seed's metrics turned NaN or infinite."""
    return records[records.diverged].groupby("seed").step.min().to_dict()


def records_folder(results_dir: Path, config_id: str) -> Path:
    """The folder of one configuration's records in a sweep's folder (a Hive partition)."""
    return Path(results_dir) / RECORDS_DIR / f"{PARTITION}={config_id}"


def partitions(results_dir: Path) -> dict[str, Path]:
    """config_id -> its records folder, for each configuration with one in `results_dir`."""
    return {folder.name.removeprefix(f"{PARTITION}="): folder
            for folder in sorted((Path(results_dir) / RECORDS_DIR).glob(f"{PARTITION}=*")) if folder.is_dir()}


def write_records(records: pd.DataFrame, config: TrainConfig, path: Path, partitioned: bool = False) -> None:
    """Write one configuration's records and its fields, atomically. A field is a constant column
    of its CONFIG_SCHEMA type (plain, not an Arrow dictionary: files with different dictionaries
    do not concatenate); parquet's dictionary and run-length encodings store it once. A file of a
    sweep's folder (`partitioned`, in records_folder) leaves config_id to its folder's name."""
    columns = [name for name in COLUMNS if not (partitioned and name == PARTITION)]
    table = pa.Table.from_pandas(records.reindex(columns=columns), preserve_index=False)
    for name, value in config.as_dict().items():
        field = CONFIG_SCHEMA.field(name)
        table = table.append_column(field, pa.repeat(pa.scalar(value, field.type), len(records)))
    write_atomic(Path(path), lambda tmp: pq.write_table(table, tmp))


def migrate_layout(results_dir: Path) -> None:
    """Move the records of a sweep's folder of the older layout (records/<config_id>/, each
    file with a config_id column and Arrow-dictionary config columns) into Hive partitions: each
    configuration's files are rewritten as write_records writes them (the same values) into a
    scratch folder, which then takes its place in one atomic rename; one line on stderr says so.
    Safe to cut off anywhere (the next call finishes it) and beside another caller (a folder
    already renamed into place by it is left to it)."""
    records = Path(results_dir) / RECORDS_DIR
    old = [folder for folder in sorted(records.glob("*")) if folder.is_dir() and "=" not in folder.name
           and not folder.name.startswith(".")]
    if not old:
        return
    started = time.perf_counter()
    for scratch in Path(results_dir).glob(f"{MIGRATING}.{HOST}.*"):  # left by a migration that was killed
        pid = scratch.name.removeprefix(f"{MIGRATING}.{HOST}.").split(".")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
    for folder in old:
        target = records_folder(results_dir, folder.name)
        scratch = Path(results_dir) / f"{MIGRATING}.{HOST}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            if not target.exists():
                scratch.mkdir()
                for path in sorted(folder.glob("*.parquet")):
                    _rewrite_unpartitioned(path, scratch / path.name)
                try:
                    os.rename(scratch, target)
                except OSError:
                    if not target.exists():  # not another caller's migration: a fault
                        raise
            try:
                shutil.rmtree(folder)
            except FileNotFoundError:
                pass  # removed by another caller's migration
        except OSError as error:
            raise EnvironmentFault(f"cannot move the records in {str(folder)!r} to {str(target)!r}: {error.strerror}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"grpo: moved the records of {len(old)} configuration(s) in {str(results_dir)!r} to the layout"
          f" records/config_id=<id>/ in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def _rewrite_unpartitioned(path: Path, to: Path) -> None:
    """A records file of the older layout -> `to`, as write_records(partitioned=True)
    writes it. A file that does not read is copied as it is: the readers deal with it as before."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        shutil.copyfile(path, to)
        return
    table = table.drop_columns([PARTITION]) if PARTITION in table.column_names else table
    for name in CONFIG_SCHEMA.names:
        if name in table.column_names:
            field = CONFIG_SCHEMA.field(name)
            table = table.set_column(table.column_names.index(name), field, table[name].cast(field.type))
    pq.write_table(table, to)


def per_epoch(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (config_id, seed, epoch): step metrics averaged over the epoch's steps, epoch
    metrics as they are, eval metrics from the last step, diverged if any step was."""
    metrics = [name for name in METRICS if name in records]
    grouped = records.groupby(["config_id", "seed", "epoch"], sort=True, observed=True)
    view = grouped[metrics].mean()  # the mean skips the eval metrics' nulls
    if "diverged" in records:
        view["diverged"] = grouped.diverged.any()
    return view.reset_index()


@dataclass
class Results:
    """Records and runs of a sweep folder or of one `grpo train --out` file."""

    name: str  # the grid's name, or the file's stem
    runs: pd.DataFrame  # one row per configuration x seed: config_id, CONFIG_FIELDS, seed, status, ...
    grid_text: str | None  # the grid definition, for a sweep folder
    files: dict[str, list[Path]]  # config_id -> its records files

    def records(self, config_id: str, columns: list[str]) -> pd.DataFrame:
        """The records of one configuration (only the seeds of `runs`), the given columns."""
        seeds = self.runs.seed[self.runs.config_id == config_id].tolist()
        wanted = list(dict.fromkeys(["seed", *columns]))
        frames = []
        for path in self.files.get(config_id, []):  # one configuration's: its config_id is the folder's (or the file's only)
            try:
                frame = pq.read_table(path, columns=wanted, filters=[("seed", "in", seeds)]).to_pandas()
            except (OSError, pa.ArrowException) as error:
                raise UsageError(f"cannot read {str(path)!r}: {str(error).splitlines()[0]}") from None
            frames.append(frame)
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=wanted)
        frame.insert(0, PARTITION, pd.Series(config_id, index=frame.index, dtype=str))
        return frame

    def iter_records(self, columns: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
        """(config_id, records) for each configuration with records, one at a time; counted as
        "configurations read" where a command shows progress (grpo.progress)."""
        ids = [config_id for config_id in self.runs.config_id.drop_duplicates() if config_id in self.files]
        for config_id in counted(ids, len(ids), "configurations read", "config"):
            yield config_id, self.records(config_id, columns)


def open_results(path: Path) -> Results:
    """A sweep's results folder or a `grpo train --out` parquet file; UsageError if unusable."""
    path = Path(path)
    if path.is_file() and path.suffix == ".parquet":
        return _open_file(path)
    if not path.is_dir():
        raise UsageError(f"no results folder or records file {str(path)!r}")
    runs_path = path / RUNS_FILE
    if not runs_path.is_file():
        raise UsageError(f"{str(path)!r} has no runs.parquet; run `grpo sweep` first")
    runs = with_later_options(_read(runs_path))
    for column in ("config_id", "seed", "status", *CONFIG_FIELDS):
        if column not in runs:
            raise UsageError(f"{str(runs_path)!r} lacks column {column!r}")
    migrate_layout(path)
    files = {config_id: found for config_id, folder in partitions(path).items() if (found := sorted(folder.glob("*.parquet")))}
    grid = path / GRID_FILE
    return Results(path.name, _without_records_missing(runs, files), grid.read_text() if grid.exists() else None, files)


def with_later_options(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (runs or records) with the config columns of options added after it was written
    (grpo.core.config.KEYED_WHEN_SET) filled with their defaults: the runs trained what those
    defaults do, and their config_ids, which count such an option only when set, are unchanged."""
    return frame.assign(**{name: default for name, default in KEYED_WHEN_SET.items() if name not in frame})


def _without_records_missing(runs: pd.DataFrame, files: dict[str, list[Path]]) -> pd.DataFrame:
    """`runs` with every finished run whose records are not on disk (a file deleted or damaged
    since the sweep) marked "missing": the report counts what it can read, never a gap as done.
    Reads only each file's seed column."""
    present: set[tuple[str, int]] = set()
    for config_id, paths in files.items():
        for records_file in paths:
            try:
                seeds = pq.read_table(records_file, columns=["seed"]).column("seed").to_numpy()
            except (OSError, pa.ArrowException):
                continue
            present.update((config_id, int(seed)) for seed in np.unique(seeds))
    finished = runs.status.isin(FINISHED)
    gone = finished & ~pd.Series([(c, int(s)) in present for c, s in zip(runs.config_id, runs.seed)], index=runs.index)
    if gone.any():
        runs = runs.copy()
        runs.loc[gone, "status"] = "missing"
        if "error" in runs:
            runs.loc[gone, "error"] = "records file missing or unreadable"
    return runs


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, pa.ArrowException) as error:
        raise UsageError(f"cannot read {str(path)!r}: {str(error).splitlines()[0]}") from None


def _open_file(path: Path) -> Results:
    """A `grpo train --out` file: its runs are derived from its own columns."""
    schema = pq.read_schema(path) if _is_parquet(path) else None
    if schema is None:
        raise UsageError(f"cannot read {str(path)!r}: not a parquet file")
    wanted = ["config_id", "seed", "step", "diverged", *(name for name in CONFIG_FIELDS if name in schema.names)]
    missing = [name for name in ("config_id", "seed", "step", "diverged", *CONFIG_FIELDS)
               if name not in schema.names and name not in KEYED_WHEN_SET]
    if missing:
        raise UsageError(f"{str(path)!r} lacks column {missing[0]!r}; is it a `grpo train --out` file?")
    frame = with_later_options(_read(path, wanted))
    frame = frame.astype({name: object for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)})
    runs = frame.drop_duplicates(list(RUN_KEY)).drop(columns=["step", "diverged"]).reset_index(drop=True)
    diverged_at = {}
    for config_id, records in frame.groupby("config_id"):
        diverged_at.update({(config_id, seed): step for seed, step in first_diverged_steps(records).items()})
    runs["diverged_step"] = [diverged_at.get(key) for key in zip(runs.config_id, runs.seed)]
    runs["status"] = np.where(runs.diverged_step.notna(), "diverged", "ok")
    return Results(path.stem, runs, None, {config_id: [path] for config_id in runs.config_id.unique()})


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False
