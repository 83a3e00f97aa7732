"""The modules that moved when the package split into subpackages (0.1.0's fourth round), still
importable under their old paths for one more release: ``import grpo.losses`` gives
grpo.modes.losses itself, with a FutureWarning naming the new path (optuna's ``optuna/structs.py``
does the same for one module; here one table serves every move). CHANGELOG.md carries the table.

`grpo.train` is left out: it is the training function (``grpo.train(config, seeds)``) and its old
module is grpo.core.train. `grpo.report`, `grpo.sweep` and `grpo.tasks` are packages now; their
old modules' public names are their packages' public names."""

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {  # old module -> where it lives now
    "grpo.aggregation": "grpo.modes.aggregation",
    "grpo.bench_report": "grpo.report.bench",
    "grpo.claims": "grpo.report.claims",
    "grpo.config": "grpo.core.config",
    "grpo.deltas": "grpo.modes.deltas",
    "grpo.devices": "grpo.core.devices",
    "grpo.fits": "grpo.report._fits",
    "grpo.footprint": "grpo.core.footprint",
    "grpo.grids": "grpo.experiment.grids",
    "grpo.io": "grpo.files",
    "grpo.logprob": "grpo.core.logprob",
    "grpo.losses": "grpo.modes.losses",
    "grpo.model": "grpo.core.seed_model",
    "grpo.optim": "grpo.core.optim",
    "grpo.policies": "grpo.core.policies",
    "grpo.provenance": "grpo.experiment.provenance",
    "grpo.ray_runtime": "grpo.sweep.runtime",
    "grpo.records": "grpo.experiment.results",
    "grpo.registry": "grpo.modes.registry",
    "grpo.report_compute": "grpo.report.grid",
    "grpo.report_data": "grpo.report",
    "grpo.rewards": "grpo.modes.rewards",
    "grpo.seeds": "grpo.core.seeds",
    "grpo.sequence_rewards": "grpo.modes.sequence_rewards",
    "grpo.sequences": "grpo.tasks.sequences",
    "grpo.stats": "grpo.report._stats",
    "grpo.sweep_progress": "grpo.sweep.progress",
    "grpo.sweep_store": "grpo.experiment.store",
    "grpo.transformer": "grpo.core.transformer",
    "grpo.uniforms": "grpo.core.uniforms",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path of MOVED and loads it as the module at its new path, with a FutureWarning."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec) -> None:
        """The default: a blank module, replaced by the one at the new path in exec_module."""

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        warnings.warn(f"{old} moved to {MOVED[old]}; import it from there ({old} goes in the next release)",
                      FutureWarning, stacklevel=2)  # the import machinery's frames skipped: the importing line
        sys.modules[old] = importlib.import_module(MOVED[old])  # what the import statement returns, as for a module
        # that replaces itself in sys.modules


def install() -> None:
    """Put the finder of old paths last on sys.meta_path (once): a module that exists is found first."""
    if not any(isinstance(finder, _Moved) for finder in sys.meta_path):
        sys.meta_path.append(_Moved())
