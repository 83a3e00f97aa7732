"""The sweep's view of Tune's events: a compact progress display (configurations done / total,
elapsed, ETA; a bar on a terminal, lines in a log: grpo.progress) in place of Tune's status
tables, and trials Tune gave up on (their worker or node lost beyond the retries) recorded as
failed with their error, never left silently missing."""

from pathlib import Path

from ray import tune

from grpo.core.config import TrainConfig
from grpo.experiment.store import trial_info, write_trial
from grpo.progress import Progress


class ProgressAndLostTrials(tune.Callback):
    """Tune's trial events: progress, and the run info of each trial Tune gave up on."""

    def __init__(self, total: int, results_dir: Path, enabled: bool = True):
        self.results_dir = results_dir
        self.bar = Progress(total, "configurations", "config", enabled=enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.bar.close()

    def __getstate__(self):
        """Tune pickles its callbacks with the experiment's state: the copy shows nothing (the
        display holds the terminal's stream, which does not pickle)."""
        return {"results_dir": self.results_dir, "total": self.bar.total}

    def __setstate__(self, state):
        self.results_dir = state["results_dir"]
        self.bar = Progress(state["total"], "configurations", "config", enabled=False)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.bar.update(len(trial.config["trial"]["configs"]))

    def on_trial_error(self, iteration, trials, trial, **info):
        record_lost_trial(trial.config["trial"], error_line(trial.error_file), self.results_dir)
        self.bar.update(len(trial.config["trial"]["configs"]))


def record_lost_trial(task: dict, error: str, results_dir: Path) -> None:
    """Write the run info of each configuration of a trial whose process died (no records):
    "failed" with `error`."""
    for values in task["configs"]:
        config = TrainConfig(**values)
        info = trial_info(config, task["seeds"], "failed", f"trial lost: {error}")
        write_trial(results_dir, config, task["seeds"], None, info)


def error_line(error_file: str | None) -> str:
    """The last line of a Tune error file: the exception and its message."""
    try:
        lines = [line for line in Path(error_file).read_text().splitlines() if line.strip()] if error_file else []
    except OSError:
        lines = []
    return lines[-1].strip() if lines else "its worker died"
