"""Run a grid under Ray Tune: one trial per configuration, all its seeds stacked.

Layout of ``results/<grid>/``::

    grid.toml                    the grid definition the results belong to
    records/<id>/<seeds>.parquet records of one configuration (written by its trial, atomically;
                                 the one copy of the records: see grpo.records)
    trials/<id>.json             its run info: config, seeds, status, error, wall time, versions,
                                 plugins ({mode: "package==version"} of the plugin modes it names)
    runs.parquet                 one row per configuration x seed
    ray/                         Ray Tune's experiment state

A configuration counts as done when its trial files say "ok"; re-running the sweep trains
only the configurations that are missing or failed, then rebuilds runs.parquet.
"""

import fcntl
import hashlib
import json
import logging
import os
import platform
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from grpo.config import TrainConfig
from grpo.errors import UsageError
from grpo.grids import Grid, load_grid
from grpo.io import check_writable_dir, write_atomic, write_parquet_atomic
from grpo.records import first_diverged_steps, write_records
from grpo.registry import pack_in_process_modes, plugins_of, unpack_in_process_modes


@dataclass
class SweepOutcome:
    results_dir: Path
    ran: int  # configurations trained (or failed) by this call
    skipped: int  # configurations already done before it
    failed: list[str] = field(default_factory=list)  # "config_id: error" of each failed configuration
    missing: list[str] = field(default_factory=list)  # config_ids with no result yet (interrupted)


def versions() -> dict[str, str | None]:
    """Package versions and the git commit of the code that produced a run."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "grpo_version": metadata.version("grpo"),
        "torch_version": metadata.version("torch"),
        "ray_version": metadata.version("ray"),
        "python_version": platform.python_version(),
        "git_commit": commit,
    }


def run_trial(params: dict) -> None:
    """Ray Tune trainable: train one configuration with all its seeds stacked and write its
    trial files. A failure is recorded as data, so the rest of the grid goes on."""
    import torch
    from ray import tune

    from grpo.train import train

    torch.set_num_threads(1)  # trials share the cores; these kernels are too small to split
    unpack_in_process_modes(params["in_process_modes"])  # entry-point plugins are found here as in the driver
    config = TrainConfig(**params["config"])
    trials = Path(params["trials_dir"])
    start = time.perf_counter()
    try:
        records = train(config, params["seeds"])
        write_records(records, config, records_path(trials.parent, config, params["seeds"]))
        status, error = "ok", None
    except Exception as exception:  # noqa: BLE001 - any failure of a configuration is its result
        status, error = "failed", f"{type(exception).__name__}: {exception}".splitlines()[0]
    info = {"config_id": config.config_id, "config": config.as_dict(), "seeds": list(params["seeds"]),
            "status": status, "error": error, "wall_s": time.perf_counter() - start, **params["versions"],
            "plugins": plugins_of(config)}
    write_atomic(trials / f"{config.config_id}.json", lambda tmp: tmp.write_text(json.dumps(info)))
    tune.report({"ok": status == "ok"})


def records_path(results_dir: Path, config: TrainConfig, seeds) -> Path:
    """Where a trial's records go: records/<config_id>/seeds-<hash of the seed list>.parquet."""
    key = hashlib.sha1(json.dumps(list(seeds)).encode()).hexdigest()[:10]
    folder = results_dir / "records" / config.config_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"seeds-{key}.parquet"


def trial_status(trials: Path, config: TrainConfig) -> str | None:
    info = trials / f"{config.config_id}.json"
    return json.loads(info.read_text())["status"] if info.exists() else None


@contextmanager
def exclusive(results_dir: Path):
    """Only one sweep writes into a results folder at a time."""
    with open(results_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another sweep is writing into {str(results_dir)!r}; wait for it to finish") from None
        yield


def check_same_grid(results_dir: Path, grid: Grid) -> None:
    """Refuse to mix the results of two grid definitions, or of two versions of the code,
    in one folder."""
    stored = results_dir / "grid.toml"
    if stored.exists() and stored.read_text() != grid.text:
        raise UsageError(f"{str(results_dir)!r} holds results of a different definition of grid {grid.name!r};"
                         " move them away or sweep into another --results folder")
    current = versions()
    for info_path in sorted((results_dir / "trials").glob("*.json")):
        info = json.loads(info_path.read_text())
        made_by = {key: info.get(key) for key in ("grpo_version", "git_commit")}
        if made_by != {key: current[key] for key in made_by}:
            raise UsageError(f"{str(results_dir)!r} holds results made by grpo {made_by['grpo_version']} at commit"
                             f" {made_by['git_commit']}, not by this code ({current['grpo_version']} at"
                             f" {current['git_commit']}); move them away or sweep into another --results folder")


def run_sweep(grid: str, results_root: Path = Path("results"), *, address: str | None = None,
              progress: bool = True, num_cpus: int | None = None) -> SweepOutcome:
    """Run every configuration of `grid` that is not done yet; merge all records."""
    spec = load_grid(grid)
    configs = spec.configs()
    results_dir = Path(results_root).resolve() / spec.name
    check_writable_dir(results_dir / "trials")
    with exclusive(results_dir):
        for stale in [*results_dir.glob(".*.tmp"), *(results_dir / "trials").glob(".*.tmp"),
                      *(results_dir / "records").glob("*/.*.tmp")]:
            stale.unlink()  # a write cut off by a killed sweep; its target was never replaced
        check_same_grid(results_dir, spec)
        write_atomic(results_dir / "grid.toml", lambda tmp: tmp.write_text(spec.text))
        pending = [config for config in configs if trial_status(results_dir / "trials", config) != "ok"]
        if pending:
            run_tuner(spec, pending, results_dir, address, progress, num_cpus)
        failed, missing = merge(spec, configs, results_dir)
    return SweepOutcome(results_dir, len(pending) - len(missing), len(configs) - len(pending), failed, missing)


def start_local_ray(num_cpus: int | None) -> None:
    """A Ray runtime for this machine alone: every server on loopback, no dashboard."""
    # Ray binds its servers to the node's IP; with "clusters" off that IP is loopback. Ray
    # reads the variable when it is first imported, so it is set before the import.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)


def run_tuner(spec: Grid, pending: list[TrainConfig], results_dir: Path, address, progress, num_cpus) -> None:
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # no per-trial CSV/JSON/TensorBoard files
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # no experiment banner: our progress bar is the display
    if address is None:
        start_local_ray(num_cpus)
    import ray
    from ray import tune

    from grpo.sweep_progress import ProgressCallback

    if address is not None:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        tuner = tune.Tuner(
            tune.with_resources(run_trial, {"cpu": 1}),
            param_space={
                "config": tune.grid_search([config.as_dict() for config in pending]),
                "seeds": list(spec.seeds),
                "trials_dir": str(results_dir / "trials"),
                "versions": versions(),
                "in_process_modes": pack_in_process_modes(),
            },
            tune_config=tune.TuneConfig(reuse_actors=True),
            run_config=tune.RunConfig(name=f"sweep-{int(time.time())}", storage_path=str(results_dir / "ray"),
                                      verbose=0, callbacks=[ProgressCallback(len(pending), enabled=progress)]),
        )
        tuner.fit()
    finally:
        ray.shutdown()


def merge(spec: Grid, configs: list[TrainConfig], results_dir: Path) -> tuple[list[str], list[str]]:
    """Rebuild runs.parquet from the trial files.
    Returns the failed configurations ("config_id: error") and the missing ones (config_id)."""
    trials = results_dir / "trials"
    runs, failed, missing = [], [], []
    for config in configs:
        info_path = trials / f"{config.config_id}.json"
        if not info_path.exists():  # not run yet, or its trial was interrupted
            missing.append(config.config_id)
            info = {"config_id": config.config_id, "config": config.as_dict(), "seeds": list(spec.seeds),
                    "status": "missing", "error": None, "wall_s": None}
        else:
            info = json.loads(info_path.read_text())
        diverged_at = {}
        if info["status"] == "ok":
            path = records_path(results_dir, config, info["seeds"])
            diverged_at = first_diverged_steps(pd.read_parquet(path, columns=["seed", "step", "diverged"]))
        elif info["status"] == "failed":
            failed.append(f"{config.config_id}: {info['error']}")
        run = {key: value for key, value in info.items() if key not in ("config", "seeds")}
        for seed in info["seeds"]:
            status = "diverged" if seed in diverged_at else run["status"]
            runs.append({**run, **info["config"], "seed": seed, "status": status, "diverged_step": diverged_at.get(seed)})
    run_columns = ["config_id", *configs[0].as_dict(), "seed", "status", "diverged_step", "error", "wall_s", *versions()]
    write_parquet_atomic(pd.DataFrame(runs).reindex(columns=run_columns), results_dir / "runs.parquet")
    return failed, missing
