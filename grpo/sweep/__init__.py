"""Ray: a grid swept into a results folder (run_sweep) on a private runtime or a joined cluster.
Public names load on first use.
"""

from typing import TYPE_CHECKING

from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.sweep.run import SweepOutcome, run_sweep

_PUBLIC = {  # module -> its public names
    "grpo.sweep.run": ("SweepOutcome", "run_sweep"),
}
__all__ = ["SweepOutcome", "run_sweep"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
