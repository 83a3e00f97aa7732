"""Run a grid under Ray Tune: one trial per group of configurations that differ only in numbers
(grpo.core.group; most configurations are a group of one), the seeds they lack stacked.

The results folder (layout and trust rules: grpo.experiment.store) is keyed by (configuration,
seed). A sweep trains only the pairs of its grid that no trusted trial holds: re-running a
finished sweep trains nothing, more seeds train only the new seeds, more axis values only the
new configurations (a sensitivity value: only its new cell), a narrower grid reuses what it
needs. A grid with [tuning] trains in two phases (see train_phases). Then it rebuilds runs.parquet.

Trials go to Tune in batches (16 trials per CPU of the runtime, at least 100), so that
Tune's bookkeeping (which grows with the square of an experiment's trials) stays small for grids
of any size, and an interrupt
(Ctrl-C, SIGTERM) is acted on within seconds: the running trials stop, nothing more is
submitted, finished trials are kept, and the re-run completes the rest.
"""

import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from grpo.core.config import TrainConfig
from grpo.core.footprint import available_bytes, group_bytes, records_bytes
from grpo.core.group import group_key
from grpo.errors import UsageError
from grpo.experiment.bases import ensure_bases, stored_bases
from grpo.experiment.completeness import Gap, study_gaps
from grpo.experiment.grids import Grid, load_grid
from grpo.experiment.layout import GRID_FILE
from grpo.experiment.provenance import code_fingerprint
from grpo.experiment.results import FINISHED, open_results
from grpo.experiment.store import exclusive, few, holds_lock, scan, trial_info, write_runs, write_trial
from grpo.experiment.tuning import objective_table, select, tuned_cell, tuning_success
from grpo.files import check_writable_dir, write_atomic
from grpo.modes.catalogue import pack_in_process_modes, unpack_in_process_modes
from grpo.sweep.runtime import Driver, check_plugins, cluster_address, ray_runtime, scratch_dir

BATCH_PER_CPU = 16  # trials per Tune experiment and CPU of the runtime: every CPU busy to the end
MIN_BATCH = 100  # the presets smoke and full in one experiment
MAX_FAILURES = 2  # retries of a trial whose worker or node was lost (not of a configuration that raises)
TRIAL_BYTES = 2**30  # the most memory (grpo.core.footprint) a group may take as one trial; larger groups are cut
Plan = list[tuple[TrainConfig, tuple[int, ...]]]  # (configuration, seeds) to train: grpo.experiment.grids.Grid.plan
Tuned = dict[str, TrainConfig]  # the tuned cell: default config_id -> its arm's choice (grpo.experiment.tuning.tuned_cell)


@dataclass
class SweepOutcome:
    results_dir: Path
    trials: int  # trials that ended in this call (one per group of configurations with the same seeds to train)
    trained: int  # runs (configuration x seed) trained by this call
    reused: int  # runs of the grid already done before it
    failed: list[str] = field(default_factory=list)  # "config_id: error" of each failed configuration
    missing: list[str] = field(default_factory=list)  # config_ids with runs not done (interrupted)
    damaged: list[str] = field(default_factory=list)  # "config_id (reason)" of each trial found damaged
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM
    gaps: list[Gap] = field(default_factory=list)  # what a report of the study lacks (grpo.experiment.completeness)


def run_sweep(grid: str, results_root: Path = Path("results"), *, address: str | None = None, progress: bool = True,
              num_cpus: int | None = None, notify=None, vary: dict[str, list] | None = None) -> SweepOutcome:
    """Train every (configuration, seed) of `grid` not done yet in results_root/<grid>/; rebuild
    runs.parquet. `address` (or RAY_ADDRESS) joins a cluster, else a private runtime runs.
    `notify(line)` tells about damaged results found (default: stderr). `vary` adds sensitivity
    values (``--vary``). A grid with a [tuning] table runs in two phases (``train_phases``).

    The steps: the grid planned and checked before anything is written; under the folder's lock,
    its trials scanned (``SweepCall``), the phases trained, runs.parquet and the grid file written;
    then what this call did, counted (``sweep_outcome``)."""
    notify = notify or (lambda line: print(line, file=sys.stderr))
    spec = load_grid(grid, vary)
    plan = spec.plan()  # every cell and candidate validated before anything is written
    check_records_fit(plan)
    results_dir = Path(results_root).resolve() / spec.name
    check_writable_dir(results_dir)
    address = cluster_address(address)
    with exclusive(results_dir) as sweep_id:
        call = SweepCall(results_dir, sweep_id, address, num_cpus, progress)
        if call.damaged:
            notify(f"retraining {len(call.damaged)} damaged trial(s): {few(call.damaged)}")
        plan, tuned, interrupted = train_phases(call, spec, plan)
        runs = write_runs(results_dir, spec, plan, call.found)
        # the folder's grid from now on: written with the runs it describes, never before its training (a
        # sweep killed mid-growth leaves the last finished grid and its runs, which the report then shows)
        write_atomic(results_dir / GRID_FILE, lambda tmp: tmp.write_text(spec.text))
    return sweep_outcome(spec, runs, call, tuned, interrupted)


class SweepCall:
    """One call's training of a results folder: what the folder holds (``found``, rescanned after
    each phase), the damaged trials found on the way, the runs this call tried (each once, failed
    or not) and its trials, and the scratch folder and Ray runtime that the first phase with work
    starts (``runtime``: closed when the phases end)."""

    def __init__(self, results_dir: Path, sweep_id: str, address: str | None, num_cpus: int | None, progress: bool):
        self.results_dir, self.sweep_id, self.address, self.num_cpus, self.progress = (
            results_dir, sweep_id, address, num_cpus, progress)
        self.found = scan(results_dir, code_fingerprint())
        self.damaged: list[str] = list(self.found.damaged)  # "config_id (reason)", every scan's
        self.attempted: set[tuple[str, int]] = set()  # (config_id, seed) trained by this call
        self.trained: list[tuple[list[TrainConfig], tuple[int, ...]]] = []  # the trials (groups, seeds) this call ran
        self.runtime = ExitStack()  # the scratch folder and Ray runtime
        self.driver: Driver | None = None
        self.tune_dir: Path | None = None

    def rescan(self) -> None:
        self.found = scan(self.results_dir, code_fingerprint())
        self.damaged += self.found.damaged

    def train_missing(self, plan: Plan) -> None:
        """Train the (configuration, seeds) of `plan` that no trusted trial holds and this call
        has not tried (a candidate that failed in phase one is not trained again in phase two)."""
        work = [(config, lacking) for config, seeds in plan
                if (lacking := tuple(s for s in seeds if s not in self.found.done_seeds(config.config_id)
                                     and (config.config_id, s) not in self.attempted))]
        if not work:
            return
        self.attempted.update((config.config_id, seed) for config, seeds in work for seed in seeds)
        if self.driver is None or self.tune_dir is None:  # the first phase with work
            scratch = self.runtime.enter_context(scratch_dir())
            self.driver = self.runtime.enter_context(ray_runtime(self.address, self.num_cpus, self.results_dir, scratch))
            self.tune_dir = scratch / "tune"
        ensure_bases(self.results_dir, work)  # each seed's warm-start base trained once, here, before the trials share it
        groups = trial_groups(work)
        self.trained.extend(groups)
        self.driver.run(run_trials, groups, self.results_dir, self.sweep_id, self.tune_dir, self.progress)
        self.rescan()


def train_phases(call: SweepCall, spec: Grid, plan: Plan) -> tuple[Plan, Tuned | None, bool]:
    """Phase one trains `plan`: the cells on the evaluation seeds and, with a [tuning] table, the
    candidates on the tuning seeds; phase two, each arm's choice (``tuned_choice``) on the
    evaluation seeds. Ctrl-C stops them: finished trials are kept, the re-run trains the rest.
    Returns the plan of the last phase begun, the tuned cell (None before it is chosen), and
    whether the phases were interrupted."""
    tuned = None
    try:
        with call.runtime:
            call.train_missing(plan)
            if spec.tuning:
                tuned = tuned_choice(call, spec, plan)
                plan = spec.plan(tuned)
                call.train_missing(plan)
    except KeyboardInterrupt:
        call.rescan()
        return plan, tuned, True
    return plan, tuned, False


def tuned_choice(call: SweepCall, spec: Grid, plan: Plan) -> Tuned:
    """Phase one scored: its runs written, each arm's choice among the candidates by their success
    on the tuning seeds (grpo.experiment.tuning), as the cell phase two trains."""
    write_runs(call.results_dir, spec, plan, call.found)
    success = tuning_success(open_results(call.results_dir), spec)
    return tuned_cell(spec, select(objective_table(success, spec), spec))


def sweep_outcome(spec: Grid, runs: pd.DataFrame, call: SweepCall, tuned: Tuned | None,
                  interrupted: bool) -> SweepOutcome:
    """What this call did, from runs.parquet's rows (`runs`): the runs it trained and finished
    (each counted once), those it reused, its trials that ended, the failed and missing
    configurations, and what a report of the study lacks."""
    done = runs.status.isin(FINISHED)
    here = pd.Series([(config_id, seed) in call.attempted for config_id, seed in zip(runs.config_id, runs.seed)],
                     index=runs.index)
    trained_runs = int((done & here).sum())
    failed = runs[runs.status == "failed"].drop_duplicates("config_id")
    missing = runs.config_id[runs.status == "missing"].drop_duplicates().tolist()
    trials = sum(not {config.config_id for config in configs} & set(missing) for configs, _ in call.trained)
    gaps = study_gaps(spec, runs, tuned) if spec.tuning or spec.sensitivity else []
    return SweepOutcome(call.results_dir, trials, trained_runs, int((done & ~here).sum()),
                        [f"{row.config_id}: {row.error}" for row in failed.itertuples()],
                        missing, call.damaged, interrupted, gaps)


def check_records_fit(plan: Plan) -> None:
    """UsageError, before any trial, for a configuration whose runs' records alone (held in memory
    until written: grpo.core.footprint.records_bytes) exceed this machine's available memory:
    `epochs 1000000000` would otherwise fail in every trial after Ray has started."""
    available = available_bytes("cpu")
    if available is None:  # not known here: each trial checks its node's
        return
    too_large = [(config, seeds) for config, seeds in plan if records_bytes(config, len(seeds)) > available]
    if too_large:
        config, seeds = max(too_large, key=lambda item: records_bytes(item[0], len(item[1])))
        raise UsageError(f"epochs {config.epochs} x steps_per_epoch {config.steps_per_epoch} x {len(seeds)} seed(s): the"
                         f" records alone need about {records_bytes(config, len(seeds)) / 2**30:,.0f} GiB of memory, this"
                         f" machine has {available / 2**30:,.1f} GiB available ({len(too_large)} configuration(s) of the"
                         " grid); ask for fewer epochs or steps")


def trial_groups(work: Plan) -> list[tuple[list[TrainConfig], tuple[int, ...]]]:
    """The sweep's (configuration, seeds to train) pairs as trials: configurations that may train
    as one group (grpo.core.group.group_key) and lack the same seeds train as one, cut so that a
    trial's estimated memory stays within TRIAL_BYTES (a configuration that alone needs more is a
    trial of its own). In the order of `work`."""
    grouped: dict[tuple, list[TrainConfig]] = {}
    for config, seeds in work:
        grouped.setdefault((group_key(config), seeds), []).append(config)
    trials = []
    for (_, seeds), configs in grouped.items():
        task = configs[0].make_task()
        size = 1
        while size < len(configs) and group_bytes(configs[:size + 1], task, len(seeds)) <= TRIAL_BYTES:
            size += 1
        trials += [(configs[first:first + size], seeds) for first in range(0, len(configs), size)]
    return trials


def run_trial(params: dict) -> None:
    """Ray Tune trainable: train a group of configurations with the given seeds stacked
    (grpo.core.train.train_group_columns) and write each one's trial files, unless the sweep that
    started it is gone (an orphaned worker writes nothing). A group that raises is a result
    (each configuration "failed" with its error): the grid goes on. Each configuration's run
    info holds the group's wall time and names the group's configurations (``group``)."""
    import ray
    import torch
    from ray import tune

    from grpo.core.train import train_group_columns

    unpack_in_process_modes(params["in_process_modes"])  # entry-point plugins are found here as in the driver
    configs, seeds = [TrainConfig(**config) for config in params["trial"]["configs"]], params["trial"]["seeds"]
    results_dir = Path(params["results_dir"])
    start = time.perf_counter()
    records = [None] * len(configs)
    needed, available = group_bytes(configs, configs[0].make_task(), len(seeds)), available_bytes(torch.device("cpu"))
    if code_fingerprint() != params["code_fingerprint"]:
        status, error = "failed", f"this node runs grpo code {code_fingerprint()}, the driver {params['code_fingerprint']}"
    elif available is not None and needed > available:  # refused before any allocation, as grpo train refuses it
        status, error = "failed", (f"needs about {needed / 2**30:,.0f} GiB of memory, this node has {available / 2**30:,.1f}"
                                   " GiB available; ask for smaller sizes")
    else:
        try:
            records = [pd.DataFrame(columns)  # the metrics: write_records adds the fields as constant columns
                       for columns in train_group_columns(configs, seeds, bases=stored_bases(results_dir))]
            status, error = "ok", None
        except Exception as exception:  # noqa: BLE001 - any failure of a configuration is its result
            status, error = "failed", f"{type(exception).__name__}: {exception}".splitlines()[0]
    wall_s = time.perf_counter() - start
    node = f"{ray.util.get_node_ip_address()} {ray.get_runtime_context().get_node_id()[:8]}"
    group = [config.config_id for config in configs]
    if holds_lock(results_dir, params["sweep_id"]):
        for config, config_records in zip(configs, records, strict=True):
            info = trial_info(config, seeds, status, error, wall_s, node) | {"group": group}
            write_trial(results_dir, config, seeds, config_records, info)
    tune.report({"ok": status == "ok"})


def run_trials(groups: list[tuple[list[TrainConfig], tuple[int, ...]]], results_dir: Path, sweep_id: str, tune_dir: Path,
               progress: bool) -> None:
    """Run the trials (``trial_groups``) in Tune experiments of a few trials per CPU each. Ctrl-C (and SIGTERM, which
    the CLI turns into one) raises KeyboardInterrupt here: the runtime's shutdown then stops the
    running trials, and what finished is kept."""
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # no per-trial CSV/JSON/TensorBoard files
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # no experiment banner: our progress bar is the display
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C stops the sweep at once, not "gracefully"
    import ray
    from ray import tune

    from grpo.sweep.progress import ProgressAndLostTrials

    in_process_modes = pack_in_process_modes()
    common = {"results_dir": str(results_dir), "sweep_id": sweep_id, "code_fingerprint": code_fingerprint(),
              "in_process_modes": in_process_modes}
    check_plugins([config for configs, _ in groups for config in configs], in_process_modes)
    total = sum(len(configs) for configs, _ in groups)
    with ProgressAndLostTrials(total, results_dir, enabled=progress) as progress_bar:
        size = max(MIN_BATCH, BATCH_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        for start in range(0, len(groups), size):
            batch = [{"configs": [config.as_dict() for config in configs], "seeds": list(seeds)}
                     for configs, seeds in groups[start:start + size]]
            tune.Tuner(
                tune.with_resources(run_trial, {"cpu": 1}),
                param_space={"trial": tune.grid_search(batch), **common},
                tune_config=tune.TuneConfig(reuse_actors=True),
                run_config=tune.RunConfig(name=f"batch-{start // size}", storage_path=str(tune_dir), verbose=0,
                                          callbacks=[progress_bar],
                                          failure_config=tune.FailureConfig(max_failures=MAX_FAILURES)),
            ).fit()
