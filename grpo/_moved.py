"""The modules that moved when the package split into subpackages (in 0.1.0), still
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

MOVED = {  # old module (its name under the package) -> where it lives now
    "aggregation": "grpo.modes.aggregation",
    "bench_report": "grpo.report.bench",
    "claims": "grpo.report.claims",
    "config": "grpo.core.config",
    "deltas": "grpo.modes.deltas",
    "devices": "grpo.core.devices",
    "fits": "grpo.report._fits",
    "footprint": "grpo.core.footprint",
    "grids": "grpo.experiment.grids",
    "io": "grpo.files",
    "logprob": "grpo.core.logprob",
    "losses": "grpo.modes.losses",
    "model": "grpo.core.seed_model",
    "optim": "grpo.core.optim",
    "policies": "grpo.core.policies",
    "provenance": "grpo.experiment.provenance",
    "ray_runtime": "grpo.sweep.runtime",
    "records": "grpo.experiment.results",
    "registry": "grpo.modes.registry",
    "report_compute": "grpo.report.grid",
    "report_data": "grpo.report",
    "rewards": "grpo.modes.rewards",
    "seeds": "grpo.core.seeds",
    "sequence_rewards": "grpo.modes.sequence_rewards",
    "sequences": "grpo.tasks.sequences",
    "stats": "grpo.report._stats",
    "sweep_progress": "grpo.sweep.progress",
    "sweep_store": "grpo.experiment.store",
    "transformer": "grpo.core.transformer",
    "uniforms": "grpo.core.uniforms",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path of MOVED and loads it as the module at its new path, with a FutureWarning."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, old = fullname.partition(".")
        if package != "grpo" or old not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec) -> None:
        """The default: a blank module, replaced by the one at the new path in exec_module."""

    def exec_module(self, module: ModuleType) -> None:
        old, new = module.__name__, MOVED[module.__name__.partition(".")[2]]
        warnings.warn(f"{old} moved to {new}; import it from there ({old} goes in the next release)",
                      FutureWarning, stacklevel=2)  # the import machinery's frames skipped: the importing line
        sys.modules[old] = importlib.import_module(new)  # what the import statement returns, as for a module
        # that replaces itself in sys.modules


def install() -> None:
    """Put the finder of old paths last on sys.meta_path (once): a module that exists is found first."""
    if not any(isinstance(finder, _Moved) for finder in sys.meta_path):
        sys.meta_path.append(_Moved())
