"""A sweep's results folder: its layout, the trial files in it, and what they are trusted for.

Layout of ``results/<grid>/`` (the names spelled once, in grpo.experiment.layout)::

    grid.toml                          the grid definition last swept into the folder
    records/config_id=<config_id>/seeds-<key>.parquet
                                       the records of one trial: some seeds of one configuration
                                       (the one copy of the records; a Hive partition per
                                       configuration, see grpo.experiment.results)
    trials/<config_id>/seeds-<key>.json
                                       that trial's run info: config, seeds, status, error,
                                       wall time, node, versions, code fingerprint
    runs.parquet                       one row per configuration x seed that the grid last swept
                                       trains (its sensitivity cells and tuning runs too)
    .lock                              held by the sweep writing into the folder

Results are keyed by (configuration, seed): a seed's records do not depend on the seeds trained
beside it, so a sweep trains only the (configuration, seed) pairs of its grid that no trusted
trial holds yet. The run info lives outside ``records/`` so that pandas, pyarrow, duckdb and polars
read that folder as one parquet dataset. A folder of the older layout (``records/<id>/``)
is moved into this one first (grpo.experiment.results.migrate_layout).

Trial files are trusted only after checks: the JSON parses and names its configuration and
seeds; an "ok" trial's parquet exists, opens, and holds exactly the rows of its seeds. A damaged
trial is removed (and retrained); results of another code fingerprint are refused.
"""

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grpo.core.config import CONFIG_FIELDS, TrainConfig
from grpo.errors import EnvironmentFault, UsageError
from grpo.experiment.layout import LOCK_FILE, RUNS_FILE, TRIALS_DIR
from grpo.experiment.provenance import VERSION_KEYS, plugins_of, versions
from grpo.experiment.results import first_diverged_steps, migrate_layout, partitions, records_folder, write_records
from grpo.files import remove_stale_tmp, write_atomic, write_parquet_atomic

INFO_KEYS = ("config_id", "config", "seeds", "status", "code_fingerprint")  # what a trial JSON must hold
STATUSES = ("ok", "failed")
EXAMPLES = 3  # configurations named in a message about many


def seeds_key(seeds: Iterable[int]) -> str:
    """The file stem of a trial: the hash of its seed list."""
    return "seeds-" + hashlib.sha1(json.dumps(list(seeds)).encode()).hexdigest()[:10]


def records_path(results_dir: Path, config_id: str, seeds) -> Path:
    return records_folder(results_dir, config_id) / f"{seeds_key(seeds)}.parquet"


def info_path(results_dir: Path, config_id: str, seeds) -> Path:
    return results_dir / TRIALS_DIR / config_id / f"{seeds_key(seeds)}.json"


def few(names: list[str]) -> str:
    """'a, b, c and 69 more': a few names and a count, for a one-line message."""
    shown = ", ".join(names[:EXAMPLES])
    return shown if len(names) <= EXAMPLES else f"{shown} and {len(names) - EXAMPLES} more"


@dataclass(frozen=True)
class Trial:
    """One trusted trial of a configuration: the seeds it trained and how it ended."""

    config_id: str
    seeds: tuple[int, ...]
    info: dict  # the run info as written by the trial

    @property
    def status(self) -> str:
        return self.info["status"]


def trial_info(config: TrainConfig, seeds, status: str, error: str | None = None, wall_s: float | None = None,
               node: str | None = None) -> dict:
    """The run info of a trial: what it trained, how it ended, and the code that trained it."""
    return {"config_id": config.config_id, "config": config.as_dict(), "seeds": list(seeds), "status": status,
            "error": error, "wall_s": wall_s, "node": node, **versions(), "plugins": plugins_of(config)}


def write_trial(results_dir: Path, config: TrainConfig, seeds, records: pd.DataFrame | None, info: dict) -> None:
    """A trial's files: the records first, then the run info that vouches for them (each whole)."""
    if records is not None:
        path = records_path(results_dir, config.config_id, seeds)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_records(records, config, path, partitioned=True)
    path = info_path(results_dir, config.config_id, seeds)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(info)))


@dataclass
class Scan:
    """What a results folder holds: trusted trials per configuration, and what was wrong."""

    trials: dict[str, list[Trial]]  # config_id -> trusted trials, their seeds disjoint
    damaged: list[str]  # "config_id (reason)" of each trial removed because its files were damaged

    def done_seeds(self, config_id: str) -> set[int]:
        return {seed for trial in self.trials.get(config_id, []) if trial.status == "ok" for seed in trial.seeds}


def scan(results_dir: Path, fingerprint: str) -> Scan:
    """Check every trial file of `results_dir`; remove damaged, superseded and unvouched files.
    UsageError naming them if any trusted result was made by another code fingerprint."""
    migrate_layout(results_dir)
    foreign: dict[str, list[str]] = {}
    other_plugins: dict[str, str] = {}  # config_id -> how its plugins differ from this process's
    trials: dict[str, list[Trial]] = {}
    damaged = []
    for folder in sorted((results_dir / TRIALS_DIR).glob("*")):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            trial, problem = _read_trial(results_dir, folder.name, path)
            if trial is not None and trial.info["code_fingerprint"] != fingerprint:
                if trial.status == "ok":
                    foreign.setdefault(trial.info["code_fingerprint"], []).append(trial.config_id)
                    continue
                problem = None  # a failure of other code: retried by this code
            if trial is not None and trial.status == "ok" and folder.name not in other_plugins:
                differ = _plugins_differ(trial)
                if differ:
                    other_plugins[folder.name] = differ
            if trial is None or trial.info["code_fingerprint"] != fingerprint:
                if problem:
                    damaged.append(f"{folder.name} ({problem})")
                path.unlink(missing_ok=True)
                records_path(results_dir, folder.name, []).with_name(f"{path.stem}.parquet").unlink(missing_ok=True)
                continue
            trials.setdefault(folder.name, []).append(trial)
    if foreign:
        made_by = "; ".join(f"code {code} in {few(sorted(set(ids)))}" for code, ids in sorted(foreign.items()))
        raise UsageError(f"{str(results_dir)!r} holds results of another version of the code ({made_by}); this code is"
                         f" {fingerprint}: move them away or sweep into another --results folder")
    if other_plugins:
        config_id, differ = next(iter(sorted(other_plugins.items())))
        raise UsageError(f"{str(results_dir)!r} holds results of other plugin code ({differ} in {few(sorted(other_plugins))});"
                         " move them away or sweep into another --results folder")
    kept = {config_id: _disjoint(results_dir, found) for config_id, found in trials.items()}
    _remove_unvouched_records(results_dir, kept)
    return Scan({config_id: found for config_id, found in kept.items() if found}, damaged)


def _plugins_differ(trial: Trial) -> str | None:
    """How the plugins that made a trial differ from those this process would run, or None."""
    then = trial.info.get("plugins") or {}
    now = plugins_of(TrainConfig(**trial.info["config"]))
    for name in sorted(set(then) | set(now)):
        if then.get(name) != now.get(name):
            return f"{name}: {then.get(name, 'built-in')} there, {now.get(name, 'built-in')} here"
    return None


def _read_trial(results_dir: Path, config_id: str, path: Path) -> tuple[Trial | None, str | None]:
    """The trial a JSON file describes, or None and what is wrong with its files."""
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, "invalid run info JSON"
    if not isinstance(info, dict) or any(key not in info for key in INFO_KEYS):
        missing = [key for key in INFO_KEYS if not isinstance(info, dict) or key not in info]
        return None, f"run info without {missing[0]!r}"
    seeds = info["seeds"]
    if (info["status"] not in STATUSES or info["config_id"] != config_id or not isinstance(seeds, list) or not seeds
            or not all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in seeds)
            or len(set(seeds)) != len(seeds) or seeds_key(seeds) != path.stem):
        return None, "run info that contradicts its file name"
    try:
        config = TrainConfig(**info["config"])
    except (TypeError, UsageError):
        return None, "run info with an invalid configuration"
    if config.config_id != config_id:
        return None, "run info whose configuration has another config_id"
    trial = Trial(config_id, tuple(seeds), info)
    if trial.status == "ok":
        problem = _check_records(records_path(results_dir, config_id, seeds), trial.seeds, config)
        if problem:
            return None, problem
    return trial, None


def _check_records(path: Path, seeds: tuple[int, ...], config: TrainConfig) -> str | None:
    """None if `path` holds exactly the records of `seeds`, else what is wrong."""
    if not path.is_file():
        return "records file missing"
    try:
        file = pq.ParquetFile(path)
        rows = file.metadata.num_rows
        found = pd.Series(file.read(columns=["seed"]).column("seed").to_numpy()).value_counts()
    except (OSError, pa.ArrowException, KeyError):
        return "records file unreadable"
    expected = config.epochs * config.steps_per_epoch
    if rows != len(seeds) * expected or set(found.index) != set(seeds) or (found != expected).any():
        return "records file with other rows than its seeds'"
    return None


def _disjoint(results_dir: Path, found: list[Trial]) -> list[Trial]:
    """The trials of one configuration to trust, no seed twice: ok trials first (the largest
    first), then failures of seeds no ok trial holds. The rest is superseded and removed (a
    failure since retrained, a trial written again by an orphaned worker)."""
    kept: list[Trial] = []
    covered: set[int] = set()
    for trial in sorted(found, key=lambda t: (t.status != "ok", -len(t.seeds), seeds_key(t.seeds))):
        if covered.isdisjoint(trial.seeds):
            kept.append(trial)
            covered.update(trial.seeds)
        else:
            info_path(results_dir, trial.config_id, trial.seeds).unlink(missing_ok=True)
            records_path(results_dir, trial.config_id, trial.seeds).unlink(missing_ok=True)
    return kept


def _remove_unvouched_records(results_dir: Path, kept: dict[str, list[Trial]]) -> None:
    """Records files no trusted "ok" trial vouches for: a trial cut off between its two writes."""
    for config_id, folder in partitions(results_dir).items():
        vouched = {seeds_key(t.seeds) for t in kept.get(config_id, []) if t.status == "ok"}
        for path in folder.glob("*.parquet"):
            if path.stem not in vouched:
                path.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()


def write_runs(results_dir: Path, plan: list[tuple[TrainConfig, tuple[int, ...]]], found: Scan) -> pd.DataFrame:
    """Build runs.parquet (one row per configuration x seed of the plan: grpo.experiment.grids.Grid.plan)
    from the trial JSONs and the seed/step/diverged columns of the records; return it. Never loads
    the metrics."""
    rows = []
    for config, seeds in plan:
        by_seed = {seed: trial for trial in found.trials.get(config.config_id, []) for seed in trial.seeds}
        diverged_at = {}
        for trial in found.trials.get(config.config_id, []):
            if trial.status == "ok":
                path = records_path(results_dir, config.config_id, trial.seeds)
                diverged_at.update(first_diverged_steps(pd.read_parquet(path, columns=["seed", "step", "diverged"])))
        for seed in seeds:
            trial = by_seed.get(seed)
            info: dict[str, Any] = trial.info if trial else {"status": "missing", "error": None}
            status = "diverged" if seed in diverged_at else info["status"]
            plugins = "; ".join(f"{name} {origin}" for name, origin in sorted((info.get("plugins") or {}).items())) or None
            rows.append({**config.as_dict(), **{key: info.get(key) for key in RUN_INFO}, "plugins": plugins,
                         "trial": seeds_key(trial.seeds) if trial else None, "config_id": config.config_id,
                         "seed": seed, "status": status, "diverged_step": diverged_at.get(seed)})
    runs = pd.DataFrame(rows).reindex(columns=RUN_COLUMNS)
    write_parquet_atomic(runs, results_dir / RUNS_FILE)
    return runs


RUN_INFO = ("error", "wall_s", "node", *VERSION_KEYS)  # run info carried into runs.parquet
# plugins: "name origin code FINGERPRINT; ..." of the plugin modes a run read (grpo.experiment.provenance.plugins_of);
# trial: the seed list it was stacked with (seeds_key): runs of one configuration in other trials trained in other company
RUN_COLUMNS = ["config_id", *CONFIG_FIELDS, "seed", "status", "diverged_step", *RUN_INFO, "plugins", "trial"]


@contextmanager
def exclusive(results_dir: Path):
    """Only one sweep writes into a results folder at a time. The holder writes its sweep id
    into the lock file, so a trial can tell whether the sweep that started it still holds it."""
    try:
        descriptor = os.open(results_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except IsADirectoryError:
        raise EnvironmentFault(f"cannot lock {str(results_dir)!r}: its .lock is a directory; remove it") from None
    except OSError as error:
        raise EnvironmentFault(f"cannot lock {str(results_dir)!r}: {error.strerror}") from None
    with os.fdopen(descriptor, "r+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another sweep is writing into {str(results_dir)!r}; wait for it to finish") from None
        sweep_id = uuid.uuid4().hex
        lock.truncate(0)
        lock.write(sweep_id)
        lock.flush()
        remove_stale_tmp(results_dir)
        yield sweep_id


def sweep_running(results_dir: Path) -> bool:
    """Whether a sweep is writing into `results_dir` now (it holds the folder's lock)."""
    try:
        with open(results_dir / LOCK_FILE) as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def holds_lock(results_dir: Path, sweep_id: str) -> bool:
    """Whether the sweep `sweep_id` still writes into `results_dir`. False for a trial orphaned by
    a killed driver: its files are no longer wanted, the next sweep trains them itself."""
    try:
        with open(results_dir / LOCK_FILE) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return lock.read() == sweep_id  # held: by this trial's sweep?
            except OSError:  # a shared file system without locks: trust the id alone
                return lock.read() == sweep_id
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False  # nobody holds it: the sweep is gone
    except OSError:
        return False
