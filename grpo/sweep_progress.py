"""A compact sweep progress bar (configurations done / total, elapsed, ETA) in place of
Ray Tune's per-trial status tables."""

from ray import tune
from tqdm import tqdm


class ProgressCallback(tune.Callback):
    def __init__(self, total: int, enabled: bool = True):
        self.bar = tqdm(total=total, desc="configurations", unit="config", disable=not enabled)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.bar.update()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.bar.update()

    def on_experiment_end(self, trials, **info):
        self.bar.close()
